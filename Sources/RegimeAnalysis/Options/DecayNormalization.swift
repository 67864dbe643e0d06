import Foundation
import RegimeCore

/// What the smoothed curve is divided by before the threshold, half-life and area rules (the
/// knee and the time constant are fits of `log s`, so a scale does not change them).
///
/// In every mode the reference is read off **full windows only**: a smoothed value `s_i` with
/// `i >= w - 1` (counted after any skipped points), never a partial average of the first points,
/// which the first optimizer steps would dominate.
///
/// - `earlyPeak(window: H, skip: k)`: the recorded points with `it_i <= k` are **removed from the
///   curve before smoothing** (so a first-step spike, as Adam's sign step, cannot leak into later
///   smoothed values through the moving average), and the reference is the maximum of the
///   full-window smoothed values over `k < it_i <= H`.
/// - `valueAt(iteration: I)`: the full-window smoothed value at the last recorded iteration
///   `<= I`; no point is removed. Later values may exceed it (normalised values above 1).
/// - `fractionOfRun(f)`: `valueAt` at iteration `f * T`, `T` the last recorded iteration.
///
/// The default, `earlyPeak(window: 100, skip: 50)`, is chosen so that the first optimizer steps
/// cannot set the level: on Fashion-MNIST MLPs the transient (Adam's first-step sign update, the
/// early rise of SGD with momentum) is over by iteration ~25-50, and with the default `w = 25` the
/// first full window after the skip ends at iteration 75, leaving 25 full windows to take the
/// peak over. A reference that does not exist (no full window in the range) or is not positive
/// and finite makes every normalised estimator `not_applicable`.
///
/// JSON form: `{"mode": "early_peak", "window": 100, "skip": 50}`,
/// `{"mode": "value_at", "iteration": 100}` or `{"mode": "fraction", "fraction": 0.1}`.
public enum DecayNormalization: Codable, Hashable, Sendable {
    case earlyPeak(window: Int, skip: Int)
    case valueAt(iteration: Int)
    case fractionOfRun(Double)

    /// `earlyPeak(window: 100, skip: 50)`, the default reference (see the type's documentation).
    public static let standard = DecayNormalization.earlyPeak(window: 100, skip: 50)

    /// The number of leading iterations removed from the curve (`k` of `earlyPeak`, else 0).
    public var skippedIterations: Int {
        if case .earlyPeak(_, let skip) = self { return skip }
        return 0
    }

    enum CodingKeys: String, CodingKey { case mode, window, skip, iteration, fraction }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let mode = try c.decode(String.self, forKey: .mode)
        switch mode {
        case "early_peak":
            self = .earlyPeak(window: try c.decodeIfPresent(Int.self, forKey: .window) ?? 100,
                              skip: try c.decodeIfPresent(Int.self, forKey: .skip) ?? 50)
        case "value_at":
            self = .valueAt(iteration: try c.decode(Int.self, forKey: .iteration))
        case "fraction":
            self = .fractionOfRun(try c.decode(Double.self, forKey: .fraction))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .mode, in: c, debugDescription: "expected \"early_peak\", \"value_at\" or \"fraction\", found \"\(mode)\"")
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
        case .fractionOfRun(let fraction):
            try c.encode("fraction", forKey: .mode)
            try c.encode(fraction, forKey: .fraction)
        }
    }
}
