import Foundation
import RegimeCore

/// Cross-seed statistics of a sweep (`summary.json`, `summary.csv`, the printed table).
///
/// Per group (trials equal but for the seed): Student-t mean, sd and 95% CI of `t_a`, `t_w`,
/// `ratio` per threshold and for the area rule, and of the final validation accuracy. Censored
/// times (never stayed below the threshold) and trials that diverged or failed are counted and
/// excluded from the means, never replaced by a number. Trials are taken in sweep order, so the
/// numbers do not depend on the order in which they finished.
public struct SweepSummary: Codable {
    /// The two times of one summary measure (mean and Student-t interval of each time, for the
    /// report's markers) and the ordering; the ratio's statistics are in ``Group/definitions``
    /// (log scale and order statistics: a ratio is never averaged on a linear scale).
    public struct Measure: Codable {
        public var tW: SampleSummary
        public var tA: SampleSummary
        public var ordering: OrderingFraction
        enum CodingKeys: String, CodingKey { case tW = "t_w", tA = "t_a", ordering = "t_a_before_t_w" }
    }

    public struct Group: Codable {
        public var groupID: String
        public var label: String
        public var params: TrialSpec
        public var seeds: [UInt64]
        public var trials: Int
        public var ok: Int
        public var diverged: Int
        public var failed: Int
        public var finalValAccuracy: SampleSummary
        /// Keyed like `decay` in timing.jsonl: each threshold as a string, and the area rule's key.
        public var decay: [String: Measure]
        /// Robust estimators across seeds: medians with seeded bootstrap 95% CIs (docs/decay-estimators.md).
        public var timing: TimingGroupSummary?
        public var timingLRNormalized: TimingGroupSummary?
        /// Every timing definition's ratio statistics (log scale, order statistics, censoring).
        public var definitions: [DefinitionSummary]
        /// Whether patterns settle before weights: yes / no / undecided (``Verdict``).
        public var verdict: Verdict
        public var curves: String
        /// The definition of a `decay` key: `"0.1"` is `threshold 0.1`, `"auc90"` the area rule.
        public func definition(forDecayKey key: String) -> DefinitionSummary? {
            let name = Double(key) != nil ? "threshold \(key)" : "area"
            return definitions.first { $0.definition == name }
        }

        enum CodingKeys: String, CodingKey {
            case groupID = "group_id", label, params, seeds, trials, ok, diverged, failed,
                 finalValAccuracy = "final_val_accuracy", decay, timing, timingLRNormalized = "timing_lr_normalized",
                 definitions, verdict, curves
        }
    }

