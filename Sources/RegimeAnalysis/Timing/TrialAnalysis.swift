import Foundation
import RegimeCore

/// The analysis of one finished trial's curve: everything `regime analyze` recomputes from
/// `curves/<trial_id>.csv` without training. One line of a sweep's `timing.jsonl`; its keys join
/// the training result in `regime train`'s `result.json`.
///
/// - `decay`: the summary thresholds and the area rule, keyed `"0.05"`, ..., `"auc90"`
///   (``DecayRules/epsilonKey(_:)``, ``DecayRules/areaKey(_:)``), each a ``TimingComparison`` of
///   the threshold rule of ``DecayEstimators`` (the same numbers as `timing.threshold` at those
///   grid points);
/// - `timing`: every estimator on `weight_update_rel` against `pattern_change`;
/// - `timing_lr_normalized`: the same with the learning-rate-normalised weight update;
/// - `settling`: the settling times to the final state per fraction q of `options.settling`,
///   keyed `"0.5"`, ... (``SettlingTimes``), from the trial's settling curve (absent without one).
public struct TrialAnalysis: Codable, Equatable, Sendable {
    public var trialID: String
    public var decay: [String: TimingComparison]
    public var timing: TrialTiming
    public var timingLRNormalized: TrialTiming
    public var settling: [String: TimingComparison]?

    /// Analyses `curve` (and `settling`, the trial's settling curve, when it has one) with
    /// `options` (which should have passed ``AnalysisOptions/validate()``).
    public init(trialID: String, curve: Curve, settling: SettlingCurve? = nil, options: AnalysisOptions) {
        self.trialID = trialID
        timing = TrialTiming(curve: curve, options: options, measure: .relative)
        timingLRNormalized = TrialTiming(curve: curve, options: options, measure: .learningRateNormalized)
        decay = timing.decay(thresholds: options.thresholds)
        self.settling = settling.map { SettlingTimes.comparisons($0, fractions: options.settling) }
    }

    /// An analysis read back: `decay` follows from `timing` and its options.
    public init(trialID: String, timing: TrialTiming, timingLRNormalized: TrialTiming,
                settling: [String: TimingComparison]? = nil) {
        self.trialID = trialID
        self.timing = timing
        self.timingLRNormalized = timingLRNormalized
        decay = timing.decay(thresholds: timing.options.thresholds)
        self.settling = settling
    }

    enum CodingKeys: String, CodingKey {
        case trialID = "trial_id", decay, timing, timingLRNormalized = "timing_lr_normalized", settling
    }
}

extension TrialTiming {
    /// The comparisons at `thresholds` (each on the grid) and of the area rule, keyed as in
    /// ``TrialAnalysis/decay``.
    public func decay(thresholds: [Double]) -> [String: TimingComparison] {
        var keyed: [String: TimingComparison] = [:]
        for eps in thresholds {
            if let c = comparison(epsilon: eps) { keyed[DecayRules.epsilonKey(eps)] = c }
        }
        keyed[DecayRules.areaKey(options.areaFraction)] = area
        return keyed
    }
}

/// A training result with its analysis, as one flat JSON object (`regime train`'s `result.json`):
/// the keys of ``TrialResult`` followed by `decay`, `timing`, `timing_lr_normalized` and `settling`
/// (null for a trial that did not finish).
public struct AnalysedTrial: Codable, Equatable, Sendable {
    public var result: TrialResult
    public var analysis: TrialAnalysis?

    /// Analyses `curve` (and `settling`) when the trial finished (`ok`); otherwise there is nothing to time.
    public init(result: TrialResult, curve: Curve?, settling: SettlingCurve? = nil, options: AnalysisOptions) {
        self.result = result
        analysis = result.status == .ok
            ? curve.map { TrialAnalysis(trialID: result.trialID, curve: $0, settling: settling, options: options) } : nil
    }

    enum CodingKeys: String, CodingKey { case decay, timing, timingLRNormalized = "timing_lr_normalized", settling }

    public init(from decoder: Decoder) throws {
        result = try TrialResult(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let timing = try c.decodeIfPresent(TrialTiming.self, forKey: .timing),
           let normalized = try c.decodeIfPresent(TrialTiming.self, forKey: .timingLRNormalized) {
            analysis = TrialAnalysis(trialID: result.trialID, timing: timing, timingLRNormalized: normalized,
                                     settling: try c.decodeIfPresent([String: TimingComparison].self, forKey: .settling))
        }
    }

    public func encode(to encoder: Encoder) throws {
        try result.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeOrNull(analysis?.decay, forKey: .decay)
        try c.encodeOrNull(analysis?.timing, forKey: .timing)
        try c.encodeOrNull(analysis?.timingLRNormalized, forKey: .timingLRNormalized)
        try c.encodeOrNull(analysis?.settling, forKey: .settling)
    }
}
