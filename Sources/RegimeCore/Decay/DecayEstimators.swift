import Foundation

// MARK: - Names and options

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

/// What the smoothed curve is divided by before the threshold, half-life and area rules (the
/// knee and the time constant are fits of `log s`, so a scale does not change them).
///
/// - `earlyPeak(window: H, skip: k)`: the recorded points with `it_i <= k` are **removed from the
///   curve before smoothing** (so a first-step spike, as Adam's, cannot leak into later smoothed
///   values through the moving average), and the reference is the maximum of the smoothed curve
///   over `k < it_i <= H`. `skip: 0` keeps every point (iterations start at 1). Note the
///   difference to ``DecayOptions/peakSkip``, which is an *inclusive first* iteration applied to
///   the smoothed curve only; ``DecayEstimatorOptions/init(decayOptions:)`` converts.
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

    /// `earlyPeak(window: 50, skip: 0)`, the product's default (same as ``DecayOptions``).
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

/// Which weight-update curve is compared with the pattern change.
public enum WeightUpdateMeasure: String, Codable, CaseIterable, Sendable {
    /// `weight_update_rel = ||theta_t - theta_{t-1}|| / ||theta_{t-1}||`.
    case relative = "weight_update_rel"
    /// `weight_update_rel / lr_t` (see ``DecayEstimators/learningRateNormalizedWeightUpdate(weightUpdateRel:lr:)``):
    /// the update per unit learning rate, which takes the schedule out of the curve.
    case learningRateNormalized = "weight_update_lr_normalized"
}

/// Parameters of ``DecayEstimators``. Serialised with snake_case keys; a missing key takes its
/// default (`{}` decodes to the defaults). Decoding does not validate; call ``validate()``.
public struct DecayEstimatorOptions: Codable, Hashable, Sendable {
    /// Width `w` of the trailing moving average in recorded points (as ``DecayOptions/smoothing``).
    public var smoothing: Int
    /// Divisor of the threshold, half-life and area rules.
    public var normalization: DecayNormalization
    /// The `eps` grid of the threshold rule, strictly increasing in (0, 1).
    public var epsilonGrid: [Double]
    /// Fraction of the area the area rule waits for (0.9: the product's `auc90`).
    public var areaFraction: Double
    /// Knee: the slope after the break must be `>= kneeFlattening * slopeBefore` (with
    /// `slopeBefore < 0`: at most this fraction as steep, or rising). In [0, 1).
    public var kneeFlattening: Double
    /// Knee: the two-segment fit must reduce the residual sum of squares of a single straight
    /// line (over the same points) by at least this fraction. In [0, 1).
    public var kneeMinimumImprovement: Double
    /// Knee and time constant: the fitted line must fall by at least this factor over the
    /// fast segment (knee) or the fit range (time constant). `> 1`.
    public var minimumDecayFactor: Double
    /// Time constant: the fit range ends at the first point below `timeConstantFloor` times the
    /// curve's maximum. In (0, 1).
    public var timeConstantFloor: Double
    /// Minimum number of points of the time-constant fit; the knee's segments need at least
    /// `max(minimumFitPoints, smoothing)` points each. `>= 3`.
    public var minimumFitPoints: Int
    /// The Theil-Sen fit uses at most this many points, evenly spaced by index over its range
    /// (its cost is quadratic). `>= minimumFitPoints`.
    public var theilSenMaxPoints: Int

    public init(
        smoothing: Int = 25,
        normalization: DecayNormalization = .standard,
        epsilonGrid: [Double] = DecayEstimators.defaultEpsilonGrid,
        areaFraction: Double = 0.9,
        kneeFlattening: Double = 0.5,
        kneeMinimumImprovement: Double = 0.25,
        minimumDecayFactor: Double = 2,
        timeConstantFloor: Double = 0.05,
        minimumFitPoints: Int = 10,
        theilSenMaxPoints: Int = 400
    ) {
        self.smoothing = smoothing
        self.normalization = normalization
        self.epsilonGrid = epsilonGrid
        self.areaFraction = areaFraction
        self.kneeFlattening = kneeFlattening
        self.kneeMinimumImprovement = kneeMinimumImprovement
        self.minimumDecayFactor = minimumDecayFactor
        self.timeConstantFloor = timeConstantFloor
        self.minimumFitPoints = minimumFitPoints
        self.theilSenMaxPoints = theilSenMaxPoints
    }

    /// The estimator options matching a trial's ``DecayOptions``: same smoothing and area
    /// fraction, `earlyPeak(window: peakWindow, skip: max(0, peakSkip - 1))` (the iterations
    /// before `peakSkip` are the ones excluded), and the default grid merged with the options'
    /// thresholds (so `R(eps)` exists at every product threshold).
    public init(decayOptions o: DecayOptions) {
        self.init(smoothing: o.smoothing,
                  normalization: .earlyPeak(window: o.peakWindow, skip: Swift.max(0, o.peakSkip - 1)),
                  epsilonGrid: Array(Set(DecayEstimators.defaultEpsilonGrid + o.thresholds)).sorted(),
                  areaFraction: o.areaFraction)
    }

    enum CodingKeys: String, CodingKey {
        case smoothing, normalization
        case epsilonGrid = "epsilon_grid"
        case areaFraction = "area_fraction"
        case kneeFlattening = "knee_flattening"
        case kneeMinimumImprovement = "knee_minimum_improvement"
        case minimumDecayFactor = "minimum_decay_factor"
        case timeConstantFloor = "time_constant_floor"
        case minimumFitPoints = "minimum_fit_points"
        case theilSenMaxPoints = "theil_sen_max_points"
    }

