import Foundation

/// The exact, distribution-free confidence interval of a median from order statistics: which
/// pair `(x_(k), x_(n+1-k))` of a sample of `n` to report, and the probability that it covers
/// the population median.
///
/// For `n` independent draws from a distribution with median `m`, the number `B` of draws below
/// `m` is `Bin(n, 1/2)` (for a continuous distribution). `x_(k) <= m` exactly when `B >= k`, and
/// `m <= x_(n+1-k)` exactly when `B <= n-k`, so
///
///     P(x_(k) <= m <= x_(n+1-k)) = P(k <= B <= n-k) = 1 - 2 P(B <= k-1)
///
/// by the symmetry of `Bin(n, 1/2)`. No distributional assumption enters; for a distribution
/// with atoms (integer iteration times, ties) the closed interval covers `m` with at least this
/// probability. The coverage takes only the values `1 - 2 P(B <= k-1)`, `k = 1, 2, ...`, so a
/// requested level is in general not attainable exactly: the interval chosen is the narrowest
/// pair (largest `k`) whose coverage is **at least** the level, and its **actual** coverage is
/// reported (for `n = 10` at 0.95: `k = 2`, `(x_(2), x_(9))`, coverage `1 - 22/1024 =
/// 0.978515625`; `k = 3` would cover only `1 - 112/1024 = 0.890625`).
///
/// The widest pair, `k = 1`, covers with `1 - 2^(1-n)`; when that is below the level (`n <= 5`
/// at 0.95: `1 - 2^-4 = 0.9375`) no interval exists and the initialiser returns `nil` — a
/// narrower "interval" would claim a coverage it does not have.
///
/// Coverages are compared to the level with an absolute slack of `1e-12` (``comparisonSlack``),
/// far above the binomial tail's rounding (about 1e-13 relative) and far below the spacing of
/// attainable coverages (multiples of `2^(1-n)`), so that a level equal to an attainable
/// coverage (0.9375 at `n = 5`) is met despite rounding.
public struct OrderStatisticInterval: Hashable, Sendable {
    /// The sample size `n`.
    public var sampleSize: Int
    /// The requested level.
    public var level: Double
    /// `k` (1-based): the interval's lower end is the `k`-th smallest value.
    public var lowerRank: Int
    /// `n + 1 - k` (1-based): the interval's upper end is the `(n+1-k)`-th smallest value.
    public var upperRank: Int
    /// `1 - 2 P(Bin(n, 1/2) <= k-1)`, at least ``level``.
    public var coverage: Double

    /// See the type's documentation.
    public static let comparisonSlack = 1e-12

    /// The narrowest pair whose coverage reaches `level`, or `nil` when none does (including
    /// `n == 0`).
    /// - Precondition: `n >= 0`, `0 < level < 1`.
    public init?(sampleSize n: Int, level: Double) {
        precondition(n >= 0, "OrderStatisticInterval: sample size must be >= 0, got \(n)")
        precondition(level > 0 && level < 1, "OrderStatisticInterval: level must lie in (0, 1), got \(level)")
        guard n >= 1, Self.reaches(Self.coverage(lowerRank: 1, sampleSize: n), level) else { return nil }
        // coverage(k) decreases in k; find the largest k <= (n+1)/2 that still reaches the level.
        var good = 1, bad = (n + 1) / 2 + 1
        while bad - good > 1 {
            let mid = (good + bad) / 2
            if Self.reaches(Self.coverage(lowerRank: mid, sampleSize: n), level) { good = mid } else { bad = mid }
        }
        sampleSize = n
        self.level = level
        lowerRank = good
        upperRank = n + 1 - good
        coverage = Self.coverage(lowerRank: good, sampleSize: n)
    }

    /// `1 - 2 P(Bin(n, 1/2) <= k-1)`, the coverage of `(x_(k), x_(n+1-k))`.
    /// - Precondition: `1 <= k <= (n+1)/2`.
    public static func coverage(lowerRank k: Int, sampleSize n: Int) -> Double {
        precondition(k >= 1 && 2 * k <= n + 1, "OrderStatisticInterval: rank \(k) is not a lower rank of a sample of \(n)")
        return 1 - 2 * Binomial.cdf(k - 1, trials: n, probability: 0.5)
    }

    /// The smallest `n` for which an interval at `level` exists: the least `n` with
    /// `1 - 2^(1-n) >= level` (6 at 0.95, 8 at 0.99).
    public static func minimumSampleSize(level: Double) -> Int {
        precondition(level > 0 && level < 1, "OrderStatisticInterval: level must lie in (0, 1), got \(level)")
        var n = 1
        while !reaches(coverage(lowerRank: 1, sampleSize: n), level) { n += 1 }
        return n
    }

    /// The interval's ends on a sample sorted ascending (`x_(k)`, `x_(n+1-k)`).
    /// - Precondition: `sorted.count == sampleSize`.
    public func ends(sorted: [Double]) -> (low: Double, high: Double) {
        precondition(sorted.count == sampleSize, "OrderStatisticInterval: \(sorted.count) values for a sample of \(sampleSize)")
        return (sorted[lowerRank - 1], sorted[upperRank - 1])
    }

    static func reaches(_ coverage: Double, _ level: Double) -> Bool {
        coverage >= level - comparisonSlack
    }
}
