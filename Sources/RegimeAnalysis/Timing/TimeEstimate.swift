import Foundation
import RegimeCore

/// Why an estimate is not a number.
///
/// - `censored`: what the estimator waits for lies beyond the end of the run — the normalised
///   curve is not below `eps` at the last point (threshold, half-life), has not fallen below
///   0.5 (area), the fast phase has not ended (knee: one rate fits as well as two, or the
///   fitted segment after the break is not flatter by ``AnalysisOptions/kneeFlattening``),
///   or the curve falls by less than
///   ``AnalysisOptions/minimumDecayFactor`` over the fit range (time constant: `tau` is
///   longer than the run can show).
/// - `no_decay`: the curve does not decay where the estimator looks — fitted slope `>= 0` after
///   the peak (time constant), the segment before the break (or, when one line fits as well,
///   that line) does not fall by `minimumDecayFactor` (knee), or the curve peaks too late to
///   leave room for a fit.
/// - `not_applicable`: the estimator cannot be evaluated on this input — empty or too short
///   curve, no valid normalisation reference, non-finite smoothed values in a fit, the curve
///   reaching zero (no logarithm) where a fit needs it, or decay faster than the smoothing can
///   resolve; for a ratio, also a zero denominator.
public enum TimingUnavailable: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case censored
    case noDecay = "no_decay"
    case notApplicable = "not_applicable"

    public var description: String { rawValue }

    /// Precedence when two reasons combine (ratio of two missing times): not_applicable, then
    /// no_decay, then censored.
    var severity: Int {
        switch self {
        case .censored: return 0
        case .noDecay: return 1
        case .notApplicable: return 2
        }
    }
}

/// A decay time (or ratio) or the reason there is none. Never a made-up number.
///
/// JSON form: a number (`812`, `3.5`) or a reason string (`"censored"`, `"no_decay"`,
/// `"not_applicable"`).
public enum TimeEstimate: Codable, Hashable, Sendable, CustomStringConvertible {
    case time(Double)
    case unavailable(TimingUnavailable)

    /// The number, or `nil`.
    public var value: Double? {
        if case .time(let t) = self { return t }
        return nil
    }

    /// The reason, or `nil` when there is a number.
    public var reason: TimingUnavailable? {
        if case .unavailable(let r) = self { return r }
        return nil
    }

    public var description: String {
        switch self {
        case .time(let t): return "\(t)"
        case .unavailable(let r): return r.rawValue
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let t = try? c.decode(Double.self) {
            self = .time(t)
        } else {
            self = .unavailable(try c.decode(TimingUnavailable.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .time(let t): try c.encode(t)
        case .unavailable(let r): try c.encode(r)
        }
    }
}
