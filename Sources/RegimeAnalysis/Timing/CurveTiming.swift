import Foundation
import RegimeCore

/// Every estimate of one curve (one instrument of one trial).
///
/// JSON form: `{"reference": x|null, "threshold": [est, ...], "half_life": est, "knee": est,
/// "knee_fit": {...}|null, "time_constant": est, "exponential_fit": {...}|null, "area": est}`
/// with `est` a ``TimeEstimate``; `threshold` is aligned with the options' `epsilon_grid`.
public struct CurveTiming: Codable, Hashable, Sendable {
    /// The normalisation reference (peak or value at the iteration), `nil` when there is none.
    public var reference: Double?
    /// `t(eps)` for each `eps` of the grid.
    public var threshold: [TimeEstimate]
    public var halfLife: TimeEstimate
    public var knee: TimeEstimate
    public var kneeFit: KneeFit?
    public var timeConstant: TimeEstimate
    public var exponentialFit: ExponentialFit?
    public var area: TimeEstimate

    public init(reference: Double?, threshold: [TimeEstimate], halfLife: TimeEstimate, knee: TimeEstimate,
                kneeFit: KneeFit?, timeConstant: TimeEstimate, exponentialFit: ExponentialFit?, area: TimeEstimate) {
        self.reference = reference
        self.threshold = threshold
        self.halfLife = halfLife
        self.knee = knee
        self.kneeFit = kneeFit
        self.timeConstant = timeConstant
        self.exponentialFit = exponentialFit
        self.area = area
    }

    /// The estimate of a scalar estimator; `nil` for `.threshold` (use ``threshold``).
    public func estimate(_ estimator: DecayEstimator) -> TimeEstimate? { scalar(estimator) }

    enum CodingKeys: String, CodingKey {
        case reference, threshold
        case halfLife = "half_life"
        case knee
        case kneeFit = "knee_fit"
        case timeConstant = "time_constant"
        case exponentialFit = "exponential_fit"
        case area
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reference = try c.decodeIfPresent(Double.self, forKey: .reference)
        threshold = try c.decode([TimeEstimate].self, forKey: .threshold)
        halfLife = try c.decode(TimeEstimate.self, forKey: .halfLife)
        knee = try c.decode(TimeEstimate.self, forKey: .knee)
        kneeFit = try c.decodeIfPresent(KneeFit.self, forKey: .kneeFit)
        timeConstant = try c.decode(TimeEstimate.self, forKey: .timeConstant)
        exponentialFit = try c.decodeIfPresent(ExponentialFit.self, forKey: .exponentialFit)
        area = try c.decode(TimeEstimate.self, forKey: .area)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeOrNull(reference, forKey: .reference)
        try c.encode(threshold, forKey: .threshold)
        try c.encode(halfLife, forKey: .halfLife)
        try c.encode(knee, forKey: .knee)
        try c.encodeOrNull(kneeFit, forKey: .kneeFit)
        try c.encode(timeConstant, forKey: .timeConstant)
        try c.encodeOrNull(exponentialFit, forKey: .exponentialFit)
        try c.encode(area, forKey: .area)
    }
}
