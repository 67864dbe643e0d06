import Foundation
import RegimeCore

/// What the smoothed curve is divided by before the threshold, half-life and area rules (the
/// knee and the time constant are fits of `log s`, so a scale does not change them).
///
/// - `earlyPeak(window: H, skip: k)`: the recorded points with `it_i <= k` are **removed from the
///   curve before smoothing** (so a first-step spike, as Adam's, cannot leak into later smoothed
///   values through the moving average), and the reference is the maximum of the smoothed curve
///   over `k < it_i <= H`. `skip: 0` keeps every point (iterations start at 1).
/// - `valueAt(iteration: I)`: the reference is the smoothed value at the last recorded iteration
///   `<= I`; no point is removed. Later values may exceed it (normalised values above 1).
///
/// A reference that does not exist (no recorded iteration in the window or at/before `I`) or is
/// not positive and finite makes every normalised estimator `not_applicable`.
///
/// JSON form: `{"mode": "early_peak", "window": 50, "skip": 0}` or
/// `{"mode": "value_at", "iteration": 100}`.
public enum DecayNormalization: Codable, Hashable, Sendable {
    case earlyPeak(window: Int, skip: Int)
    case valueAt(iteration: Int)

    /// `earlyPeak(window: 50, skip: 0)`, the default reference.
    public static let standard = DecayNormalization.earlyPeak(window: 50, skip: 0)

    /// The number of leading iterations removed from the curve (`k` of `earlyPeak`, else 0).
    public var skippedIterations: Int {
        if case .earlyPeak(_, let skip) = self { return skip }
        return 0
    }

    enum CodingKeys: String, CodingKey { case mode, window, skip, iteration }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let mode = try c.decode(String.self, forKey: .mode)
        switch mode {
        case "early_peak":
            self = .earlyPeak(window: try c.decodeIfPresent(Int.self, forKey: .window) ?? 50,
                              skip: try c.decodeIfPresent(Int.self, forKey: .skip) ?? 0)
        case "value_at":
            self = .valueAt(iteration: try c.decode(Int.self, forKey: .iteration))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .mode, in: c, debugDescription: "expected \"early_peak\" or \"value_at\", found \"\(mode)\"")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .earlyPeak(let window, let skip):
            try c.encode("early_peak", forKey: .mode)
            try c.encode(window, forKey: .window)
            try c.encode(skip, forKey: .skip)
        case .valueAt(let iteration):
            try c.encode("value_at", forKey: .mode)
            try c.encode(iteration, forKey: .iteration)
        }
    }
}
