import Foundation

/// The binomial distribution `Bin(n, p)`: the number of successes in `n` independent trials of
/// success probability `p`. Exact tail sums (no normal approximation) for the sign test
/// (``SignTest``) and the order-statistic interval of a median (``OrderStatisticInterval``).
///
/// Every term is formed in log space,
/// `log P(X = j) = log C(n, j) + j log p + (n-j) log(1-p)`, with
/// `log C(n, j) = -log(n+1) - log B(n-j+1, j+1)` (`C(n, j) = 1 / ((n+1) B(n-j+1, j+1))`) and the
/// log-beta of ``StudentT/logBeta(_:_:)``, which stays accurate for large arguments (no
/// difference of two large `lgamma` values). A tail is summed as
/// `log sum_j e^{l_j} = m + log sum_j e^{l_j - m}`, `m` the largest `l_j`, so terms far below
/// the smallest positive double (`2^-5000`, say) neither underflow nor get lost while they
/// matter, and the logarithm of a tail is available when the tail itself underflows.
///
/// Accuracy: each `log C(n, j)` carries an absolute rounding error of about
/// `1e-16 · n log n`, so tails are exact up to about 1e-13 relative for `n` up to a few thousand
/// (checked against exact rational sums in the tests). Cost: three `lgamma` calls per term of
/// the tail asked for.
public enum Binomial {
    /// `log P(X = k)`; `-inf` outside `0...n`.
    /// - Precondition: `n >= 0`, `0 <= p <= 1`.
    public static func logPMF(_ k: Int, trials n: Int, probability p: Double) -> Double {
        check(n, p)
        guard k >= 0 && k <= n else { return -.infinity }
        // p = 0 or 1: the distribution is a point mass (and 0 * log 0 would be NaN).
        if p == 0 { return k == 0 ? 0 : -.infinity }
        if p == 1 { return k == n ? 0 : -.infinity }
        let logChoose = -log(Double(n + 1)) - StudentT.logBeta(Double(n - k + 1), Double(k + 1))
        return logChoose + Double(k) * log(p) + Double(n - k) * log1p(-p)
    }

    /// `log P(X <= k)`: `-inf` for `k < 0`, `0` for `k >= n`.
    public static func logCDF(_ k: Int, trials n: Int, probability p: Double) -> Double {
        check(n, p)
        if k < 0 { return -.infinity }
        if k >= n { return 0 }
        return logSum(0...k, n, p)
    }

    /// `P(X <= k)`.
    public static func cdf(_ k: Int, trials n: Int, probability p: Double) -> Double {
        exp(logCDF(k, trials: n, probability: p))
    }

    /// `log P(X >= k)`: `0` for `k <= 0`, `-inf` for `k > n`.
    public static func logSurvival(atLeast k: Int, trials n: Int, probability p: Double) -> Double {
        check(n, p)
        if k <= 0 { return 0 }
        if k > n { return -.infinity }
        return logSum(k...n, n, p)
    }

    /// `P(X >= k)`, summed over the terms `k...n` themselves (so a small upper tail keeps its
    /// relative precision instead of being `1 - P(X <= k-1)`).
    public static func survival(atLeast k: Int, trials n: Int, probability p: Double) -> Double {
        exp(logSurvival(atLeast: k, trials: n, probability: p))
    }

    /// `log sum_{j in range} P(X = j)` by the shifted log-sum-exp above.
    static func logSum(_ range: ClosedRange<Int>, _ n: Int, _ p: Double) -> Double {
        let terms = range.map { logPMF($0, trials: n, probability: p) }
        let m = terms.max()!
        guard m > -.infinity else { return -.infinity }
        var total = NeumaierSum()
        for l in terms { total.add(exp(l - m)) }
        return m + log(total.value)
    }

    private static func check(_ n: Int, _ p: Double) {
        precondition(n >= 0, "Binomial: the number of trials must be >= 0, got \(n)")
        precondition(p >= 0 && p <= 1, "Binomial: the probability must lie in [0, 1], got \(p)")
    }
}
