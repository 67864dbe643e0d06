import Foundation
import RegimeCore

/// How often the activation patterns settle before the weight updates (`t_a < t_w`) over the
/// trials of a group, for one estimator.
///
/// A trial is *decided* when both times are numbers, or exactly one is and the other is
/// `censored` or `no_decay` (that one counts as later: it did not happen within the run). For
/// the time constant only the `no_decay` case decides (a censored `tau` is only known to exceed
/// its own fit span, which need not exceed the other curve's `tau`). Everything else (both
/// missing, or `not_applicable`) is *undecided* and left out of ``fraction``.
///
/// JSON form: `{"ta_first": int, "tw_first": int, "ties": int, "undecided": int,
/// "fraction": x|null}`.
public struct OrderingFraction: Codable, Hashable, Sendable {
    /// Trials with `t_a < t_w`.
    public var taFirst: Int
    /// Trials with `t_w < t_a`.
    public var twFirst: Int
    /// Trials with `t_a == t_w`.
    public var ties: Int
    public var undecided: Int
    /// `taFirst / (taFirst + twFirst + ties)`, `nil` when no trial is decided.
    public var fraction: Double?

    public var decided: Int { taFirst + twFirst + ties }

    /// Counts the comparisons of one estimator.
    public init(_ comparisons: [TimingComparison], estimator: DecayEstimator) {
        taFirst = 0; twFirst = 0; ties = 0; undecided = 0
        func later(_ r: TimingUnavailable) -> Bool {
            estimator == .timeConstant ? r == .noDecay : (r == .censored || r == .noDecay)
        }
        for c in comparisons {
            switch (c.tW, c.tA) {
            case (.time(let w), .time(let a)):
                if a < w { taFirst += 1 } else if w < a { twFirst += 1 } else { ties += 1 }
            case (.unavailable(let r), .time):
                if later(r) { taFirst += 1 } else { undecided += 1 }
            case (.time, .unavailable(let r)):
                if later(r) { twFirst += 1 } else { undecided += 1 }
            default:
                undecided += 1
            }
        }
        let d = taFirst + twFirst + ties
        fraction = d > 0 ? Double(taFirst) / Double(d) : nil
    }

    enum CodingKeys: String, CodingKey {
        case taFirst = "ta_first"
        case twFirst = "tw_first"
        case ties, undecided, fraction
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        taFirst = try c.decode(Int.self, forKey: .taFirst)
        twFirst = try c.decode(Int.self, forKey: .twFirst)
        ties = try c.decode(Int.self, forKey: .ties)
        undecided = try c.decode(Int.self, forKey: .undecided)
        fraction = try c.decodeIfPresent(Double.self, forKey: .fraction)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(taFirst, forKey: .taFirst)
        try c.encode(twFirst, forKey: .twFirst)
        try c.encode(ties, forKey: .ties)
        try c.encode(undecided, forKey: .undecided)
        try c.encodeOrNull(fraction, forKey: .fraction)
    }
}
