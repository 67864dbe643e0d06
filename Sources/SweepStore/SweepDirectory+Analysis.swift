import Foundation
import RegimeAnalysis
import RegimeCore

/// The analysis of a results directory: per-trial decay times (`timing.jsonl`), group curves
/// (`groups/*.csv`) and the cross-seed summary (`summary.json`, `summary.csv`), computed from the
/// journal and the stored curves alone, so the same directory and settings always give the same
/// bytes, whichever ranks trained the trials and whether the analysis ran at the end of the sweep
/// or later through `regime analyze`.
public struct SweepAnalysis {
    /// What `regime sweep` and `regime analyze` print: ``SweepSummary/table()``, without the
    /// per-group definition tables beyond ``printedGroupLimit`` groups (`regime summary DIR` and
    /// `summary.csv` have them all).
    public var table: String

    /// Sweeps with more groups print only the verdict line of each.
    public static let printedGroupLimit = 20

    /// Analyses `directory` for the trials of `sweep` with `options` and writes the results.
    ///
    /// One group at a time: its curves are read, its trials analysed, its group curves, timing
    /// lines, summary entry and summary rows written to `.analysis-staging/`, and all of it
    /// dropped before the next group. Memory is one group's curves and analyses plus, per trial,
    /// its status and final accuracy from the journal (read in chunks), whatever the size of the
    /// sweep. `timing.jsonl` lists the trials group by group (groups in order of first appearance,
    /// seeds in sweep order); `summary.json` has the bytes of ``JSONFormat/pretty(_:)`` of the
    /// whole ``SweepSummary``. Nothing is replaced until everything is computed: then every file is
    /// renamed into place, `summary.json` last; a failure before leaves the previous analysis.
    @discardableResult
    public static func run(_ directory: SweepDirectory, sweep: SweepFile, options: AnalysisOptions) throws -> SweepAnalysis {
        let manager = FileManager.default
        let trials = sweep.trials
        var indexByID: [String: Int] = [:]
        for (index, trial) in trials.enumerated() { indexByID[trial.trialID] = index }
        var outcomes = [SweepSummary.TrialOutcome?](repeating: nil, count: trials.count)
        var freezeOutcomes = [FreezeCurve.Outcome?](repeating: nil, count: trials.count)
        try Journal.scan(url: directory.journalURL) { entry in  // a resumed sweep's last line wins
            if let index = indexByID[entry.result.trialID] {
                outcomes[index] = SweepSummary.TrialOutcome(entry.result)
                freezeOutcomes[index] = FreezeCurve.Outcome(entry.result)
            }
        }
        indexByID = [:]
        let groups = TrialGroup.make(trials)
        let totals = SweepSummary.Totals(trials: trials.count, outcomes: outcomes)

        let staging = directory.url.appendingPathComponent(".analysis-staging")
        try? manager.removeItem(at: staging)
        try manager.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? manager.removeItem(at: staging) }
        let timing = try FileAppender(url: staging.appendingPathComponent("timing.jsonl"))
        let csv = try FileAppender(url: staging.appendingPathComponent("summary.csv"))
        try csv.append(SweepSummary.csvHeader + "\n")
        var summaryGroups = try PrettyJSONArray(url: staging.appendingPathComponent("summary-groups.json"))
        var ordering: [String: OrderingFraction] = [:]
        var printed = SweepSummary.tableHead(name: sweep.name, finished: totals.finished, trials: totals.trials, ok: totals.ok,
                                             diverged: totals.diverged, failed: totals.failed)
        var blocks: [String] = []