    public var sweep: String
    /// The analysis settings the summary was computed with.
    public var analysis: AnalysisOptions
    public var trials: Int
    public var finished: Int
    public var ok: Int
    public var diverged: Int
    public var failed: Int
    public var groups: [Group]
    /// Over all groups and seeds, per measure: how often t_a < t_w (``OrderingFraction``).
    public var taBeforeTw: [String: OrderingFraction]
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case sweep, analysis, trials, finished, ok, diverged, failed, groups, taBeforeTw = "t_a_before_t_w", notes
    }

    /// Seed of every bootstrap resampling in a summary: fixed, so a summary is reproducible.
    public static let bootstrapSeed: UInt64 = 20_260_208

    static let notesText = [
        "decay: per summary measure, mean and 95% Student-t interval of each time over the trials that measured it (censored and failed trials counted, excluded); ratios are not averaged here.",
        "definitions: per timing definition, t_w/t_a as median with an exact order-statistic interval stating its real coverage, geometric mean with a t interval on the log scale, censoring-aware median bounds, an exact sign test of t_a < t_w (a censored time counts as later), and censoring counts; verdict: yes / no / undecided (docs/decay-estimators.md).",
        "t_a_before_t_w counts trials with t_a < t_w; a censored time counts as later than a measured one (OrderingFraction).",
        "groups/<group_id>.csv: per recorded iteration, mean and sample sd across seeds of each instrument (trials in sweep order).",
        "timing: robust estimators (R(eps) over a grid, half-life, knee, time constant, area) per group as median with a seeded percentile-bootstrap 95% CI (2000 resamples); 'missing' counts seeds where an estimator did not apply (censored, no decay).",
    ]

    /// The summary of a sweep named `name` with trials `trials` (grouped as `groups`), from the
    /// training results and analyses indexed like `trials` (`nil`: not finished / not analysed).
    public static func make(name: String, trials: [TrialSpec], groups: [TrialGroup], results: [TrialResult?],
                            analyses: [TrialAnalysis?], options: AnalysisOptions) -> SweepSummary {
        var keys = options.thresholds.map(DecayRules.epsilonKey)
        keys.append(DecayRules.areaKey(options.areaFraction))
        var summaryGroups: [Group] = []
        var overall: [String: [TimingComparison]] = [:]
        for group in groups {
            let members = group.trialIndices.compactMap { results[$0] }
            let okIndices = group.trialIndices.filter { results[$0]?.status == .ok }
            let okAnalyses = okIndices.compactMap { analyses[$0] }
            var decay: [String: Measure] = [:]
            for key in keys {
                let comparisons = okIndices.map { analyses[$0]?.decay[key] }
                let measured = comparisons.compactMap { $0 }
                decay[key] = Measure(tW: SampleSummary(comparisons.map { $0?.tW.value }),
                                     tA: SampleSummary(comparisons.map { $0?.tA.value }),
                                     ordering: OrderingFraction(measured, estimator: .threshold))
                overall[key, default: []] += measured
            }
            let definitions = Self.definitions(okIndices.compactMap { analyses[$0] },
                                               runLengths: okIndices.compactMap { analyses[$0] == nil ? nil : Double(trials[$0].iterations) },
                                               options: options)
            let primary = "threshold \(DecayRules.epsilonKey(options.thresholds[(options.thresholds.count - 1) / 2]))"
            summaryGroups.append(Group(
                groupID: group.id, label: group.label, params: group.spec,
                seeds: group.trialIndices.map { trials[$0].seed }, trials: group.trialIndices.count,
                ok: okIndices.count, diverged: members.filter { $0.status == .diverged }.count,
                failed: members.filter { $0.status == .failed }.count,
                finalValAccuracy: SampleSummary(okIndices.map { results[$0]?.finalValAccuracy }),
                decay: decay,
                timing: try? TimingGroupSummary(okAnalyses.map(\.timing), seed: bootstrapSeed),
                timingLRNormalized: try? TimingGroupSummary(okAnalyses.map(\.timingLRNormalized), seed: bootstrapSeed),
                definitions: definitions, verdict: Verdict(definitions, primary: primary),
                curves: "groups/\(group.id).csv"))
        }
        let finished = results.compactMap { $0 }
        return SweepSummary(sweep: name, analysis: options, trials: trials.count, finished: finished.count,
                            ok: finished.filter { $0.status == .ok }.count,
                            diverged: finished.filter { $0.status == .diverged }.count,
                            failed: finished.filter { $0.status == .failed }.count,
                            groups: summaryGroups,
                            taBeforeTw: overall.mapValues { OrderingFraction($0, estimator: .threshold) },
                            notes: notesText)
    }

    // MARK: Files

    public static func format(_ x: Double?) -> String { x.map { $0.isFinite ? "\($0)" : ($0.isNaN ? "nan" : ($0 > 0 ? "inf" : "-inf")) } ?? "" }

    /// One row per group and timing definition (the definition table of ``table()``).
    public func csv() -> String {
        var lines = ["group_id,label,group_verdict,definition,call,transient,trials,both_measured,tw_censored,ta_censored,"
            + "both_censored,not_applicable,t_a_median,t_w_median,ratio_median,ratio_ci_low,ratio_ci_high,ratio_ci_coverage,"
            + "ratio_median_bound_low,ratio_median_bound_high,geometric_mean,geometric_ci_low,geometric_ci_high,sign_test_p,"
            + "final_val_accuracy_mean,final_val_accuracy_ci_low,final_val_accuracy_ci_high"]
        for group in groups {
            for d in group.definitions {
                let r = d.ratio
                let fields = [group.groupID, "\"\(group.label)\"", group.verdict.call.rawValue, d.definition, d.call.rawValue,
                              "\(d.transient)", "\(r.trials)", "\(r.bothMeasured)", "\(r.twCensored)", "\(r.taCensored)",
                              "\(r.bothCensored)", "\(r.notApplicable)", Self.format(r.tA.median.median), Self.format(r.tW.median.median),
                              Self.format(r.median.median), Self.format(r.median.interval.low), Self.format(r.median.interval.high),
                              Self.format(r.median.interval.coverage), Self.format(r.medianBounds.medianLow),
                              Self.format(r.medianBounds.medianHigh), Self.format(r.geometricMean.geometricMean),
                              Self.format(r.geometricMean.interval.low), Self.format(r.geometricMean.interval.high),
                              Self.format(r.signTest.pValue), Self.format(group.finalValAccuracy.mean),
                              Self.format(group.finalValAccuracy.ciLow), Self.format(group.finalValAccuracy.ciHigh)]
                lines.append(fields.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One row per robust estimator, and R(eps) at a few grid points: median [bootstrap 95% CI].
    public static func estimatorRows(_ timing: TimingGroupSummary) -> [String] {
        func cell(_ b: BootstrapSummary, digits: Int) -> String {
            guard let median = b.median else { return "n/a" + (b.missing > 0 ? " (\(b.missing) missing)" : "") }
            var text = String(format: "%.\(digits)f", median)
            if let lo = b.medianLow, let hi = b.medianHigh { text += String(format: " [%.\(digits)f, %.\(digits)f]", lo, hi) }
            text += " n=\(b.n)"
            if b.missing > 0 { text += " +\(b.missing) miss." }
            return text
        }
        func order(_ o: OrderingFraction) -> String { o.decided > 0 ? "\(o.taFirst)/\(o.decided)" : "-" }
        let widths = [14, 30, 30, 30, 8]
        func row(_ cells: [String]) -> String {
            "  " + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " ")
        }
        var rows = ["  robust estimators, median [bootstrap 95% CI] over seeds:",
                    row(["estimator", "t_a (patterns)", "t_w (weights)", "ratio t_w/t_a", "t_a<t_w"])]
        for (name, e) in [("half_life", timing.halfLife), ("knee", timing.knee), ("time_constant", timing.timeConstant),
                          ("area", timing.area)] {
            rows.append(row([name, cell(e.tA, digits: 0), cell(e.tW, digits: 0), cell(e.ratio, digits: 2), order(e.order)]))
        }
        for eps in [0.05, 0.1, 0.2, 0.3, 0.5] {
            guard let k = timing.epsilon.firstIndex(where: { abs($0 - eps) < 1e-12 }) else { continue }
            rows.append(row(["R(\(DecayRules.epsilonKey(eps)))", "", "", cell(timing.thresholdRatio[k], digits: 2),
                             order(timing.thresholdOrder[k])]))
        }
        return rows
    }

    /// Thresholds in numeric order, then the area rule.
    public static func measureOrder(_ a: String, _ b: String) -> Bool {
        switch (Double(a), Double(b)) {
        case let (x?, y?): return x < y
        case (_?, nil): return true
        case (nil, _?): return false
        default: return a < b
        }
    }

    /// The table printed at the end of a sweep and by `regime summary`: the verdicts first, then
    /// per group its definition table.
    public func table() -> String {
        var out = ["sweep \(sweep): \(finished)/\(trials) trials finished, \(ok) ok, \(diverged) diverged, \(failed) failed",
                   "Do activation patterns settle before weight updates? (docs/decay-estimators.md, \"The verdict\")"]
        for group in groups { out.append("  \(group.groupID): \(group.verdict.line)") }
        let widths = [16, 24, 24, 44, 28, 9, 12]
        func row(_ cells: [String]) -> String {
            "  " + cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: " ")
        }
        func time(_ t: TimeSummary) -> String {
            var text = t.median.median.map { String(format: "%.0f", $0) } ?? "n/a"
            if let lo = t.median.interval.low, let hi = t.median.interval.high { text += String(format: " [%.0f, %.0f]", lo, hi) }
            if t.censored + t.noDecay > 0 { text += " +\(t.censored + t.noDecay) cens." }
            return text
        }
        for group in groups {
            out.append("")
            out.append("group \(group.groupID): \(group.label)  (\(group.ok)/\(group.trials) ok)")
            out.append("  final val accuracy: " + (group.finalValAccuracy.mean.map { String(format: "%.4f", $0) } ?? "n/a")
                       + (group.finalValAccuracy.ciLow.map { lo in String(format: " [%.4f, %.4f]", lo, group.finalValAccuracy.ciHigh!) } ?? "")
                       + " n=\(group.finalValAccuracy.n)")
            out.append(row(["definition", "t_a median (patterns)", "t_w median (weights)", "ratio t_w/t_a: median [CI] (coverage)",
                            "geometric mean [CI]", "sign p", "call"]))
            for d in group.definitions {
                let g = d.ratio.geometricMean
                var geo = g.geometricMean.map { String(format: "%.2f", $0) } ?? "n/a"
                if let lo = g.interval.low, let hi = g.interval.high { geo += String(format: " [%.2f, %.2f]", lo, hi) }
                let censored = d.ratio.twCensored + d.ratio.taCensored + d.ratio.bothCensored
                let call = d.transient ? "transient" : d.call.rawValue
                out.append(row([d.definition, time(d.ratio.tA), time(d.ratio.tW),
                                Verdict.describe(d.ratio.median) + (censored > 0 ? " +\(censored) cens." : ""),
                                geo, String(format: "%.3g", d.ratio.signTest.pValue), call]))
            }
        }
        out.append("")
        out.append("Ratios: median with an exact order-statistic interval (its real coverage; none below 6 seeds at 95%), geometric mean with a Student-t interval on log(t_w/t_a); censored times are counted, never averaged in (t_w censored: the ratio is at least T/t_a).")
        return out.joined(separator: "\n")
    }
}
