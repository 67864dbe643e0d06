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
    public struct Measure: Codable {
        public var tW: SampleSummary
        public var tA: SampleSummary
        public var ratio: SampleSummary
        public var ordering: OrderingFraction
        enum CodingKeys: String, CodingKey { case tW = "t_w", tA = "t_a", ratio, ordering = "t_a_before_t_w" }
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
        public var curves: String
        enum CodingKeys: String, CodingKey {
            case groupID = "group_id", label, params, seeds, trials, ok, diverged, failed,
                 finalValAccuracy = "final_val_accuracy", decay, timing, timingLRNormalized = "timing_lr_normalized", curves
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
        "Means, sd and 95% Student-t confidence intervals exclude censored values (a curve that never stays below the threshold) and trials that diverged or failed; 'censored' counts them.",
        "ratio = t_w / t_a per trial; its statistics are over the trials where both times were measured.",
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
                                     ratio: SampleSummary(comparisons.map { $0?.ratio.value }),
                                     ordering: OrderingFraction(measured, estimator: .threshold))
                overall[key, default: []] += measured
            }
            summaryGroups.append(Group(
                groupID: group.id, label: group.label, params: group.spec,
                seeds: group.trialIndices.map { trials[$0].seed }, trials: group.trialIndices.count,
                ok: okIndices.count, diverged: members.filter { $0.status == .diverged }.count,
                failed: members.filter { $0.status == .failed }.count,
                finalValAccuracy: SampleSummary(okIndices.map { results[$0]?.finalValAccuracy }),
                decay: decay,
                timing: try? TimingGroupSummary(okAnalyses.map(\.timing), seed: bootstrapSeed),
                timingLRNormalized: try? TimingGroupSummary(okAnalyses.map(\.timingLRNormalized), seed: bootstrapSeed),
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

    public static func format(_ x: Double?) -> String { x.map { $0.isFinite ? "\($0)" : "nan" } ?? "" }

    public func csv() -> String {
        var lines = ["group_id,label,measure,trials,ok," + ["t_w", "t_a", "ratio"].map { m in
            ["n", "censored", "mean", "sd", "ci_low", "ci_high"].map { "\(m)_\($0)" }.joined(separator: ",")
        }.joined(separator: ",") + ",t_a_before_t_w_fraction,final_val_accuracy_mean,final_val_accuracy_ci_low,final_val_accuracy_ci_high"]
        for group in groups {
            for key in group.decay.keys.sorted(by: Self.measureOrder) {
                let m = group.decay[key]!
                var fields = [group.groupID, "\"\(group.label)\"", key, "\(group.trials)", "\(group.ok)"]
                for s in [m.tW, m.tA, m.ratio] {
                    fields += ["\(s.n)", "\(s.censored)", Self.format(s.mean), Self.format(s.sd), Self.format(s.ciLow), Self.format(s.ciHigh)]
                }
                fields += [Self.format(m.ordering.fraction), Self.format(group.finalValAccuracy.mean),
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

    /// The table printed at the end of a sweep and by `regime summary`.
    public func table() -> String {
        func value(_ s: SampleSummary, digits: Int) -> String {
            guard let mean = s.mean else { return "censored" + (s.censored > 0 ? " (\(s.censored))" : "") }
            var text = String(format: "%.\(digits)f", mean)
            if let lo = s.ciLow, let hi = s.ciHigh { text += String(format: " [%.\(digits)f, %.\(digits)f]", lo, hi) }
            text += " n=\(s.n)"
            if s.censored > 0 { text += " +\(s.censored) cens." }
            return text
        }
        var out = ["sweep \(sweep): \(finished)/\(trials) trials finished, \(ok) ok, \(diverged) diverged, \(failed) failed",
                   "mean [95% CI] over seeds; censored = never stayed below the threshold within the run (excluded from the mean)"]
        for group in groups {
            out.append("")
            out.append("group \(group.groupID): \(group.label)  (\(group.ok)/\(group.trials) ok)")
            out.append("  final val accuracy: \(value(group.finalValAccuracy, digits: 4))")
            out.append("  " + ["measure", "t_a (patterns)", "t_w (weights)", "ratio t_w/t_a", "t_a<t_w"]
                .enumerated().map { $0.element.padding(toLength: [8, 30, 30, 30, 8][$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: " "))
            for key in group.decay.keys.sorted(by: Self.measureOrder) {
                let m = group.decay[key]!
                let ordering = m.ordering.decided > 0 ? "\(m.ordering.taFirst)/\(m.ordering.decided)" : "-"
                let cells = [key, value(m.tA, digits: 0), value(m.tW, digits: 0), value(m.ratio, digits: 2), ordering]
                out.append("  " + cells.enumerated().map { $0.element.padding(toLength: [8, 30, 30, 30, 8][$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: " "))
            }
            if let timing = group.timing { out += Self.estimatorRows(timing) }
        }
        return out.joined(separator: "\n")
    }
}
