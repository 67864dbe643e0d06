import Foundation

/// Why a confidence interval is not given: the summaries print no interval rather than a
/// made-up one.
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