    public init(from decoder: Decoder) throws {
        let d = DecayEstimatorOptions()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        smoothing = try c.decodeIfPresent(Int.self, forKey: .smoothing) ?? d.smoothing
        normalization = try c.decodeIfPresent(DecayNormalization.self, forKey: .normalization) ?? d.normalization
        epsilonGrid = try c.decodeIfPresent([Double].self, forKey: .epsilonGrid) ?? d.epsilonGrid
        areaFraction = try c.decodeIfPresent(Double.self, forKey: .areaFraction) ?? d.areaFraction
        kneeFlattening = try c.decodeIfPresent(Double.self, forKey: .kneeFlattening) ?? d.kneeFlattening
        kneeMinimumImprovement = try c.decodeIfPresent(Double.self, forKey: .kneeMinimumImprovement) ?? d.kneeMinimumImprovement
        minimumDecayFactor = try c.decodeIfPresent(Double.self, forKey: .minimumDecayFactor) ?? d.minimumDecayFactor
        timeConstantFloor = try c.decodeIfPresent(Double.self, forKey: .timeConstantFloor) ?? d.timeConstantFloor
        minimumFitPoints = try c.decodeIfPresent(Int.self, forKey: .minimumFitPoints) ?? d.minimumFitPoints
        theilSenMaxPoints = try c.decodeIfPresent(Int.self, forKey: .theilSenMaxPoints) ?? d.theilSenMaxPoints
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(smoothing, forKey: .smoothing)
        try c.encode(normalization, forKey: .normalization)
        try c.encode(epsilonGrid, forKey: .epsilonGrid)
        try c.encode(areaFraction, forKey: .areaFraction)
        try c.encode(kneeFlattening, forKey: .kneeFlattening)
        try c.encode(kneeMinimumImprovement, forKey: .kneeMinimumImprovement)
        try c.encode(minimumDecayFactor, forKey: .minimumDecayFactor)
        try c.encode(timeConstantFloor, forKey: .timeConstantFloor)
        try c.encode(minimumFitPoints, forKey: .minimumFitPoints)
        try c.encode(theilSenMaxPoints, forKey: .theilSenMaxPoints)
    }

    /// Throws the first violated constraint as a ``DecayOptionsError`` naming the snake_case key.
    public func validate() throws {
        if smoothing < 1 {
            throw DecayOptionsError(key: "smoothing", expected: "an integer >= 1", found: "\(smoothing)")
        }
        switch normalization {
        case .earlyPeak(let window, let skip):
            if skip < 0 {
                throw DecayOptionsError(key: "normalization.skip", expected: "an integer >= 0", found: "\(skip)")
            }
            if window <= skip {
                throw DecayOptionsError(key: "normalization.window", expected: "an integer > skip (\(skip))", found: "\(window)")
            }
        case .valueAt(let iteration):
            if iteration < 1 {
                throw DecayOptionsError(key: "normalization.iteration", expected: "an integer >= 1", found: "\(iteration)")
            }
        }
        if epsilonGrid.isEmpty {
            throw DecayOptionsError(key: "epsilon_grid", expected: "at least one epsilon", found: "[]")
        }
        for (k, eps) in epsilonGrid.enumerated() {
            guard eps.isFinite, eps > 0, eps < 1 else {
                throw DecayOptionsError(key: "epsilon_grid", expected: "every epsilon in the open interval (0, 1)",
                                        found: "\(eps) at position \(k)")
            }
            if k > 0, !(epsilonGrid[k - 1] < eps) {
                throw DecayOptionsError(key: "epsilon_grid", expected: "strictly increasing values",
                                        found: "\(epsilonGrid[k - 1]) followed by \(eps) at position \(k)")
            }
        }
        guard areaFraction.isFinite, areaFraction > 0, areaFraction < 1 else {
            throw DecayOptionsError(key: "area_fraction", expected: "a number in (0, 1)", found: "\(areaFraction)")
        }
        guard kneeFlattening.isFinite, kneeFlattening >= 0, kneeFlattening < 1 else {
            throw DecayOptionsError(key: "knee_flattening", expected: "a number in [0, 1)", found: "\(kneeFlattening)")
        }
        guard kneeMinimumImprovement.isFinite, kneeMinimumImprovement >= 0, kneeMinimumImprovement < 1 else {
            throw DecayOptionsError(key: "knee_minimum_improvement", expected: "a number in [0, 1)",
                                    found: "\(kneeMinimumImprovement)")
        }
        guard minimumDecayFactor.isFinite, minimumDecayFactor > 1 else {
            throw DecayOptionsError(key: "minimum_decay_factor", expected: "a number > 1", found: "\(minimumDecayFactor)")
        }
        guard timeConstantFloor.isFinite, timeConstantFloor > 0, timeConstantFloor < 1 else {
            throw DecayOptionsError(key: "time_constant_floor", expected: "a number in (0, 1)", found: "\(timeConstantFloor)")
        }
        if minimumFitPoints < 3 {
            throw DecayOptionsError(key: "minimum_fit_points", expected: "an integer >= 3", found: "\(minimumFitPoints)")
        }
        if theilSenMaxPoints < minimumFitPoints {
            throw DecayOptionsError(key: "theil_sen_max_points", expected: "an integer >= minimum_fit_points (\(minimumFitPoints))",
                                    found: "\(theilSenMaxPoints)")
        }
    }
}

// MARK: - Results

/// Why an estimate is not a number.
///
/// - `censored`: what the estimator waits for lies beyond the end of the run — the normalised
///   curve is not below `eps` at the last point (threshold, half-life), has not fallen below
///   0.5 (area), the fast phase has not ended (knee: one rate fits as well as two, or the
///   fitted segment after the break is not flatter by ``DecayEstimatorOptions/kneeFlattening``),
///   or the curve falls by less than
///   ``DecayEstimatorOptions/minimumDecayFactor`` over the fit range (time constant: `tau` is
///   longer than the run can show).
/// - `no_decay`: the curve does not decay where the estimator looks — fitted slope `>= 0` after
///   the peak (time constant), the segment before the break (or, when one line fits as well,
///   that line) does not fall by `minimumDecayFactor` (knee), or the curve peaks too late to
///   leave room for a fit.
/// - `not_applicable`: the estimator cannot be evaluated on this input — empty or too short
///   curve, no valid normalisation reference, non-finite smoothed values in a fit, the curve
///   reaching zero (no logarithm) where a fit needs it, or decay faster than the smoothing can
///   resolve; for a ratio, also a zero denominator.
public enum TimingUnavailable: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case censored
    case noDecay = "no_decay"
    case notApplicable = "not_applicable"

    public var description: String { rawValue }

    /// Precedence when two reasons combine (ratio of two missing times): not_applicable, then
    /// no_decay, then censored.
    var severity: Int {
        switch self {
        case .censored: return 0
        case .noDecay: return 1
        case .notApplicable: return 2
        }
    }
}

/// A decay time (or ratio) or the reason there is none. Never a made-up number.
///
/// JSON form: a number (`812`, `3.5`) or a reason string (`"censored"`, `"no_decay"`,
/// `"not_applicable"`).
public enum TimeEstimate: Codable, Hashable, Sendable, CustomStringConvertible {
    case time(Double)
    case unavailable(TimingUnavailable)

