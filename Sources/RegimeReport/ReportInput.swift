import Foundation
import RegimeCore
import RegimeAnalysis
import SweepStore

/// Everything `regime report` reads from a sweep directory.
///
/// The summary is `summary.json` when the sweep wrote one; otherwise (an interrupted sweep, or
/// an unreadable file) it is computed from `trials.jsonl` exactly as `regime summary` does. Its
/// groups may carry `timing` / `timing_lr_normalized` (``TimingGroupSummary``: `R(eps)` and the
/// robust estimators), drawn when present.
struct ReportInput {
    var directory: SweepDirectory
    var sweep: SweepFile
    var manifest: Manifest?
    var summary: SweepSummary
    /// The analysis settings of the summary (and of the page's normalised curves).
    var options: AnalysisOptions
    /// Where the summary came from, for the report's footer.
    var summarySource: String
    var groups: [TrialGroup]
    /// Journal entries by trial id (the last entry of a trial wins, as a resumed sweep appends).
    var entries: [String: JournalEntry]
    /// Per-trial decay times (`timing.jsonl`) by trial id.
    var analyses: [String: TrialAnalysis]
    var journalDamage: String?

    /// Reads the directory; the summary must exist (`regime analyze DIR` writes it from the curves).
    static func load(_ url: URL) throws -> ReportInput {
        let directory = try SweepDirectory(existing: url)
        let sweep = try directory.loadSweep()
        let contents = try directory.readJournal()
        var entries: [String: JournalEntry] = [:]
        for entry in contents.entries { entries[entry.result.trialID] = entry }
        guard let data = FileManager.default.contents(atPath: directory.summaryJSONURL.path) else {
            throw FileError("\(directory.summaryJSONURL.path): no summary yet (an interrupted sweep); run `regime analyze \(url.path)` first")
        }
        let summary: SweepSummary
        do { summary = try JSONCoding.decoder().decode(SweepSummary.self, from: data) } catch {
            throw FileError("\(directory.summaryJSONURL.path): not a summary (\(error)); run `regime analyze \(url.path)` to rewrite it")
        }
        let manifest = directory.readManifest()
        var source = "summary.json"
        if let analyzed = manifest?.analyzed { source += ", recomputed by regime analyze at \(analyzed)" }
        if let from = manifest?.analysisSource { source += "; analysis settings from \(from)" }
        return ReportInput(directory: directory, sweep: sweep, manifest: manifest, summary: summary, options: summary.analysis,
                           summarySource: source, groups: TrialGroup.make(sweep.trials), entries: entries,
                           analyses: try SweepAnalysis.readTiming(directory), journalDamage: contents.damage)
    }

    /// A trial's curve file: nil when there is none; an unreadable one gives the reason.
    func curve(_ trialID: String) -> Result<NumericCSV, FileError>? {
        do {
            return try directory.readCurveTable(trialID: trialID).map { .success($0) }
        } catch {
            return .failure(FileError("\(error)"))
        }
    }
}
