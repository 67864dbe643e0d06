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
/// and the interval covers the population median with at least ``coverage``, censored or not.
/// Fewer than ``OrderStatisticInterval/minimumSampleSize(level:)`` values (6 at 0.95): no
/// interval, ``intervalUnavailableReason`` says why.
///
/// JSON form: `{"n": int, "median": x|null, "median_low": x|null, "median_high": x|"inf"|null,
/// "level": x, "coverage": x|null, "lower_rank": int|null, "upper_rank": int|null,
/// "ci_low": x|null, "ci_high": x|"inf"|null, "interval_unavailable_reason": "no_values"|
/// "too_few_for_level"|null}`. `null` means "not available"; an upper end that is unbounded
/// (a censored value reaches it) is `inf`, written as the string `"inf"` by the project's
/// encoder (``JSONCoding``, which reads it back as infinity).
public struct MedianSummary: Codable, Hashable, Sendable {
    /// Number of values.
    public var n: Int
    /// The sample median when the bounds determine it (`medianLow == medianHigh`).
    public var median: Double?
    /// The smallest sample median consistent with the bounds; `nil` when `n == 0`.
    public var medianLow: Double?
    /// The largest sample median consistent with the bounds (may be `+inf`); `nil` when `n == 0`.
    public var medianHigh: Double?
    /// The requested level.
    public var level: Double
    /// The interval's actual coverage (at least ``level``); `nil` without an interval.
    public var coverage: Double?
    /// `k`, 1-based.
    public var lowerRank: Int?
    /// `n + 1 - k`, 1-based.
    public var upperRank: Int?
    public var ciLow: Double?
    /// May be `+inf`.
    public var ciHigh: Double?
    /// Why there is no interval; `nil` when there is one.
    public var intervalUnavailableReason: IntervalUnavailable?

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
        self.level = level
        let lows = bounds.map(\.lowerBound).sorted()
        let highs = bounds.map(\.upperBound).sorted()
        guard n > 0 else {
            intervalUnavailableReason = .noValues
            return
        }
        let low = Bootstrap.sortedMedian(lows), high = Bootstrap.sortedMedian(highs)
        medianLow = low
        medianHigh = high
        median = low == high ? low : nil
        guard let ranks = OrderStatisticInterval(sampleSize: n, level: level) else {
            intervalUnavailableReason = .tooFewForLevel
            return
        }
        coverage = ranks.coverage
        lowerRank = ranks.lowerRank
        upperRank = ranks.upperRank
        ciLow = ranks.ends(sorted: lows).low
        ciHigh = ranks.ends(sorted: highs).high
    }

    enum CodingKeys: String, CodingKey {
        case n, median
        case medianLow = "median_low"
        case medianHigh = "median_high"
        case level, coverage
        case lowerRank = "lower_rank"
        case upperRank = "upper_rank"
        case ciLow = "ci_low"
        case ciHigh = "ci_high"
        case intervalUnavailableReason = "interval_unavailable_reason"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        n = try c.decode(Int.self, forKey: .n)
        median = try c.decodeIfPresent(Double.self, forKey: .median)
        medianLow = try c.decodeIfPresent(Double.self, forKey: .medianLow)
        medianHigh = try c.decodeIfPresent(Double.self, forKey: .medianHigh)
        level = try c.decode(Double.self, forKey: .level)
        coverage = try c.decodeIfPresent(Double.self, forKey: .coverage)
        lowerRank = try c.decodeIfPresent(Int.self, forKey: .lowerRank)
        upperRank = try c.decodeIfPresent(Int.self, forKey: .upperRank)
        ciLow = try c.decodeIfPresent(Double.self, forKey: .ciLow)
        ciHigh = try c.decodeIfPresent(Double.self, forKey: .ciHigh)
        intervalUnavailableReason = try c.decodeIfPresent(IntervalUnavailable.self, forKey: .intervalUnavailableReason)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(n, forKey: .n)
        try c.encodeOrNull(median, forKey: .median)
        try c.encodeOrNull(medianLow, forKey: .medianLow)
        try c.encodeOrNull(medianHigh, forKey: .medianHigh)
        try c.encode(level, forKey: .level)
        try c.encodeOrNull(coverage, forKey: .coverage)
        try c.encodeOrNull(lowerRank, forKey: .lowerRank)
        try c.encodeOrNull(upperRank, forKey: .upperRank)
        try c.encodeOrNull(ciLow, forKey: .ciLow)
        try c.encodeOrNull(ciHigh, forKey: .ciHigh)
        try c.encodeOrNull(intervalUnavailableReason, forKey: .intervalUnavailableReason)
    }
}