    /// The number, or `nil`.
    public var value: Double? {
        if case .time(let t) = self { return t }
        return nil
    }

    /// The reason, or `nil` when there is a number.
    public var reason: TimingUnavailable? {
        if case .unavailable(let r) = self { return r }
        return nil
    }

    public var description: String {
        switch self {
        case .time(let t): return "\(t)"
        case .unavailable(let r): return r.rawValue
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let t = try? c.decode(Double.self) {
            self = .time(t)
        } else {
            self = .unavailable(try c.decode(TimingUnavailable.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .time(let t): try c.encode(t)
        case .unavailable(let r): try c.encode(r)
        }
    }
}

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

/// The two-segment fit behind a knee (reported also when the knee itself is censored or
/// no_decay, so the reader sees the slopes that decided it). Slopes are of `ln s` per iteration.
public struct KneeFit: Codable, Hashable, Sendable {
    /// The break: the recorded iteration where the segments meet.
    public var iteration: Int
    /// First and last recorded iterations of the fit range.
    public var firstIteration: Int
    public var lastIteration: Int
    /// Points of each segment (the break point belongs to both).
    public var pointsBefore: Int
    public var pointsAfter: Int
    public var slopeBefore: Double
    public var slopeAfter: Double
    /// The fitted `ln s` at the break.
    public var logValueAtKnee: Double
    /// Residual sum of squares of the fit (in `ln s` units squared).
    public var rss: Double
    /// Slope of the single least-squares line over the same points.
    public var lineSlope: Double
    /// `1 - rss / rss_line`: the fraction of the single line's residual the break removes (0 when
    /// the line is exact).
    public var improvement: Double

    public init(iteration: Int, firstIteration: Int, lastIteration: Int, pointsBefore: Int, pointsAfter: Int,
                slopeBefore: Double, slopeAfter: Double, logValueAtKnee: Double, rss: Double,
                lineSlope: Double, improvement: Double) {
        self.iteration = iteration
        self.firstIteration = firstIteration
        self.lastIteration = lastIteration
        self.pointsBefore = pointsBefore
        self.pointsAfter = pointsAfter
        self.slopeBefore = slopeBefore
        self.slopeAfter = slopeAfter
        self.logValueAtKnee = logValueAtKnee
        self.rss = rss
        self.lineSlope = lineSlope
        self.improvement = improvement
    }

    enum CodingKeys: String, CodingKey {
        case iteration
        case firstIteration = "first_iteration"
        case lastIteration = "last_iteration"
        case pointsBefore = "points_before"
        case pointsAfter = "points_after"
        case slopeBefore = "slope_before"
        case slopeAfter = "slope_after"
        case logValueAtKnee = "log_value_at_knee"
        case rss
        case lineSlope = "line_slope"
        case improvement
    }
}

/// The Theil-Sen fit behind a time constant (reported also when the estimate is censored or
/// no_decay).
public struct ExponentialFit: Codable, Hashable, Sendable {
    /// First and last recorded iterations of the fit range.
    public var firstIteration: Int
    public var lastIteration: Int
    /// Points in the range and points used by Theil-Sen (after even subsampling).
    public var points: Int
    public var pointsUsed: Int
    /// Median pairwise slope of `ln s` per iteration.
    public var slope: Double
    /// Whether the range ended because the curve fell below the floor (else at the run's end).
    public var reachedFloor: Bool

    public init(firstIteration: Int, lastIteration: Int, points: Int, pointsUsed: Int, slope: Double, reachedFloor: Bool) {
        self.firstIteration = firstIteration
        self.lastIteration = lastIteration
        self.points = points
        self.pointsUsed = pointsUsed
        self.slope = slope
        self.reachedFloor = reachedFloor
    }

    enum CodingKeys: String, CodingKey {
        case firstIteration = "first_iteration"
        case lastIteration = "last_iteration"
        case points
        case pointsUsed = "points_used"
        case slope
        case reachedFloor = "reached_floor"
    }
}

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
    public func estimate(_ estimator: DecayEstimator) -> TimeEstimate? {
        switch estimator {
        case .threshold: return nil
        case .halfLife: return halfLife
        case .knee: return knee
        case .timeConstant: return timeConstant
        case .area: return area
        }
    }

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

/// All decay estimators of one trial: per instrument (``weightUpdate``, ``patternChange``) and
/// per estimator the comparison `t_w`, `t_a`, `ratio`, with `R(eps)` over the grid.
///
/// JSON form: `{"options": {...}, "weight_update_measure": "weight_update_rel",
/// "weight_update": CurveTiming, "pattern_change": CurveTiming,
/// "threshold": [TimingComparison, ...] (aligned with options.epsilon_grid),
/// "half_life": TimingComparison, "knee": ..., "time_constant": ..., "area": ...}`.
public struct TrialTiming: Codable, Hashable, Sendable {
    public var options: DecayEstimatorOptions
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
    public init(weightUpdate w: CurveTiming, patternChange a: CurveTiming, options: DecayEstimatorOptions,
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
                options: DecayEstimatorOptions, measure: WeightUpdateMeasure = .relative) {
        self.init(weightUpdate: DecayEstimators.analyze(iterations: iterations, values: weightUpdate, options: options),
                  patternChange: DecayEstimators.analyze(iterations: iterations, values: patternChange, options: options),
                  options: options, measure: measure)
    }

    /// Analyses a trial's recorded curve: `pattern_change` against `weight_update_rel` or its
    /// learning-rate-normalised version.
    public init(curve: Curve, options: DecayEstimatorOptions, measure: WeightUpdateMeasure = .relative) {
        let w: [Double]
        switch measure {
        case .relative: w = curve.weightUpdateRel
        case .learningRateNormalized:
            w = DecayEstimators.learningRateNormalizedWeightUpdate(weightUpdateRel: curve.weightUpdateRel, lr: curve.lr)
        }
        self.init(iterations: curve.iteration, weightUpdate: w, patternChange: curve.patternChange,
                  options: options, measure: measure)
    }

    /// The grid of the threshold rule.
    public var epsilonGrid: [Double] { options.epsilonGrid }

    /// `R(eps)` over the grid, `nil` where undefined (the reasons are in ``threshold``).
    public var ratioCurve: [Double?] { threshold.map(\.ratio.value) }

    /// The comparison of a scalar estimator; `nil` for `.threshold` (use ``threshold`` or
    /// ``comparison(epsilon:)``).
    public func comparison(_ estimator: DecayEstimator) -> TimingComparison? {
        switch estimator {
        case .threshold: return nil
        case .halfLife: return halfLife
        case .knee: return knee
        case .timeConstant: return timeConstant
        case .area: return area
        }
    }

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

// MARK: - Estimators

/// Decay-time estimators of one curve `c_i` recorded at increasing iterations `it_i`, beyond the
/// single threshold/area summary of ``DecayDetector``. Every estimator returns a
/// ``TimeEstimate``: a number, or `censored` / `no_decay` / `not_applicable`, never a made-up
/// value. All times refer to the smoothed curve (trailing average, so they lag the raw curve by
/// about `(w-1)/2` recorded points; `t_w` and `t_a` lag alike).
///
/// Pipeline of ``analyze(iterations:values:options:)`` with `w = smoothing`:
/// 1. For `earlyPeak(window: H, skip: k)` drop the points with `it_i <= k`; smooth the rest,
///    `s = DecayDetector.smooth(c, window: w)`.
/// 2. Reference `r` (see ``DecayNormalization``), normalised curve `n_i = s_i / r`.
/// 3. **Threshold** at every `eps` of the grid: `t(eps) = it_i` for the smallest `i` with
///    `n_j < eps` for all `j >= i` (``DecayDetector/thresholdTime(iterations:normalized:epsilon:)``);
///    censored when the last `n` is not below `eps`. The grid default is `0.02, 0.03, ..., 0.50`
///    (``defaultEpsilonGrid``). `t(eps)` never increases with `eps`; `R(eps) = t_w(eps)/t_a(eps)`
///    need not be monotone.
/// 4. **Half-life**: the threshold rule at `eps = 0.5`.
/// 5. **Area**: the first `it_i` with `cumsum(s)_i >= areaFraction * sum(s)`; censored when the
///    last `n >= 0.5` (as ``DecayDetector``), not_applicable for non-finite values.
/// 6. **Decay start** of the fits: `i0 = max(argmax_i s_i, w - 1)` — after the curve's
///    (global) maximum, and after the first `w - 1` points, whose partial averages are not yet
///    full windows. Fits need every smoothed value to be finite (else not_applicable).
/// 7. **Knee** (``knee(iterations:smoothed:options:)``): a continuous two-segment
///    (hinge) least-squares fit of `y = ln s_i` against `x = it_i` over the points from `i0`
///    to the end with `s_i > 0`: `y = a + b1 min(x - x_k, 0) + b2 max(x - x_k, 0)`, with the
///    break `x_k` searched exhaustively over the recorded points leaving each segment at least
///    `m = max(minimumFitPoints, w)` points (O(1) per break from prefix sums, then an exact refit
///    at the best break). The knee time is `x_k` if, in this order:
///    a. the hinge removes at least `kneeMinimumImprovement` (25%) of the residual sum of squares
///       of one straight line over the same points — else there is one rate throughout:
///       censored if that line falls by `minimumDecayFactor` over the range (the fast phase
///       lasts to the end of the run), no_decay if not;
///    b. `b1 < 0` and `-b1 (x_k - x_first) >= ln(minimumDecayFactor)` (the fast phase falls by
///       that factor, default 2) — else no_decay;
///    c. `b2 >= kneeFlattening * b1` (after the break the curve decays at most half as fast by
///       default, or is flat or rising) — else censored (the decay does not slow down within
///       the run, e.g. it accelerates as under a cosine schedule);
///    d. the break is not the first admissible point — else not_applicable (the fast phase ends
///       at or before it, earlier than the smoothing and `m` can resolve).
///    On noisy single exponentials (multiplicative noise up to sigma = 1 per point, w = 25) the
///    improvement stays below 7%; on two-phase curves whose rate drops by 2x or more it exceeds
///    70%.
/// 8. **Time constant** (``timeConstant(iterations:smoothed:options:)``): the fit range runs
///    from `i0` up to (excluding) the first point with `s_i < timeConstantFloor * max(s)`, or to
///    the end; `slope` = Theil-Sen estimate (median of pairwise slopes) of `ln s` against `it`,
///    over at most `theilSenMaxPoints` points evenly spaced by index. `slope >= 0`: no_decay;
///    `-slope * (x_last - x_first) < ln(minimumDecayFactor)`: censored; else `tau = -1/slope`.
///    Needs `minimumFitPoints` points.
public enum DecayEstimators {
    /// `0.02, 0.03, ..., 0.50` (49 values, each `k/100` rounded once, so it prints as written
    /// and contains the product thresholds 0.05, 0.1, 0.2 and the half-life's 0.5 exactly).
    public static let defaultEpsilonGrid: [Double] = (2...50).map { Double($0) / 100 }

    // MARK: pipeline

    /// All estimates of one curve (see the type's documentation).
    /// - Precondition: `iterations.count == values.count`; options should have passed
    ///   ``DecayEstimatorOptions/validate()``.
    public static func analyze(iterations: [Int], values: [Double], options: DecayEstimatorOptions) -> CurveTiming {
        precondition(iterations.count == values.count,
                     "DecayEstimators.analyze: \(iterations.count) iterations but \(values.count) values")
        let (it, s) = smoothedCurve(iterations: iterations, values: values, options: options)
        let none = TimeEstimate.unavailable(.notApplicable)
        var result = CurveTiming(reference: nil, threshold: options.epsilonGrid.map { _ in none }, halfLife: none,
                                 knee: none, kneeFit: nil, timeConstant: none, exponentialFit: nil, area: none)
        guard !s.isEmpty else { return result }

        if let r = reference(iterations: it, smoothed: s, normalization: options.normalization) {
            result.reference = r
            let n = s.map { $0 / r }
            result.threshold = thresholdTimes(iterations: it, normalized: n, epsilons: options.epsilonGrid)
            result.halfLife = halfLife(iterations: it, normalized: n)
            result.area = areaTime(iterations: it, smoothed: s, normalized: n, fraction: options.areaFraction)
        }
        let k = knee(iterations: it, smoothed: s, options: options)
        result.knee = k.estimate
        result.kneeFit = k.fit
        let e = timeConstant(iterations: it, smoothed: s, options: options)
        result.timeConstant = e.estimate
        result.exponentialFit = e.fit
        return result
    }

    /// Steps 1 of the pipeline: the kept iterations (after an early-peak `skip`) and the
    /// trailing moving average of the kept values.
    public static func smoothedCurve(iterations: [Int], values: [Double], options: DecayEstimatorOptions)
        -> (iterations: [Int], smoothed: [Double]) {
        precondition(iterations.count == values.count, "DecayEstimators.smoothedCurve: length mismatch")
        let skip = options.normalization.skippedIterations
        let first = iterations.firstIndex { $0 > skip } ?? iterations.count
        let it = Array(iterations[first...])
        return (it, DecayDetector.smooth(Array(values[first...]), window: options.smoothing))
    }

    /// The normalisation reference of a smoothed curve, or `nil` when it does not exist or is
    /// not positive and finite.
    public static func reference(iterations: [Int], smoothed: [Double], normalization: DecayNormalization) -> Double? {
        precondition(iterations.count == smoothed.count, "DecayEstimators.reference: length mismatch")
        let r: Double?
        switch normalization {
        case .earlyPeak(let window, let skip):
            r = DecayDetector.earlyPeak(iterations: iterations, smoothed: smoothed, peakWindow: window, peakSkip: skip + 1)
        case .valueAt(let iteration):
            r = iterations.lastIndex { $0 <= iteration }.map { smoothed[$0] }
        }
        guard let r, r.isFinite, r > 0 else { return nil }
        return r
    }

    // MARK: threshold, half-life, area

    /// `t(eps)` for every `eps`; censored where the last normalised value is not below `eps`.
    public static func thresholdTimes(iterations: [Int], normalized: [Double], epsilons: [Double]) -> [TimeEstimate] {
        epsilons.map { eps in
            guard !normalized.isEmpty else { return .unavailable(.notApplicable) }
            return DecayDetector.thresholdTime(iterations: iterations, normalized: normalized, epsilon: eps)
                .map { .time(Double($0)) } ?? .unavailable(.censored)
        }
    }

    /// The first iteration after which the normalised curve stays below 0.5.
    public static func halfLife(iterations: [Int], normalized: [Double]) -> TimeEstimate {
        thresholdTimes(iterations: iterations, normalized: normalized, epsilons: [0.5])[0]
    }

    /// The area rule; censored when the last normalised value is not below 0.5.
    public static func areaTime(iterations: [Int], smoothed: [Double], normalized: [Double], fraction: Double) -> TimeEstimate {
        guard let last = normalized.last else { return .unavailable(.notApplicable) }
        guard last < 0.5 else { return .unavailable(.censored) }
        return DecayDetector.areaTime(iterations: iterations, smoothed: smoothed, fraction: fraction)
            .map { .time(Double($0)) } ?? .unavailable(.notApplicable)
    }

    // MARK: fits

    /// Step 6: the first index of the fits, or the reason there is none (empty curve or a
    /// non-finite smoothed value).
    static func decayStart(_ smoothed: [Double], smoothing: Int) -> (start: Int, peak: Int)? {
        guard !smoothed.isEmpty, smoothed.allSatisfy(\.isFinite) else { return nil }
        var peak = 0
        for i in 1..<smoothed.count where smoothed[i] > smoothed[peak] { peak = i }
        return (Swift.max(peak, smoothing - 1), peak)
    }

    /// The reason for too few points after the decay start: `no_decay` when the curve would have
    /// been long enough had it peaked earlier, else `not_applicable`.
    static func tooFewPoints(count: Int, needed: Int, smoothing: Int) -> TimeEstimate {
        count >= needed + smoothing - 1 ? .unavailable(.noDecay) : .unavailable(.notApplicable)
    }

    /// The knee of a smoothed curve (step 7 of the type's documentation), with the fit that
    /// decided it (`nil` when no fit was possible).
    public static func knee(iterations: [Int], smoothed: [Double], options: DecayEstimatorOptions)
        -> (estimate: TimeEstimate, fit: KneeFit?) {
        precondition(iterations.count == smoothed.count, "DecayEstimators.knee: length mismatch")
        guard let (start, _) = decayStart(smoothed, smoothing: options.smoothing) else {
            return (.unavailable(.notApplicable), nil)
        }
        let segment = Swift.max(options.minimumFitPoints, options.smoothing)
        let needed = 2 * segment - 1
        var x: [Double] = []
        var y: [Double] = []
        var its: [Int] = []
        if start < smoothed.count {
            for i in start..<smoothed.count where smoothed[i] > 0 {
                x.append(Double(iterations[i]))
                y.append(log(smoothed[i]))
                its.append(iterations[i])
            }
        }
        guard x.count >= needed else {
            if smoothed.count - start >= needed { return (.unavailable(.notApplicable), nil) }  // reaches zero
            return (tooFewPoints(count: smoothed.count, needed: needed, smoothing: options.smoothing), nil)
        }
        guard let h = hingeFit(x: x, y: y, minimumSegmentPoints: segment), let line = lineFit(x: x, y: y) else {
            return (.unavailable(.notApplicable), nil)
        }
        let improvement = line.rss > 0 ? 1 - h.rss / line.rss : 0
        let fit = KneeFit(iteration: its[h.breakIndex], firstIteration: its[0], lastIteration: its[its.count - 1],
                          pointsBefore: h.breakIndex + 1, pointsAfter: x.count - h.breakIndex,
                          slopeBefore: h.slopeBefore, slopeAfter: h.slopeAfter, logValueAtKnee: h.valueAtBreak, rss: h.rss,
                          lineSlope: line.slope, improvement: improvement)
        let minimumDrop = log(options.minimumDecayFactor)
        // One straight line is as good: a single rate throughout (decaying: the fast phase lasts
        // to the end; else flat).
        guard improvement >= options.kneeMinimumImprovement else {
            let decays = line.slope < 0 && -line.slope * (x[x.count - 1] - x[0]) >= minimumDrop
            return (.unavailable(decays ? .censored : .noDecay), fit)
        }
        let fastDrop = -h.slopeBefore * (x[h.breakIndex] - x[0])
        guard h.slopeBefore < 0, fastDrop >= minimumDrop else { return (.unavailable(.noDecay), fit) }
        guard h.slopeAfter >= options.kneeFlattening * h.slopeBefore else { return (.unavailable(.censored), fit) }
        // The best break on the first admissible point: the fast phase ends at or before it,
        // earlier than the fit can resolve (the number would be a bound, not a time).
        if h.breakIndex == segment - 1 { return (.unavailable(.notApplicable), fit) }
        return (.time(Double(its[h.breakIndex])), fit)
    }

    /// The exponential time constant of a smoothed curve (step 8 of the type's documentation),
    /// with the fit that decided it (`nil` when no fit was possible).
    public static func timeConstant(iterations: [Int], smoothed: [Double], options: DecayEstimatorOptions)
        -> (estimate: TimeEstimate, fit: ExponentialFit?) {
        precondition(iterations.count == smoothed.count, "DecayEstimators.timeConstant: length mismatch")
        guard let (start, peak) = decayStart(smoothed, smoothing: options.smoothing) else {
            return (.unavailable(.notApplicable), nil)
        }
        let floor = options.timeConstantFloor * smoothed[peak]
        guard smoothed[peak] > 0 else { return (.unavailable(.notApplicable), nil) }
        var end = start
        while end < smoothed.count, smoothed[end] >= floor { end += 1 }
        let reachedFloor = end < smoothed.count
        let points = end - start
        guard points >= options.minimumFitPoints else {
            // Fell below the floor within the smoothing warm-up or right after: too fast to resolve.
            if reachedFloor { return (.unavailable(.notApplicable), nil) }
            return (tooFewPoints(count: smoothed.count, needed: options.minimumFitPoints, smoothing: options.smoothing), nil)
        }
        let used = Swift.min(points, options.theilSenMaxPoints)
        var x = [Double](repeating: 0, count: used)
        var y = [Double](repeating: 0, count: used)
        for j in 0..<used {
            let i = used == points ? start + j : start + j * (points - 1) / (used - 1)
            x[j] = Double(iterations[i])
            y[j] = log(smoothed[i])
        }
        guard let slope = theilSenSlope(x: x, y: y) else { return (.unavailable(.notApplicable), nil) }
        let fit = ExponentialFit(firstIteration: iterations[start], lastIteration: iterations[end - 1], points: points,
                                 pointsUsed: used, slope: slope, reachedFloor: reachedFloor)
        guard slope < 0 else { return (.unavailable(.noDecay), fit) }
        let span = Double(iterations[end - 1] - iterations[start])
        guard -slope * span >= log(options.minimumDecayFactor) else { return (.unavailable(.censored), fit) }
        return (.time(-1 / slope), fit)
    }

    // MARK: numerical building blocks

    /// Theil-Sen slope: the median of `(y_j - y_i) / (x_j - x_i)` over all pairs `i < j` with
    /// `x_i != x_j` (even count: mean of the two middle values). `nil` when there is no such
    /// pair or a value is not finite. O(n^2 log n); subsample long inputs.
    public static func theilSenSlope(x: [Double], y: [Double]) -> Double? {
        precondition(x.count == y.count, "DecayEstimators.theilSenSlope: length mismatch")
        guard x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else { return nil }
        var slopes: [Double] = []
        slopes.reserveCapacity(x.count * (x.count - 1) / 2)
        for i in 0..<x.count {
            for j in (i + 1)..<x.count where x[j] != x[i] {
                slopes.append((y[j] - y[i]) / (x[j] - x[i]))
            }
        }
        guard !slopes.isEmpty else { return nil }
        let n = slopes.count
        return slopes.withUnsafeMutableBufferPointer { buffer -> Double in
            let upper = select(buffer, n / 2)
            guard n % 2 == 0 else { return upper }
            // The lower middle is the largest value left of the upper middle after selection.
            var lower = buffer[0]
            for i in 1..<(n / 2) where buffer[i] > lower { lower = buffer[i] }
            return 0.5 * (lower + upper)
        }
    }

    /// Rearranges `a` so that `a[k]` is the value a full sort would put there, with no larger
    /// value before it and no smaller after (Hoare quickselect, median-of-three pivot; O(n)
    /// expected). Returns `a[k]`. No NaN allowed.
    static func select(_ a: UnsafeMutableBufferPointer<Double>, _ k: Int) -> Double {
        var lo = 0, hi = a.count - 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            // Median of three as the pivot.
            if a[mid] < a[lo] { a.swapAt(mid, lo) }
            if a[hi] < a[lo] { a.swapAt(hi, lo) }
            if a[hi] < a[mid] { a.swapAt(hi, mid) }
            let pivot = a[mid]
            var i = lo, j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j {
                    a.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            // Now a[lo...j] <= pivot <= a[i...hi], and j < i.
            if k <= j { hi = j } else if k >= i { lo = i } else { return a[k] }
        }
        return a[k]
    }

    /// The least-squares line through `(x_i, y_i)` (centred two-pass sums): its slope and
    /// residual sum of squares; `nil` for fewer than two distinct `x`.
    public static func lineFit(x: [Double], y: [Double]) -> (slope: Double, rss: Double)? {
        precondition(x.count == y.count, "DecayEstimators.lineFit: length mismatch")
        guard x.count >= 2 else { return nil }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0
        for i in x.indices {
            sxx += (x[i] - mx) * (x[i] - mx)
            sxy += (x[i] - mx) * (y[i] - my)
        }
        guard sxx > 0 else { return nil }
        let b = sxy / sxx
        var rss = 0.0
        for i in x.indices {
            let r = y[i] - my - b * (x[i] - mx)
            rss += r * r
        }
        return (b, rss)
    }

    /// The least-squares continuous two-segment line through `(x_i, y_i)`.
    public struct HingeFit: Hashable, Sendable {
        /// Index of the break point `x_k` (it belongs to both segments).
        public var breakIndex: Int
        /// Fitted `y` at the break.
        public var valueAtBreak: Double
        public var slopeBefore: Double
        public var slopeAfter: Double
        /// Residual sum of squares.
        public var rss: Double
    }

    /// Fits `y = a + b1 min(x - x_k, 0) + b2 max(x - x_k, 0)` by least squares for every break
    /// `k` with at least `minimumSegmentPoints` points on each side (the break counted on both)
    /// and returns the break of least residual sum of squares (the first on ties), refitted
    /// exactly. `x` must be strictly increasing.
    ///
    /// Each candidate costs O(1): with `x` scaled to [0, 1] and `y` centred, the normal
    /// equations of the three parameters only need the prefix sums of `x, x^2, y, x y`; the
    /// `(u, v)` cross term vanishes because `min(.,0) max(.,0) = 0`. `nil` if there are fewer
    /// than `2 * minimumSegmentPoints - 1` points or a value is not finite.
    public static func hingeFit(x: [Double], y: [Double], minimumSegmentPoints: Int) -> HingeFit? {
        precondition(x.count == y.count, "DecayEstimators.hingeFit: length mismatch")
        precondition(minimumSegmentPoints >= 2, "DecayEstimators.hingeFit: segments need at least 2 points")
        let m = x.count
        guard m >= 2 * minimumSegmentPoints - 1, x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else { return nil }
        let x0 = x[0]
        let span = x[m - 1] - x0
        guard span > 0 else { return nil }
        let yMean = y.reduce(0, +) / Double(m)
        let xs = x.map { ($0 - x0) / span }
        let yc = y.map { $0 - yMean }
        var p1 = [Double](repeating: 0, count: m + 1)
        var p2 = p1, py = p1, pxy = p1
        var syy = 0.0
        for i in 0..<m {
            p1[i + 1] = p1[i] + xs[i]
            p2[i + 1] = p2[i] + xs[i] * xs[i]
            py[i + 1] = py[i] + yc[i]
            pxy[i + 1] = pxy[i] + xs[i] * yc[i]
            syy += yc[i] * yc[i]
        }
        let sy = py[m]
        var best = -1
        var bestRSS = Double.infinity
        for k in (minimumSegmentPoints - 1)...(m - minimumSegmentPoints) {
            let xk = xs[k]
            let nl = Double(k + 1), nr = Double(m - k - 1)
            let sxl = p1[k + 1], sxxl = p2[k + 1], syl = py[k + 1], sxyl = pxy[k + 1]
            let sxr = p1[m] - sxl, sxxr = p2[m] - sxxl, syr = py[m] - syl, sxyr = pxy[m] - sxyl
            let su = sxl - nl * xk, suu = sxxl - 2 * xk * sxl + nl * xk * xk, suy = sxyl - xk * syl
            let sv = sxr - nr * xk, svv = sxxr - 2 * xk * sxr + nr * xk * xk, svy = sxyr - xk * syr
            guard let (a, b1, b2) = solveHinge(n: Double(m), sy: sy, su: su, suu: suu, suy: suy, sv: sv, svv: svv, svy: svy)
            else { continue }
            let rss = syy - a * sy - b1 * suy - b2 * svy
            if rss < bestRSS {
                bestRSS = rss
                best = k
            }
        }
        guard best >= 0 else { return nil }
        // Exact refit at the chosen break (direct sums, no prefix-sum cancellation).
        let xk = xs[best]
        var su = 0.0, suu = 0.0, suy = 0.0, sv = 0.0, svv = 0.0, svy = 0.0
        for i in 0..<m {
            let d = xs[i] - xk
            if d < 0 { su += d; suu += d * d; suy += d * yc[i] } else { sv += d; svv += d * d; svy += d * yc[i] }
        }
        guard let (a, b1, b2) = solveHinge(n: Double(m), sy: sy, su: su, suu: suu, suy: suy, sv: sv, svv: svv, svy: svy)
        else { return nil }
        var rss = 0.0
        for i in 0..<m {
            let d = xs[i] - xk
            let r = yc[i] - (a + (d < 0 ? b1 * d : b2 * d))
            rss += r * r
        }
        return HingeFit(breakIndex: best, valueAtBreak: a + yMean, slopeBefore: b1 / span, slopeAfter: b2 / span, rss: rss)
    }

    /// Solves the normal equations `[[n, su, sv], [su, suu, 0], [sv, 0, svv]] (a, b1, b2) =
    /// (sy, suy, svy)` by eliminating the slopes; `nil` if singular.
    private static func solveHinge(n: Double, sy: Double, su: Double, suu: Double, suy: Double,
                                   sv: Double, svv: Double, svy: Double) -> (Double, Double, Double)? {
        guard suu > 0, svv > 0 else { return nil }
        let d = n - su * su / suu - sv * sv / svv
        guard d > 0, d.isFinite else { return nil }
        let a = (sy - su * suy / suu - sv * svy / svv) / d
        return (a, (suy - a * su) / suu, (svy - a * sv) / svv)
    }

    /// The learning-rate-normalised weight update `||dtheta_t|| / (lr_t ||theta_{t-1}||)` =
    /// `weight_update_rel_t / lr_t`, point by point. Where `lr_t` is not positive and finite the
    /// value is NaN (undefined; the estimators treat it as "not decayed", and a NaN at the end
    /// censors the threshold rule). For plain SGD this is `||g'|| / ||theta||`; for Adam the
    /// norm of the preconditioned direction relative to `||theta||`.
    /// - Precondition: equal lengths.
    public static func learningRateNormalizedWeightUpdate(weightUpdateRel: [Double], lr: [Double]) -> [Double] {
        precondition(weightUpdateRel.count == lr.count,
                     "learningRateNormalizedWeightUpdate: \(weightUpdateRel.count) updates but \(lr.count) rates")
        return zip(weightUpdateRel, lr).map { u, r in r.isFinite && r > 0 ? u / r : .nan }
    }
}

// MARK: - Across seeds

/// How often the activation patterns settle before the weight updates (`t_a < t_w`) over the
/// trials of a group, for one estimator.
///
/// A trial is *decided* when both times are numbers, or exactly one is and the other is
/// `censored` or `no_decay` (that one counts as later: it did not happen within the run). For
/// the time constant only the `no_decay` case decides (a censored `tau` is only known to exceed
/// its own fit span, which need not exceed the other curve's `tau`). Everything else (both
/// missing, or `not_applicable`) is *undecided* and left out of ``fraction``.
///
/// JSON form: `{"ta_first": int, "tw_first": int, "ties": int, "undecided": int,
/// "fraction": x|null}`.
public struct OrderingFraction: Codable, Hashable, Sendable {
    /// Trials with `t_a < t_w`.
    public var taFirst: Int
    /// Trials with `t_w < t_a`.
    public var twFirst: Int
    /// Trials with `t_a == t_w`.
    public var ties: Int
    public var undecided: Int
    /// `taFirst / (taFirst + twFirst + ties)`, `nil` when no trial is decided.
    public var fraction: Double?

    public var decided: Int { taFirst + twFirst + ties }

    /// Counts the comparisons of one estimator.
    public init(_ comparisons: [TimingComparison], estimator: DecayEstimator) {
        taFirst = 0; twFirst = 0; ties = 0; undecided = 0
        func later(_ r: TimingUnavailable) -> Bool {
            estimator == .timeConstant ? r == .noDecay : (r == .censored || r == .noDecay)
        }
        for c in comparisons {
            switch (c.tW, c.tA) {
            case (.time(let w), .time(let a)):
                if a < w { taFirst += 1 } else if w < a { twFirst += 1 } else { ties += 1 }
            case (.unavailable(let r), .time):
                if later(r) { taFirst += 1 } else { undecided += 1 }
            case (.time, .unavailable(let r)):
                if later(r) { twFirst += 1 } else { undecided += 1 }
            default:
                undecided += 1
            }
        }
        let d = taFirst + twFirst + ties
        fraction = d > 0 ? Double(taFirst) / Double(d) : nil
    }

    enum CodingKeys: String, CodingKey {
        case taFirst = "ta_first"
        case twFirst = "tw_first"
        case ties, undecided, fraction
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        taFirst = try c.decode(Int.self, forKey: .taFirst)
        twFirst = try c.decode(Int.self, forKey: .twFirst)
        ties = try c.decode(Int.self, forKey: .ties)
        undecided = try c.decode(Int.self, forKey: .undecided)
        fraction = try c.decodeIfPresent(Double.self, forKey: .fraction)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(taFirst, forKey: .taFirst)
        try c.encode(twFirst, forKey: .twFirst)
        try c.encode(ties, forKey: .ties)
        try c.encode(undecided, forKey: .undecided)
        try c.encodeOrNull(fraction, forKey: .fraction)
    }
}

/// Across the seeds of a group, for one scalar estimator: median and bootstrap intervals of
/// `t_w`, `t_a` and the ratio (missing values counted, not imputed), and the ordering fraction.
public struct EstimatorGroupSummary: Codable, Hashable, Sendable {
    public var tW: BootstrapSummary
    public var tA: BootstrapSummary
    public var ratio: BootstrapSummary
    public var order: OrderingFraction

    public init(tW: BootstrapSummary, tA: BootstrapSummary, ratio: BootstrapSummary, order: OrderingFraction) {
        self.tW = tW
        self.tA = tA
        self.ratio = ratio
        self.order = order
    }

    enum CodingKeys: String, CodingKey {
        case tW = "t_w"
        case tA = "t_a"
        case ratio, order
    }
}

/// The group (one configuration, several seeds) summary of ``TrialTiming``s: for `R(eps)` at
/// every grid point and for each scalar estimator, median and percentile-bootstrap 95% intervals
/// (``BootstrapSummary``), and the fraction of decided trials with `t_a < t_w`
/// (``OrderingFraction``).
///
/// Reproducible: the bootstrap of quantity `q` uses `Xoshiro256(seed: seed, stream: .bootstrap,
/// index: q)` with `q = k` for `R(eps_k)` and `q = 10_000 + 3 e + {0: t_w, 1: t_a, 2: ratio}`
/// for the scalar estimator at position `e` of `[half_life, knee, time_constant, area]`; the
/// trials are used in the order given (sort them, e.g. by seed, before calling).
///
/// JSON form: `{"trials": int, "seed": int, "resamples": int, "level": 0.95, "epsilon": [...],
/// "threshold_ratio": [BootstrapSummary...], "threshold_order": [OrderingFraction...],
/// "half_life": EstimatorGroupSummary, "knee": ..., "time_constant": ..., "area": ...}`.
public struct TimingGroupSummary: Codable, Hashable, Sendable {
    public var trials: Int
    public var seed: UInt64
    public var resamples: Int
    public var level: Double
    public var epsilon: [Double]
    /// `R(eps)` across the trials at each grid point.
    public var thresholdRatio: [BootstrapSummary]
    /// The ordering fraction of the threshold rule at each grid point.
    public var thresholdOrder: [OrderingFraction]
    public var halfLife: EstimatorGroupSummary
    public var knee: EstimatorGroupSummary
    public var timeConstant: EstimatorGroupSummary
    public var area: EstimatorGroupSummary

    /// Thrown when the trials of a group were analysed with different epsilon grids.
    public struct GridMismatch: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Summarises `trials` (all analysed with the same epsilon grid; an empty group gives
    /// empty summaries with `n = 0`).
    public init(_ trials: [TrialTiming], seed: UInt64, resamples: Int = Bootstrap.defaultResamples,
                level: Double = Bootstrap.defaultLevel) throws {
        let grid = trials.first?.epsilonGrid ?? []
        if let bad = trials.firstIndex(where: { $0.epsilonGrid != grid }) {
            throw GridMismatch(description: "TimingGroupSummary: trial \(bad) has epsilon grid \(trials[bad].epsilonGrid), "
                               + "trial 0 has \(grid)")
        }
        self.trials = trials.count
        self.seed = seed
        self.resamples = resamples
        self.level = level
        epsilon = grid
        thresholdRatio = grid.indices.map { k in
            BootstrapSummary(trials.map { $0.threshold[k].ratio.value }, seed: seed, index: UInt64(k),
                             resamples: resamples, level: level)
        }
        thresholdOrder = grid.indices.map { k in OrderingFraction(trials.map { $0.threshold[k] }, estimator: .threshold) }
        func summary(_ e: DecayEstimator, _ position: UInt64) -> EstimatorGroupSummary {
            let cs = trials.map { $0.comparison(e)! }
            let base = 10_000 + 3 * position
            return EstimatorGroupSummary(
                tW: BootstrapSummary(cs.map(\.tW.value), seed: seed, index: base, resamples: resamples, level: level),
                tA: BootstrapSummary(cs.map(\.tA.value), seed: seed, index: base + 1, resamples: resamples, level: level),
                ratio: BootstrapSummary(cs.map(\.ratio.value), seed: seed, index: base + 2, resamples: resamples, level: level),
                order: OrderingFraction(cs, estimator: e))
        }
        halfLife = summary(.halfLife, 0)
        knee = summary(.knee, 1)
        timeConstant = summary(.timeConstant, 2)
        area = summary(.area, 3)
    }

    /// The summary of a scalar estimator; `nil` for `.threshold`.
    public func estimator(_ e: DecayEstimator) -> EstimatorGroupSummary? {
        switch e {
        case .threshold: return nil
        case .halfLife: return halfLife
        case .knee: return knee
        case .timeConstant: return timeConstant
        case .area: return area
        }
    }

    enum CodingKeys: String, CodingKey {
        case trials, seed, resamples, level, epsilon
        case thresholdRatio = "threshold_ratio"
        case thresholdOrder = "threshold_order"
        case halfLife = "half_life"
        case knee
        case timeConstant = "time_constant"
        case area
    }
}

