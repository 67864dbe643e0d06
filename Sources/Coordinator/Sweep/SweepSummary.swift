import Foundation
import RegimeCore
import Worker

/// Cross-seed statistics of a sweep (`summary.json`, `summary.csv`, the printed table).
///
/// Per group (trials equal but for the seed): Student-t mean, sd and 95% CI of `t_a`, `t_w`,
/// `ratio` per threshold and for the area rule, and of the final validation accuracy. Censored
/// times (never stayed below the threshold) and trials that diverged or failed are counted and
/// excluded from the means, never replaced by a number. Trials are taken in sweep order, so the
/// numbers do not depend on the order in which they finished.
struct SweepSummary: Codable {
    struct Ordering: Codable {
        /// Trials with both times measured, and how many of them had t_a < t_w.
        var measured: Int
        var taBeforeTw: Int
        var fraction: Double?
        enum CodingKeys: String, CodingKey { case measured, taBeforeTw = "t_a_before_t_w", fraction }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(measured, forKey: .measured)
            try c.encode(taBeforeTw, forKey: .taBeforeTw)
            try c.encode(fraction, forKey: .fraction)
        }
    }

    struct Measure: Codable {
        var tW: SampleSummary
        var tA: SampleSummary
        var ratio: SampleSummary
        var ordering: Ordering
        enum CodingKeys: String, CodingKey { case tW = "t_w", tA = "t_a", ratio, ordering = "t_a_before_t_w" }
    }

    struct Group: Codable {
        var groupID: String
        var label: String
        var params: TrialSpec
        var seeds: [UInt64]
        var trials: Int
        var ok: Int
        var diverged: Int
        var failed: Int
        var finalValAccuracy: SampleSummary
        /// Keyed like `decay` in result.json: each threshold as a string, and the area rule's key.
        var decay: [String: Measure]
        /// Robust estimators across seeds: medians with seeded bootstrap 95% CIs (docs/decay-estimators.md).
        var timing: TimingGroupSummary?
        var timingLRNormalized: TimingGroupSummary?
        var curves: String
        enum CodingKeys: String, CodingKey {
            case groupID = "group_id", label, params, seeds, trials, ok, diverged, failed,
                 finalValAccuracy = "final_val_accuracy", decay, timing, timingLRNormalized = "timing_lr_normalized", curves
        }
    }

    var sweep: String
    var trials: Int
    var finished: Int
    var ok: Int
    var diverged: Int
    var failed: Int
    var groups: [Group]
    /// Over all groups and seeds, per measure: trials with t_a < t_w among those with both times.
    var taBeforeTw: [String: Ordering]
    /// Per measure: groups whose mean t_a < mean t_w, among groups where both means exist.
    var groupsWithTaBeforeTw: [String: Ordering]
    var notes: [String]

    enum CodingKeys: String, CodingKey {
        case sweep, trials, finished, ok, diverged, failed, groups, taBeforeTw = "t_a_before_t_w",
             groupsWithTaBeforeTw = "groups_with_mean_t_a_before_t_w", notes
    }

    /// Seed of every bootstrap resampling in a summary: fixed, so a summary is reproducible.
    static let bootstrapSeed: UInt64 = 20_260_208

    static let notesText = [
        "Means, sd and 95% Student-t confidence intervals exclude censored values (a curve that never stays below the threshold) and trials that diverged or failed; 'censored' counts them.",
        "ratio = t_w / t_a per trial; its statistics are over the trials where both times were measured.",
        "groups/<group_id>.csv: per recorded iteration, mean and sample sd across seeds of each instrument, reduced exactly over MPI ranks.",
        "timing: robust estimators (R(eps) over a grid, half-life, knee, time constant, area) per group as median with a seeded percentile-bootstrap 95% CI (2000 resamples); 'missing' counts seeds where an estimator did not apply (censored, no decay).",
    ]

    static func make(sweep: SweepFile, groups: [TrialGroup], entries: [JournalEntry]) -> SweepSummary {
        var byID: [String: JournalEntry] = [:]
        for entry in entries { byID[entry.result.trialID] = entry }
        let results = sweep.trials.map { byID[$0.trialID]?.result }
        var summaryGroups: [Group] = []
        var measureKeys: [String] = []
        var overall: [String: Ordering] = [:]
        var groupOrdering: [String: Ordering] = [:]
        for group in groups {
            let members = group.trialIndices.compactMap { results[$0] }
            let okMembers = members.filter { $0.status == .ok }
            var decay: [String: Measure] = [:]
            let options = group.spec.decay
            var keys = options.thresholds.map(DecayDetector.epsilonKey)
            keys.append(DecayDetector.areaKey(options.areaFraction))
            measureKeys = keys
            for (k, key) in keys.enumerated() {
                let comparisons: [DecayComparison?] = okMembers.map { result in
                    guard let d = result.decay else { return nil }
                    return k < d.byThreshold.count ? d.byThreshold[k] : d.area
                }
                let tW = comparisons.map { $0?.tW }
                let tA = comparisons.map { $0?.tA }
                let ratio = comparisons.map { $0?.ratio }
                let both = comparisons.compactMap { c -> (Int, Int)? in
                    guard let c, let w = c.tW, let a = c.tA else { return nil }
                    return (w, a)
                }
                let before = both.filter { $0.1 < $0.0 }.count
                let ordering = Ordering(measured: both.count, taBeforeTw: before,
                                        fraction: both.isEmpty ? nil : Double(before) / Double(both.count))
                let measure = Measure(tW: SampleSummary(tW), tA: SampleSummary(tA), ratio: SampleSummary(ratio), ordering: ordering)
                decay[key] = measure
                var o = overall[key] ?? Ordering(measured: 0, taBeforeTw: 0, fraction: nil)
                o.measured += both.count
                o.taBeforeTw += before
                o.fraction = o.measured > 0 ? Double(o.taBeforeTw) / Double(o.measured) : nil
                overall[key] = o
                var g = groupOrdering[key] ?? Ordering(measured: 0, taBeforeTw: 0, fraction: nil)
                if let w = measure.tW.mean, let a = measure.tA.mean {
                    g.measured += 1
                    if a < w { g.taBeforeTw += 1 }
                }
                g.fraction = g.measured > 0 ? Double(g.taBeforeTw) / Double(g.measured) : nil
                groupOrdering[key] = g
            }
            summaryGroups.append(Group(
                groupID: group.id, label: group.label, params: group.spec,
                seeds: group.trialIndices.map { sweep.trials[$0].seed }, trials: group.trialIndices.count,
                ok: okMembers.count, diverged: members.filter { $0.status == .diverged }.count,
                failed: members.filter { $0.status == .failed }.count,
                finalValAccuracy: SampleSummary(okMembers.map { $0.finalValAccuracy }),
                decay: decay,
                timing: try? TimingGroupSummary(okMembers.compactMap(\.timing), seed: bootstrapSeed),
                timingLRNormalized: try? TimingGroupSummary(okMembers.compactMap(\.timingLRNormalized), seed: bootstrapSeed),
                curves: "groups/\(group.id).csv"))
        }
        _ = measureKeys
        let finished = results.compactMap { $0 }
        return SweepSummary(sweep: sweep.name, trials: sweep.trials.count, finished: finished.count,
                            ok: finished.filter { $0.status == .ok }.count,
                            diverged: finished.filter { $0.status == .diverged }.count,
                            failed: finished.filter { $0.status == .failed }.count,
                            groups: summaryGroups, taBeforeTw: overall, groupsWithTaBeforeTw: groupOrdering, notes: notesText)
    }

    // MARK: Files

    static func format(_ x: Double?) -> String { x.map { $0.isFinite ? "\($0)" : "nan" } ?? "" }

    func csv() -> String {
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
    static func estimatorRows(_ timing: TimingGroupSummary) -> [String] {
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
            rows.append(row(["R(\(DecayDetector.epsilonKey(eps)))", "", "", cell(timing.thresholdRatio[k], digits: 2),
                             order(timing.thresholdOrder[k])]))
        }
        return rows
    }

    /// Thresholds in numeric order, then the area rule.
    static func measureOrder(_ a: String, _ b: String) -> Bool {
        switch (Double(a), Double(b)) {
        case let (x?, y?): return x < y
        case (_?, nil): return true
        case (nil, _?): return false
        default: return a < b
        }
    }

    /// The table printed at the end of a sweep and by `regime summary`.
    func table() -> String {
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
                let ordering = m.ordering.measured > 0 ? "\(m.ordering.taBeforeTw)/\(m.ordering.measured)" : "-"
                let cells = [key, value(m.tA, digits: 0), value(m.tW, digits: 0), value(m.ratio, digits: 2), ordering]
                out.append("  " + cells.enumerated().map { $0.element.padding(toLength: [8, 30, 30, 30, 8][$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: " "))
            }
            if let timing = group.timing { out += Self.estimatorRows(timing) }
        }
        return out.joined(separator: "\n")
    }
}

