import Foundation
import RegimeCore

/// Which pair of curves is compared.
///
/// Any normalisation is applied to **both** curves: pattern change shrinks with the learning rate
/// as much as the weight update does (a step of half the size flips about half as many units near
/// the boundary), so dividing only the weight curve by `lr_t` would bias the ratio towards the
/// hypothesis under a decaying schedule.
public enum WeightUpdateMeasure: String, Codable, CaseIterable, Sendable {
    /// `weight_update_rel = ||theta_t - theta_{t-1}|| / ||theta_{t-1}||` against `pattern_change`.
    case relative = "weight_update_rel"
    /// Both curves divided by `lr_t` (``DecayEstimators/divideByLearningRate(_:lr:)``): change per
    /// unit learning rate, which takes the schedule out of both.
    case learningRateNormalized = "lr_normalized"
}
