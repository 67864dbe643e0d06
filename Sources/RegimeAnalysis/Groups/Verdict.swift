import Foundation
import RegimeCore

/// One way of timing the two curves, across the seeds of a group: the ratio statistics of
/// ``RatioSummary`` and whether its times are too early to mean anything.
public struct DefinitionSummary: Codable, Hashable, Sendable {
    /// `threshold 0.1`, `area`, `half_life`, `knee`, ...
    public var definition: String
    public var ratio: RatioSummary
    /// Set when the median `t_a` or `t_w` falls inside the reference window (at or before its
    /// last iteration): such a time is set by the first iterations of the run, not by the decay.
    public var transient: Bool
    /// What this definition says on its own (``Verdict/Call``).
    public var call: Verdict.Call

    public init(definition: String, ratio: RatioSummary, referenceEnd: Int) {
        self.definition = definition
        self.ratio = ratio
        let early = [ratio.tA.median.median, ratio.tW.median.median].contains { t in t.map { $0 <= Double(referenceEnd) } ?? false }
        transient = early
        call = early ? .undecided : Verdict.call(ratio)
    }
}

/// Whether activation patterns settle before weight updates, per group, said plainly and erring
/// towards "undecided" (docs/decay-estimators.md, "The verdict").
///
/// Per definition (``Verdict/call(_:)``):
/// - **yes** (patterns settle first) when the geometric-mean interval of `t_w/t_a` lies above 1,
///   the censoring-aware median bound lies above 1, and the exact sign test of `t_a < t_w` gives
///   p < 0.05 (so at least 5 decided seeds are needed);
/// - **no** when the geometric-mean interval lies below ``noSeparation`` (1.5): whatever the
///   order, the separation is smaller than the hypothesis's two timescales (the paper reports
///   about 3x), so the data rule it out; this is checked first, so a significant but tiny
///   separation (1.01 [1.00, 1.01]) is a "no", not a "yes";
/// - **undecided** otherwise, and for any definition flagged as transient.
///
/// The group says **yes** (or **no**) when at least two thirds of its definitions say so and none
/// says the other; otherwise **undecided**.
public struct Verdict: Codable, Hashable, Sendable {
    public enum Call: String, Codable, Sendable { case yes, no, undecided }

    /// Below this ratio a separation is too small to be the hypothesised two-timescale change.
    public static let noSeparation = 1.5
    /// Significance of the one-sided sign test for a "yes".
    public static let signTestAlpha = 0.05

    public var call: Call
    public var agreeing: Int
    public var definitions: Int
    /// The definition whose ratio the line quotes (the middle summary threshold).
    public var primary: String
    /// Its median ratio over seeds with both times, and interval.
    public var primaryMedian: MedianSummary?
    /// One plain line, e.g. `undecided: 2 of 6 definitions say yes, 1 no; threshold 0.1 median t_w/t_a 1.04 [0.91, 1.20] (97.9% coverage)`.
    public var line: String

    public static func call(_ r: RatioSummary) -> Call {
        let interval = r.geometricMean.interval
        guard let low = interval.low, let high = interval.high else { return .undecided }
        let boundLow = r.medianBounds.medianLow ?? 0
        // A separation smaller than the hypothesis's is a "no" even when its order is significant
        // (measured: the area rule's 1.01 [1.00, 1.01] for SGD at T = 6000).
        if high < noSeparation { return .no }
        if low > 1, boundLow > 1, r.signTest.pValue < signTestAlpha { return .yes }
        return .undecided
    }

    public init(_ definitions: [DefinitionSummary], primary: String) {
        let yes = definitions.filter { $0.call == .yes }.count
        let no = definitions.filter { $0.call == .no }.count
        let m = definitions.count
        if m > 0, yes * 3 >= 2 * m, no == 0 { call = .yes; agreeing = yes }
        else if m > 0, no * 3 >= 2 * m, yes == 0 { call = .no; agreeing = no }
        else { call = .undecided; agreeing = max(yes, no) }
        self.definitions = m
        self.primary = primary
        let p = definitions.first { $0.definition == primary }
        primaryMedian = p?.ratio.median
        var text = "\(call.rawValue): \(yes) of \(m) definitions say patterns settle first, \(no) rule it out"
        if let p {
            text += "; \(primary) median t_w/t_a " + Self.describe(p.ratio.median)
        }
        line = text
    }

    /// `1.04 [0.91, 1.20] (97.9% coverage)`, or the reason there is no interval.
    public static func describe(_ m: MedianSummary) -> String {
        guard let median = m.median else { return "n/a (n = \(m.n))" }
        var text = String(format: "%.2f", median)
        if let lo = m.interval.low, let hi = m.interval.high, let c = m.interval.coverage {
            text += String(format: " [%.2f, %.2f] (%.1f%% coverage)", lo, hi, 100 * c)
        } else if let reason = m.interval.unavailableReason {
            text += " (no interval: \(reason.rawValue), n = \(m.n))"
        }
        return text
    }
}

extension SweepSummary {
    /// The definitions of a group in table order: the threshold rule at each summary threshold,
    /// the area rule, the half-life and the knee (`weight_update_rel` against `pattern_change`),
    /// then settling to the final state at each fraction of `options.settling`.
    static func definitions(_ analyses: [TrialAnalysis], runLengths: [Double], options: AnalysisOptions) -> [DefinitionSummary] {
        let referenceEnd: Int
        switch options.normalization {
        case .earlyPeak(let window, _): referenceEnd = window
        case .valueAt(let iteration): referenceEnd = iteration
        case .fractionOfRun(let f): referenceEnd = Int(f * (runLengths.max() ?? 0))
        }
        // The summary measures come from each trial's `decay` view (the same numbers as `timing`).
        var rows: [(String, [TimingComparison])] = options.thresholds.map { eps in
            let key = DecayRules.epsilonKey(eps)
            return ("threshold \(key)", analyses.map { $0.decay[key] ?? TimingComparison(tW: .unavailable(.notApplicable), tA: .unavailable(.notApplicable)) })
        }
        let areaKey = DecayRules.areaKey(options.areaFraction)
        rows.append(("area", analyses.map { $0.decay[areaKey] ?? $0.timing.area }))
        rows.append(("half_life", analyses.map(\.timing.halfLife)))
        rows.append(("knee", analyses.map(\.timing.knee)))
        var table = rows.map { name, comparisons in
            DefinitionSummary(definition: name, ratio: RatioSummary(comparisons, runLengths: runLengths), referenceEnd: referenceEnd)
        }
        // Settling to the final state, when the trials have settling curves: no reference window,
        // so no time of theirs is "transient" (referenceEnd 0).
        if analyses.contains(where: { $0.settling != nil }) {
            table += options.settling.map { q in
                let comparisons = analyses.map {
                    $0.settling?[SettlingTimes.key(q)] ?? TimingComparison(tW: .unavailable(.notApplicable), tA: .unavailable(.notApplicable))
                }
                return DefinitionSummary(definition: SettlingTimes.definitionName(q),
                                         ratio: RatioSummary(comparisons, runLengths: runLengths), referenceEnd: 0)
            }
        }
        return table
    }
}
