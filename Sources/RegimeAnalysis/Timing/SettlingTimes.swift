import Foundation
import RegimeCore

/// Settling to the final state (docs/numerics.md, "Settling to the final state"): from a trial's
/// ``SettlingCurve``, for each fraction q,
///
/// - `t_a(q)` = the first snapshot iteration t such that the pattern distance to the final
///   pattern stays `<= q × d_a(0)` at every snapshot s >= t, where `d_a(0)` is the distance at
///   initialisation;
/// - `t_w(q)` the same with `||θ_s − θ_T||` against `||θ_0 − θ_T||`;
/// - `ratio = t_w / t_a` (``TimingComparison``).
///
/// No smoothing and no reference level: the reference is the run's own start and end. A time is
/// **censored** when only the final snapshot itself (distance 0 by definition) satisfies the rule:
/// the state was still farther than q × d(0) from the end at the last snapshot before T. It is
/// **not_applicable** when the distance at initialisation is 0 (nothing to settle: the state never
/// differed from the final one) or the curve does not start at iteration 0.
public enum SettlingTimes {
    /// The settling time of one distance curve at fraction q (see above).
    public static func time(iterations: [Int], distances: [Double], fraction q: Double) -> TimeEstimate {
        precondition(iterations.count == distances.count)
        guard let first = iterations.first, first == 0, let d0 = distances.first, d0 > 0, d0.isFinite else {
            return .unavailable(.notApplicable)
        }
        let bound = q * d0
        // Walk back from the end while the distance stays within the bound.
        var j = distances.count
        while j > 0, distances[j - 1] <= bound { j -= 1 }
        // j is the first index of the suffix within the bound (j >= 1 since d0 > bound).
        guard j < distances.count - 1 else { return .unavailable(.censored) }
        return .time(Double(iterations[j]))
    }

    /// `t_w(q)`, `t_a(q)` and their ratio for each q in `fractions`, keyed by ``key(_:)``.
    public static func comparisons(_ curve: SettlingCurve, fractions: [Double]) -> [String: TimingComparison] {
        var keyed: [String: TimingComparison] = [:]
        for q in fractions {
            keyed[key(q)] = TimingComparison(tW: time(iterations: curve.iteration, distances: curve.weightDistance, fraction: q),
                                             tA: time(iterations: curve.iteration, distances: curve.patternDistance, fraction: q))
        }
        return keyed
    }

    /// The JSON key of fraction q (`0.05` -> `"0.05"`), as the summary thresholds' keys.
    public static func key(_ q: Double) -> String { DecayRules.epsilonKey(q) }

    /// The name of the definition of fraction q in the summary's definition table.
    public static func definitionName(_ q: Double) -> String { "settling \(key(q))" }
}
