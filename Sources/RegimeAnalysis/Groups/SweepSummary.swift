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
    /// Groups that differ only in `gates.freeze_at` (``FreezeCurve``); nil (absent) when none.
    public var freezeCurves: [FreezeCurve]?

    enum CodingKeys: String, CodingKey {
        case sweep, analysis, trials, finished, ok, diverged, failed, groups, taBeforeTw = "t_a_before_t_w", notes,
             freezeCurves = "freeze_curves"
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

    /// What the summary needs of a trial's training result.
    public struct TrialOutcome: Sendable, Equatable {
        public var status: TrialResult.Status
        public var finalValAccuracy: Double?
        public init(_ result: TrialResult) { status = result.status; finalValAccuracy = result.finalValAccuracy }
    }

    /// Counts over the finished trials of a sweep (the summary's top-level numbers).
    public struct Totals: Sendable, Equatable {
        public var trials: Int
        public var finished = 0, ok = 0, diverged = 0, failed = 0

        public init(trials: Int, outcomes: [TrialOutcome?]) {
            self.trials = trials
            for outcome in outcomes.compactMap({ $0 }) {
                finished += 1
                switch outcome.status {
                case .ok: ok += 1
                case .diverged: diverged += 1
                case .failed: failed += 1
                case .timedOut: break
                }
            }
        }
    }

    /// The summary of a sweep named `name` with trials `trials` (grouped as `groups`), from the
    /// training results and analyses indexed like `trials` (`nil`: not finished / not analysed).
    public static func make(name: String, trials: [TrialSpec], groups: [TrialGroup], results: [TrialResult?],
                            analyses: [TrialAnalysis?], options: AnalysisOptions) -> SweepSummary {
        let outcomes = results.map { $0.map(TrialOutcome.init) }
        let summaryGroups = groups.map { g in
            group(g, trials: trials, outcomes: g.trialIndices.map { outcomes[$0] }, analyses: g.trialIndices.map { analyses[$0] },
                  options: options)
        }
        var summary = SweepSummary(name: name, options: options, totals: Totals(trials: trials.count, outcomes: outcomes),
                                   groups: summaryGroups, taBeforeTw: overallOrdering(summaryGroups))
        summary.setFreezeCurves(FreezeCurve.make(groups: groups, outcomes: results.map { $0.map(FreezeCurve.Outcome.init) }))
        return summary
    }

    /// Sets ``freezeCurves`` (nil for none) and its note.
    public mutating func setFreezeCurves(_ curves: [FreezeCurve]) {
        freezeCurves = curves.isEmpty ? nil : curves
        if !curves.isEmpty { notes.append(FreezeCurve.tableNote) }
    }

    /// A summary from its parts; `taBeforeTw` is ``overallOrdering(_:)`` of all its groups.
    public init(name: String, options: AnalysisOptions, totals: Totals, groups: [Group], taBeforeTw: [String: OrderingFraction]) {
        sweep = name; analysis = options
        trials = totals.trials; finished = totals.finished; ok = totals.ok; diverged = totals.diverged; failed = totals.failed
        self.groups = groups; self.taBeforeTw = taBeforeTw; notes = Self.notesText
    }

    /// Over all the groups given, per measure: how often t_a < t_w (the sum of the groups' counts).
    public static func overallOrdering(_ groups: [Group]) -> [String: OrderingFraction] {
        var parts: [String: [OrderingFraction]] = [:]
        for group in groups {
            for (key, measure) in group.decay { parts[key, default: []].append(measure.ordering) }
        }
        return parts.mapValues { OrderingFraction(combining: $0) }
    }

    /// One group's statistics from its members' outcomes and analyses (both aligned with
    /// `group.trialIndices`; `nil`: not finished / not analysed). `trials` is the whole sweep.
    public static func group(_ group: TrialGroup, trials: [TrialSpec], outcomes: [TrialOutcome?], analyses: [TrialAnalysis?],
                             options: AnalysisOptions) -> Group {
        var keys = options.thresholds.map(DecayRules.epsilonKey)
        keys.append(DecayRules.areaKey(options.areaFraction))
        let members = outcomes.compactMap { $0 }
        let okMembers = outcomes.indices.filter { outcomes[$0]?.status == .ok }
        let okAnalyses = okMembers.compactMap { analyses[$0] }
        var decay: [String: Measure] = [:]
        for key in keys {
            let comparisons = okMembers.map { analyses[$0]?.decay[key] }
            decay[key] = Measure(tW: SampleSummary(comparisons.map { $0?.tW.value }),
                                 tA: SampleSummary(comparisons.map { $0?.tA.value }),
                                 ordering: OrderingFraction(comparisons.compactMap { $0 }, estimator: .threshold))
        }
        // Every member has the group's iterations (they differ only in the seed).
        let definitions = Self.definitions(okAnalyses, runLengths: okAnalyses.map { _ in Double(group.spec.iterations) },
                                           options: options)
        let primary = "threshold \(DecayRules.epsilonKey(options.thresholds[(options.thresholds.count - 1) / 2]))"
        return Group(
            groupID: group.id, label: group.label, params: group.spec,
            seeds: group.trialIndices.map { trials[$0].seed }, trials: group.trialIndices.count,
            ok: okMembers.count, diverged: members.filter { $0.status == .diverged }.count,
            failed: members.filter { $0.status == .failed }.count,
            finalValAccuracy: SampleSummary(okMembers.map { outcomes[$0]?.finalValAccuracy }),
            decay: decay,
            timing: try? TimingGroupSummary(okAnalyses.map(\.timing), seed: bootstrapSeed),
            timingLRNormalized: try? TimingGroupSummary(okAnalyses.map(\.timingLRNormalized), seed: bootstrapSeed),
            definitions: definitions, verdict: Verdict(definitions, primary: primary),
            curves: "groups/\(group.id).csv")
    }

    // MARK: Files

    public static func format(_ x: Double?) -> String { x.map { $0.isFinite ? "\($0)" : ($0.isNaN ? "nan" : ($0 > 0 ? "inf" : "-inf")) } ?? "" }

    /// One row per group and timing definition (the definition table of ``table()``).
    public func csv() -> String {
        ([Self.csvHeader] + groups.flatMap(Self.csvRows)).joined(separator: "\n") + "\n"
    }

    /// The first line of `summary.csv`.
    public static let csvHeader = "group_id,label,group_verdict,definition,call,transient,trials,both_measured,tw_censored,ta_censored,"
        + "both_censored,not_applicable,t_a_median,t_w_median,ratio_median,ratio_ci_low,ratio_ci_high,ratio_ci_coverage,"
        + "ratio_median_bound_low,ratio_median_bound_high,geometric_mean,geometric_ci_low,geometric_ci_high,sign_test_p,"
        + "final_val_accuracy_mean,final_val_accuracy_ci_low,final_val_accuracy_ci_high"

    /// A group's rows of `summary.csv`, one per timing definition.
    public static func csvRows(_ group: Group) -> [String] {
        group.definitions.map { d in
            let r = d.ratio
            let fields = [group.groupID, "\"\(group.label)\"", group.verdict.call.rawValue, d.definition, d.call.rawValue,
                          "\(d.transient)", "\(r.trials)", "\(r.bothMeasured)", "\(r.twCensored)", "\(r.taCensored)",
                          "\(r.bothCensored)", "\(r.notApplicable)", format(r.tA.median.median), format(r.tW.median.median),
                          format(r.median.median), format(r.median.interval.low), format(r.median.interval.high),
                          format(r.median.interval.coverage), format(r.medianBounds.medianLow),
                          format(r.medianBounds.medianHigh), format(r.geometricMean.geometricMean),
                          format(r.geometricMean.interval.low), format(r.geometricMean.interval.high),
                          format(r.signTest.pValue), format(group.finalValAccuracy.mean),
                          format(group.finalValAccuracy.ciLow), format(group.finalValAccuracy.ciHigh)]
            return fields.joined(separator: ",")
        }
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
        (Self.tableHead(name: sweep, finished: finished, trials: trials, ok: ok, diverged: diverged, failed: failed)
            + groups.map(Self.verdictLine) + groups.flatMap(Self.tableBlock) + Self.freezeBlock(freezeCurves)
            + ["", Self.tableFooter]).joined(separator: "\n")
    }

    /// The freeze curves' tables in ``table()`` (nothing without one).
    public static func freezeBlock(_ curves: [FreezeCurve]?) -> [String] {
        guard let curves else { return [] }
        return curves.flatMap { $0.table() } + ["  " + FreezeCurve.tableNote]
    }

    /// The first lines of ``table()``.
    public static func tableHead(name: String, finished: Int, trials: Int, ok: Int, diverged: Int, failed: Int) -> [String] {
        ["sweep \(name): \(finished)/\(trials) trials finished, \(ok) ok, \(diverged) diverged, \(failed) failed",
         "Do activation patterns settle before weight updates? (docs/decay-estimators.md, \"The verdict\")"]
    }

    /// A group's line in the verdicts of ``table()``.
    public static func verdictLine(_ group: Group) -> String { "  \(group.groupID): \(group.verdict.line)" }

    /// A group's definition table in ``table()`` (after a blank line).
    public static func tableBlock(_ group: Group) -> [String] {
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
        var out = ["", "group \(group.groupID): \(group.label)  (\(group.ok)/\(group.trials) ok)"]
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
        return out
    }

    /// The last line of ``table()``.
    public static let tableFooter = "Ratios: median with an exact order-statistic interval (its real coverage; none below 6 seeds at 95%), geometric mean with a Student-t interval on log(t_w/t_a); censored times are counted, never averaged in (t_w censored: the ratio is at least T/t_a)."
}