        for group in groups {
            var curves: [Curve] = []
            var analyses: [TrialAnalysis?] = []
            for index in group.trialIndices {
                let trialID = trials[index].trialID
                guard let outcome = outcomes[index], let curve = try directory.readCurve(trialID: trialID) else {
                    analyses.append(nil)
                    continue
                }
                curves.append(curve)
                analyses.append(outcome.status == .ok
                                ? TrialAnalysis(trialID: trialID, curve: curve, settling: try directory.readSettling(trialID: trialID),
                                                options: options) : nil)
            }
            let table = GroupCurves(iterations: group.iterations, curves: curves)
            curves = []
            try AtomicFile.write(Data(table.csv().utf8), to: staging.appendingPathComponent("\(group.id).csv"))
            for analysis in analyses.compactMap({ $0 }) {
                try timing.append(try JSONFormat.line(analysis))
                try timing.append(Data([0x0A]))
            }
            let summary = SweepSummary.group(group, trials: trials, outcomes: group.trialIndices.map { outcomes[$0] },
                                             analyses: analyses, options: options)
            try csv.append(SweepSummary.csvRows(summary).map { $0 + "\n" }.joined())
            try summaryGroups.append(summary)
            for (key, measure) in summary.decay {
                ordering[key] = OrderingFraction(combining: [ordering[key], measure.ordering].compactMap { $0 })
            }
            printed.append(SweepSummary.verdictLine(summary))
            if groups.count <= printedGroupLimit { blocks += SweepSummary.tableBlock(summary) }
        }
        if groups.count > printedGroupLimit {
            blocks = ["", "(\(groups.count) groups: the definition table of each is in summary.csv and printed by `regime summary DIR`)"]
        }
        try timing.close()
        try csv.close()
        var envelope = SweepSummary(name: sweep.name, options: options, totals: totals, groups: [], taBeforeTw: ordering)
        envelope.setFreezeCurves(FreezeCurve.make(groups: groups, outcomes: freezeOutcomes))
        blocks += SweepSummary.freezeBlock(envelope.freezeCurves)
        let freezeCSV = staging.appendingPathComponent("summary-freeze.csv")
        if let curves = envelope.freezeCurves { try AtomicFile.write(Data(FreezeCurve.csv(curves).utf8), to: freezeCSV) }
        let summaryJSON = staging.appendingPathComponent("summary.json")
        try summaryGroups.finish(envelope: envelope, key: "groups", into: summaryJSON)

        // Everything is computed: now replace the files.
        try manager.createDirectory(at: directory.groupsDirectory, withIntermediateDirectories: true)
        for group in groups {
            let target = directory.groupCurvesURL(group.id)
            try AtomicFile.move(staging.appendingPathComponent("\(group.id).csv"), to: target)
        }
        AtomicFile.syncDirectory(directory.groupsDirectory)
        try AtomicFile.move(staging.appendingPathComponent("timing.jsonl"), to: directory.timingURL)
        try AtomicFile.move(staging.appendingPathComponent("summary.csv"), to: directory.summaryCSVURL)
        if envelope.freezeCurves != nil {
            try AtomicFile.move(freezeCSV, to: directory.freezeCSVURL)
        } else {
            try? manager.removeItem(at: directory.freezeCSVURL)
        }
        try AtomicFile.move(summaryJSON, to: directory.summaryJSONURL)
        AtomicFile.syncDirectory(directory.url)
        return SweepAnalysis(table: (printed + blocks + ["", SweepSummary.tableFooter]).joined(separator: "\n"))
    }

    /// Reads `timing.jsonl` back, by trial id.
    public static func readTiming(_ directory: SweepDirectory) throws -> [String: TrialAnalysis] {
        guard let data = FileManager.default.contents(atPath: directory.timingURL.path) else { return [:] }
        var byID: [String: TrialAnalysis] = [:]
        let decoder = JSONCoding.decoder()
        for (n, line) in data.split(separator: 0x0A).enumerated() {
            do {
                let analysis = try decoder.decode(TrialAnalysis.self, from: Data(line))
                byID[analysis.trialID] = analysis
            } catch {
                throw FileError("\(directory.timingURL.path): line \(n + 1) is not a trial analysis (\(error))")
            }
        }
        return byID
    }
}

extension SweepAnalysis {
    /// `regime analyze`: recomputes the analysis of an existing directory with the settings of
    /// `analysisFile` (an `analysis:` mapping) or, without one, of its `sweep.yaml`, and records
    /// them in the manifest. Trains nothing; the journal, curves and checkpoints are only read.
    public static func reanalyse(_ directory: SweepDirectory, analysisFile: String?) throws -> SweepAnalysis {
        let sweep = try directory.loadSweep()
        let options = try analysisFile.map { try AnalysisFile.load(path: $0) } ?? sweep.analysis
        let analysis = try run(directory, sweep: sweep, options: options)
        if var manifest = directory.readManifest() {
            manifest.analysis = options
            manifest.analysisSource = analysisFile.map { "\($0): analysis" } ?? "sweep.yaml: analysis"
            manifest.analyzed = timestamp()
            try directory.writeManifest(manifest)
        }
        return analysis
    }
}