extension SweepOutput {
    /// Writes `groups/<id>.csv`: per recorded iteration, the count, mean and sd of each instrument.
    func writeGroupCurves(_ moments: CurveMoments) throws {
        for (g, group) in moments.groups.enumerated() {
            var header = ["iteration"]
            for instrument in CurveInstrument.allCases {
                header += ["\(instrument.rawValue)_n", "\(instrument.rawValue)_mean", "\(instrument.rawValue)_sd"]
            }
            var lines = [header.joined(separator: ",")]
            for (i, iteration) in group.iterations.enumerated() {
                var fields = ["\(iteration)"]
                for k in CurveInstrument.allCases.indices {
                    let m = moments.moments[g][k]
                    fields += ["\(m.count(at: i))", SweepSummary.format(m.mean(at: i)), SweepSummary.format(m.standardDeviation(at: i))]
                }
                lines.append(fields.joined(separator: ","))
            }
            try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8),
                                 to: groupsDirectory.appendingPathComponent("\(group.id).csv"))
        }
    }

    func writeSummary(_ summary: SweepSummary) throws {
        try AtomicFile.write(try JSONFormat.pretty(summary), to: directory.appendingPathComponent("summary.json"))
        try AtomicFile.write(Data(summary.csv().utf8), to: directory.appendingPathComponent("summary.csv"))
    }
}
