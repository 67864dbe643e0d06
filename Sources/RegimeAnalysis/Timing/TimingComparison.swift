import Foundation
import RegimeCore

/// One estimator's time of the weight-update curve (`t_w`) against the pattern-change curve's
/// (`t_a`), and `ratio = t_w / t_a`.
///
/// The ratio is a number when both times are and `t_a > 0`; otherwise its reason is the more
/// severe of the missing times' reasons (not_applicable > no_decay > censored), or
/// `not_applicable` for a non-positive `t_a`.
///
/// JSON form: `{"t_w": 812|"censored"|..., "t_a": ..., "ratio": ...}`.
public struct TimingComparison: Codable, Hashable, Sendable {
    public var tW: TimeEstimate
    public var tA: TimeEstimate
    public var ratio: TimeEstimate

    public init(tW: TimeEstimate, tA: TimeEstimate) {
        self.tW = tW
        self.tA = tA
        self.ratio = TimingComparison.ratio(tW: tW, tA: tA)
    }

    /// The ratio rule above.
    public static func ratio(tW: TimeEstimate, tA: TimeEstimate) -> TimeEstimate {
        switch (tW, tA) {
        case (.time(let w), .time(let a)):
            guard a > 0, a.isFinite, w.isFinite else { return .unavailable(.notApplicable) }
            return .time(w / a)
        case (.unavailable(let r), .time):
            return .unavailable(r)
        case (.time, .unavailable(let r)):
            return .unavailable(r)
        case (.unavailable(let r1), .unavailable(let r2)):
            return .unavailable(r1.severity >= r2.severity ? r1 : r2)
        }
    }

    enum CodingKeys: String, CodingKey {
        case tW = "t_w"
        case tA = "t_a"
        case ratio
    }
}
