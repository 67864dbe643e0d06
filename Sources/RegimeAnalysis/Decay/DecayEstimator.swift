import Foundation
import RegimeCore

/// The decay-time estimators of ``DecayEstimators``. Raw values are the JSON / report names.
public enum DecayEstimator: String, Codable, CaseIterable, Sendable {
    /// First iteration from which the normalised curve stays below `eps`, on a grid of `eps`
    /// (gives the ratio curve `R(eps)`).
    case threshold
    /// The threshold rule at `eps = 0.5`.
    case halfLife = "half_life"
    /// Break of a two-segment (hinge) least-squares fit of the smoothed log-curve.
    case knee
    /// `tau = -1/slope` of a Theil-Sen fit of the smoothed log-curve after its peak.
    case timeConstant = "time_constant"
    /// First iteration at which the cumulative area reaches `areaFraction` of the total.
    case area
}
