import Foundation
import RegimeCore

/// Which weight-update curve is compared with the pattern change.
public enum WeightUpdateMeasure: String, Codable, CaseIterable, Sendable {
    /// `weight_update_rel = ||theta_t - theta_{t-1}|| / ||theta_{t-1}||`.
    case relative = "weight_update_rel"
    /// `weight_update_rel / lr_t` (see ``DecayEstimators/learningRateNormalizedWeightUpdate(weightUpdateRel:lr:)``):
    /// the update per unit learning rate, which takes the schedule out of the curve.
    case learningRateNormalized = "weight_update_lr_normalized"
}
