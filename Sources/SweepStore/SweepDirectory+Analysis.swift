import Foundation
import RegimeAnalysis
import RegimeCore

/// The analysis of a results directory: per-trial decay times (`timing.jsonl`), group curves
/// (`groups/*.csv`) and the cross-seed summary (`summary.json`, `summary.csv`), computed from the
/// journal and the stored curves alone, so the same directory and settings always give the same
/// bytes, whichever ranks trained the trials and whether the analysis ran at the end of the sweep
/// or later through `regime analyze`.
public struct SweepAnalysis {
    public var summary: SweepSummary
    public var analyses: [TrialAnalysis?]

    /// Analyses `directory` for the trials of `sweep` with `options` and writes the results.
    ///
    /// Nothing is replaced until everything is computed: the group curves are staged in
    /// `.analysis-staging/` while the groups are read one at a time (memory is one group's curves
    /// plus the per-trial times), then every file is renamed into place, `summary.json` last. A
    /// failure before the renames leaves the previous analysis untouched.
    @discardableResult
    public static func run(_ directory: SweepDirectory, sweep: SweepFile, options: AnalysisOptions) throws -> SweepAnalysis {
        let manager = FileManager.default
        let entries = try directory.readJournal().entries
        var byID: [String: TrialResult] = [:]
        for entry in entries { byID[entry.result.trialID] = entry.result }  // a resumed sweep's last line wins
        let results = sweep.trials.map { byID[$0.trialID] }
        let groups = TrialGroup.make(sweep.trials)

        let staging = directory.url.appendingPathComponent(".analysis-staging")
        try? manager.removeItem(at: staging)
        try manager.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? manager.removeItem(at: staging) }

        var analyses = [TrialAnalysis?](repeating: nil, count: sweep.trials.count)
        for group in groups {
            var curves: [Curve] = []
            for index in group.trialIndices {
                guard let result = results[index], let curve = try directory.readCurve(trialID: result.trialID) else { continue }
                curves.append(curve)
                if result.status == .ok {
                    analyses[index] = TrialAnalysis(trialID: result.trialID, curve: curve, options: options)
                }
            }
            let table = GroupCurves(iterations: group.iterations, curves: curves)
            try AtomicFile.write(Data(table.csv().utf8), to: staging.appendingPathComponent("\(group.id).csv"))
        }
        let summary = SweepSummary.make(name: sweep.name, trials: sweep.trials, groups: groups, results: results,
                                        analyses: analyses, options: options)
        var timing = Data()
        for analysis in analyses.compactMap({ $0 }) {
            timing.append(try JSONFormat.line(analysis))
            timing.append(0x0A)
        }
        let summaryJSON = try JSONFormat.pretty(summary)
        let summaryCSV = Data(summary.csv().utf8)

        // Everything is computed: now replace the files.
        try manager.createDirectory(at: directory.groupsDirectory, withIntermediateDirectories: true)
        for group in groups {
            let target = directory.groupCurvesURL(group.id)
            try AtomicFile.move(staging.appendingPathComponent("\(group.id).csv"), to: target)
        }
        AtomicFile.syncDirectory(directory.groupsDirectory)
        try AtomicFile.write(timing, to: directory.timingURL)
        try AtomicFile.write(summaryCSV, to: directory.summaryCSVURL)
        try AtomicFile.write(summaryJSON, to: directory.summaryJSONURL)
        return SweepAnalysis(summary: summary, analyses: analyses)
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
