import Foundation
import RegimeCore

/// All decay estimators of one trial: per instrument (``weightUpdate``, ``patternChange``) and
/// per estimator the comparison `t_w`, `t_a`, `ratio`, with `R(eps)` over the grid.
///
/// JSON form: `{"options": {...}, "weight_update_measure": "weight_update_rel",
/// "weight_update": CurveTiming, "pattern_change": CurveTiming,
/// "threshold": [TimingComparison, ...] (aligned with options.epsilon_grid),
/// "half_life": TimingComparison, "knee": ..., "time_constant": ..., "area": ...}`.
public struct TrialTiming: Codable, Hashable, Sendable {
    public var options: AnalysisOptions
    public var weightUpdateMeasure: WeightUpdateMeasure
    public var weightUpdate: CurveTiming
    public var patternChange: CurveTiming
    /// The threshold rule at each `eps` of `options.epsilonGrid`; `threshold[k].ratio` is `R(eps_k)`.
    public var threshold: [TimingComparison]
    public var halfLife: TimingComparison
    public var knee: TimingComparison
    public var timeConstant: TimingComparison
    public var area: TimingComparison

    /// Combines two analysed curves (analysed with `options`).
    public init(weightUpdate w: CurveTiming, patternChange a: CurveTiming, options: AnalysisOptions,
                measure: WeightUpdateMeasure = .relative) {
        precondition(w.threshold.count == options.epsilonGrid.count && a.threshold.count == options.epsilonGrid.count,
                     "TrialTiming: curves were analysed with another epsilon grid")
        self.options = options
        self.weightUpdateMeasure = measure
        self.weightUpdate = w
        self.patternChange = a
        threshold = zip(w.threshold, a.threshold).map { TimingComparison(tW: $0.0, tA: $0.1) }
        halfLife = TimingComparison(tW: w.halfLife, tA: a.halfLife)
        knee = TimingComparison(tW: w.knee, tA: a.knee)
        timeConstant = TimingComparison(tW: w.timeConstant, tA: a.timeConstant)
        area = TimingComparison(tW: w.area, tA: a.area)
    }

    /// Analyses both curves, recorded at `iterations`. `weightUpdate` is whichever weight curve
    /// `measure` names (the caller computes it; see ``init(curve:options:measure:)``).
    public init(iterations: [Int], weightUpdate: [Double], patternChange: [Double],
                options: AnalysisOptions, measure: WeightUpdateMeasure = .relative) {
        self.init(weightUpdate: DecayEstimators.analyze(iterations: iterations, values: weightUpdate, options: options),
                  patternChange: DecayEstimators.analyze(iterations: iterations, values: patternChange, options: options),
                  options: options, measure: measure)
    }

    /// Analyses a trial's recorded curve: `pattern_change` against `weight_update_rel`, or both
    /// divided by the learning rate (``WeightUpdateMeasure``).
    ///
    /// The knee of either measure is always fitted on the learning-rate-normalised curves (both
    /// divided by `lr_t`): a decaying schedule steepens `ln(curve)` at the end of the run as
    /// `lr -> 0`, which a "fast, then slow" break can never fit. Per unit learning rate the
    /// schedule is out of the curve; under a constant rate the division is a constant factor,
    /// which does not move a break of `ln(curve)`.
    public init(curve: Curve, options: AnalysisOptions, measure: WeightUpdateMeasure = .relative) {
        let w = DecayEstimators.divideByLearningRate(curve.weightUpdateRel, lr: curve.lr)
        let a = DecayEstimators.divideByLearningRate(curve.patternChange, lr: curve.lr)
        switch measure {
        case .relative:
            var wt = DecayEstimators.analyze(iterations: curve.iteration, values: curve.weightUpdateRel, options: options)
            var at = DecayEstimators.analyze(iterations: curve.iteration, values: curve.patternChange, options: options)
            let wk = DecayEstimators.knee(iterations: curve.iteration, values: w, options: options)
            let ak = DecayEstimators.knee(iterations: curve.iteration, values: a, options: options)
            (wt.knee, wt.kneeFit) = (wk.estimate, wk.fit)
            (at.knee, at.kneeFit) = (ak.estimate, ak.fit)
            self.init(weightUpdate: wt, patternChange: at, options: options, measure: measure)
        case .learningRateNormalized:
            self.init(iterations: curve.iteration, weightUpdate: w, patternChange: a, options: options, measure: measure)
        }
    }

    /// The grid of the threshold rule.
    public var epsilonGrid: [Double] { options.epsilonGrid }

    /// `R(eps)` over the grid, `nil` where undefined (the reasons are in ``threshold``).
    public var ratioCurve: [Double?] { threshold.map(\.ratio.value) }

    /// The comparison of a scalar estimator; `nil` for `.threshold` (use ``threshold`` or
    /// ``comparison(epsilon:)``).
    public func comparison(_ estimator: DecayEstimator) -> TimingComparison? { scalar(estimator) }

    /// The threshold comparison at a grid value (exact match), `nil` if `eps` is not on the grid.
    public func comparison(epsilon eps: Double) -> TimingComparison? {
        options.epsilonGrid.firstIndex(of: eps).map { threshold[$0] }
    }

    enum CodingKeys: String, CodingKey {
        case options
        case weightUpdateMeasure = "weight_update_measure"
        case weightUpdate = "weight_update"
        case patternChange = "pattern_change"
        case threshold
        case halfLife = "half_life"
        case knee
        case timeConstant = "time_constant"
        case area
    }
}
