import Foundation
import RegimeCore

/// The sample median of values known exactly or only within bounds (censored values), with the
/// exact order-statistic confidence interval of ``OrderStatisticInterval`` and its actual
/// coverage.
///
/// Each of the `n` values is given as an interval `[lo_i, hi_i]` that contains it: `[x, x]` for
/// a measured value, `[T, inf]` for a time known only to be later than the end of the run `T`,
/// `[0, t_w/T]` for a ratio whose denominator is censored, `[0, inf]` when nothing is known.
/// The sample median (the middle order statistic, or the mean of the two middle ones for even
/// `n`, as ``Bootstrap/median(_:)``) is non-decreasing in every value, so over all samples
/// consistent with the intervals it ranges exactly over
///
///     [median(lo_1..lo_n), median(hi_1..hi_n)]     (medianLow, medianHigh),
///
/// both ends attained (all values at their lower, or all at their upper ends). ``median`` is the
/// number when the two coincide (always for measured values; for censored ones when fewer than
/// half are censored and every censored value lies beyond every measured one), else `nil`.
///
/// The confidence interval is `[lo_(k), hi_(n+1-k)]` with the ranks `(k, n+1-k)` of
/// ``OrderStatisticInterval`` for `n` and `level`: the order statistics are non-decreasing in
/// every value, so `lo_(k) <= x_(k)` and `x_(n+1-k) <= hi_(n+1-k)` for the unknown true values,
/// and the interval covers the population median with at least its stated
/// ``ConfidenceInterval/coverage``, censored or not. Fewer than
/// ``OrderStatisticInterval/minimumSampleSize(level:)`` values (6 at 0.95): no interval, and
/// ``ConfidenceInterval/unavailableReason`` says why.
///
/// JSON form: `{"n": int, "median": x|null, "median_low": x|null, "median_high": x|"inf"|null,
/// "lower_rank": int|null, "upper_rank": int|null, "interval": ConfidenceInterval}`; `null`
/// means "not available", an unbounded upper end is `inf` (the string `"inf"`, see
/// ``ConfidenceInterval``).
public struct MedianSummary: Codable, Hashable, Sendable {
    /// Number of values.
    public var n: Int
    /// The sample median when the bounds determine it (`medianLow == medianHigh`).
    public var median: Double?
    /// The smallest sample median consistent with the bounds; `nil` when `n == 0`.
    public var medianLow: Double?
    /// The largest sample median consistent with the bounds (may be `+inf`); `nil` when `n == 0`.
    public var medianHigh: Double?
    /// `k`, 1-based; `nil` without an interval.
    public var lowerRank: Int?
    /// `n + 1 - k`, 1-based; `nil` without an interval.
    public var upperRank: Int?
    /// `[lo_(k), hi_(n+1-k)]` with its actual coverage, or the reason there is none
    /// (`no_values`, `too_few_for_level`).
    public var interval: ConfidenceInterval

    /// The median of exactly known values.
    /// - Precondition: every value finite, `0 < level < 1`.
    public init(_ values: [Double], level: Double) {
        precondition(values.allSatisfy(\.isFinite), "MedianSummary: non-finite value in \(values)")
        self.init(bounds: values.map { $0...$0 }, level: level)
    }

    /// The median of values known within `bounds`.
    /// - Precondition: every lower end finite, no upper end NaN (`+inf` allowed), `0 < level < 1`.
    public init(bounds: [ClosedRange<Double>], level: Double) {
        precondition(bounds.allSatisfy { $0.lowerBound.isFinite && !$0.upperBound.isNaN },
                     "MedianSummary: a lower end must be finite and an upper end not NaN")
        precondition(level > 0 && level < 1, "MedianSummary: level must lie in (0, 1), got \(level)")
        n = bounds.count
        let lows = bounds.map(\.lowerBound).sorted()
        let highs = bounds.map(\.upperBound).sorted()
        guard n > 0 else {
            interval = ConfidenceInterval(level: level, unavailable: .noValues)
            return
        }
        let low = Bootstrap.sortedMedian(lows), high = Bootstrap.sortedMedian(highs)
        medianLow = low
        medianHigh = high
        median = low == high ? low : nil
        guard let ranks = OrderStatisticInterval(sampleSize: n, level: level) else {
            interval = ConfidenceInterval(level: level, unavailable: .tooFewForLevel)
            return
        }
        lowerRank = ranks.lowerRank
        upperRank = ranks.upperRank
        interval = ConfidenceInterval(level: level, coverage: ranks.coverage,
                                      low: ranks.ends(sorted: lows).low, high: ranks.ends(sorted: highs).high)
    }

    enum CodingKeys: String, CodingKey {
        case n, median
        case medianLow = "median_low"
        case medianHigh = "median_high"
        case lowerRank = "lower_rank"
        case upperRank = "upper_rank"
        case interval
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        n = try c.decode(Int.self, forKey: .n)
        median = try c.decodeIfPresent(Double.self, forKey: .median)
        medianLow = try c.decodeIfPresent(Double.self, forKey: .medianLow)
        medianHigh = try c.decodeIfPresent(Double.self, forKey: .medianHigh)
        lowerRank = try c.decodeIfPresent(Int.self, forKey: .lowerRank)
        upperRank = try c.decodeIfPresent(Int.self, forKey: .upperRank)
        interval = try c.decode(ConfidenceInterval.self, forKey: .interval)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(n, forKey: .n)
        try c.encodeOrNull(median, forKey: .median)
        try c.encodeOrNull(medianLow, forKey: .medianLow)
        try c.encodeOrNull(medianHigh, forKey: .medianHigh)
        try c.encodeOrNull(lowerRank, forKey: .lowerRank)
        try c.encodeOrNull(upperRank, forKey: .upperRank)
        try c.encode(interval, forKey: .interval)
    }
}
