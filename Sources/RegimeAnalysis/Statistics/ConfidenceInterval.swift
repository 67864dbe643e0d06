import Foundation
import RegimeCore

/// A two-sided confidence interval as the cross-seed summaries report it: its ends, the level
/// asked for and the coverage the method guarantees, or the reason there is none (never a
/// made-up interval).
///
/// `coverage` is what the method delivers, not what was asked: for the order-statistic interval
/// of a median the exact binomial coverage of the chosen pair (at least `level`, e.g.
/// 0.978515625 for `n = 10` at 0.95; ``OrderStatisticInterval``); for the Student-t interval of
/// a (log-)mean the nominal level, exact when the values are normal
/// (``GeometricMeanSummary``).
///
/// JSON form: `{"level": x, "coverage": x|null, "low": x|null, "high": x|"inf"|null,
/// "unavailable_reason": "no_values"|"single_value"|"too_few_for_level"|null}`, nulls written
/// explicitly. An unbounded end (a censored value reaches it) is infinite, which the project's
/// encoder (``JSONCoding``) writes as the string `"inf"` and reads back.
public struct ConfidenceInterval: Codable, Hashable, Sendable {
    /// The level asked for.
    public var level: Double
    /// The coverage the method guarantees; `nil` without an interval.
    public var coverage: Double?
    public var low: Double?
    /// May be `+inf`.
    public var high: Double?
    /// Why there is no interval; `nil` when there is one.
    public var unavailableReason: IntervalUnavailable?

    public init(level: Double, coverage: Double, low: Double, high: Double) {
        self.level = level
        self.coverage = coverage
        self.low = low
        self.high = high
    }

    public init(level: Double, unavailable reason: IntervalUnavailable) {
        self.level = level
        unavailableReason = reason
    }

    /// Whether the interval exists and contains `x` (ends included).
    public func contains(_ x: Double) -> Bool {
        guard let low, let high else { return false }
        return low <= x && x <= high
    }

    enum CodingKeys: String, CodingKey {
        case level, coverage, low, high
        case unavailableReason = "unavailable_reason"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        level = try c.decode(Double.self, forKey: .level)
        coverage = try c.decodeIfPresent(Double.self, forKey: .coverage)
        low = try c.decodeIfPresent(Double.self, forKey: .low)
        high = try c.decodeIfPresent(Double.self, forKey: .high)
        unavailableReason = try c.decodeIfPresent(IntervalUnavailable.self, forKey: .unavailableReason)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(level, forKey: .level)
        try c.encodeOrNull(coverage, forKey: .coverage)
        try c.encodeOrNull(low, forKey: .low)
        try c.encodeOrNull(high, forKey: .high)
        try c.encodeOrNull(unavailableReason, forKey: .unavailableReason)
    }
}

/// Why a confidence interval is not given.
///
/// - `no_values`: the sample is empty.
/// - `single_value`: one value says nothing about spread (a Student-t interval needs `n >= 2`).
/// - `too_few_for_level`: no pair of order statistics covers the median with the requested
///   probability; the widest pair, `(x_(1), x_(n))`, covers it with `1 - 2^(1-n)`, below 0.95
///   for `n <= 5` (see ``OrderStatisticInterval``).
public enum IntervalUnavailable: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case noValues = "no_values"
    case singleValue = "single_value"
    case tooFewForLevel = "too_few_for_level"

    public var description: String { rawValue }
}
