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

/// A value per scalar estimator (one curve's times, one trial's comparisons, one group's
/// summaries), looked up by ``DecayEstimator``.
public protocol ScalarEstimates {
    associatedtype Value
    var halfLife: Value { get }
    var knee: Value { get }
    var timeConstant: Value { get }
    var area: Value { get }
}

extension ScalarEstimates {
    /// The value of a scalar estimator; `nil` for `.threshold` (a grid, not one value).
    public func scalar(_ estimator: DecayEstimator) -> Value? {
        switch estimator {
        case .threshold: return nil
        case .halfLife: return halfLife
        case .knee: return knee
        case .timeConstant: return timeConstant
        case .area: return area
        }
    }
}

extension CurveTiming: ScalarEstimates {}
extension TrialTiming: ScalarEstimates {}
extension TimingGroupSummary: ScalarEstimates {}
