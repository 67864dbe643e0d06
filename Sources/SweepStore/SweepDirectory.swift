import Foundation
import RegimeCore

/// A sweep's results directory: the one type that knows its paths and reads and writes its files.
/// Rank 0 is its only writer; `status`, `summary`, `report`, `analyze` and `--resume` read it.
///
/// ```
/// sweep.yaml              the sweep as run (trial settings, grid, analysis:)
/// manifest.json           what ran, where, with which build; the analysis in effect
/// trials.jsonl            the journal: one training result per finished trial (fsync'ed)
/// curves/<trial_id>.csv   each finished trial's instruments per recorded iteration
/// checkpoints/<id>.ckpt   the running trials' last checkpoints
/// timing.jsonl            analysis: per ok trial, decay times of every estimator (TrialAnalysis)
/// groups/<group_id>.csv   analysis: per group and iteration, mean and sd across seeds
/// summary.json, .csv      analysis: cross-seed statistics (SweepSummary)
/// report.html             `regime report`
/// ```
/// Training writes the first five; the analysis files are recomputed from them at the end of a
/// sweep and by `regime analyze`, and never feed back into training.
public final class SweepDirectory: @unchecked Sendable {
    public let url: URL
    private var journalHandle: Journal?

    public var sweepFileURL: URL { url.appendingPathComponent("sweep.yaml") }
    public var manifestURL: URL { url.appendingPathComponent("manifest.json") }
    public var journalURL: URL { url.appendingPathComponent("trials.jsonl") }
    public var curvesDirectory: URL { url.appendingPathComponent("curves") }
    public var groupsDirectory: URL { url.appendingPathComponent("groups") }
    public var checkpointsDirectory: URL { url.appendingPathComponent("checkpoints") }
    public var timingURL: URL { url.appendingPathComponent("timing.jsonl") }
    public var summaryJSONURL: URL { url.appendingPathComponent("summary.json") }
    public var summaryCSVURL: URL { url.appendingPathComponent("summary.csv") }
    /// The freeze curves as CSV (only for sweeps that have one).
    public var freezeCSVURL: URL { url.appendingPathComponent("summary-freeze.csv") }
    public var reportURL: URL { url.appendingPathComponent("report.html") }
    public func curveURL(_ trialID: String) -> URL { curvesDirectory.appendingPathComponent("\(trialID).csv") }
    public func settlingURL(_ trialID: String) -> URL { curvesDirectory.appendingPathComponent("\(trialID).settling.csv") }
    public func groupCurvesURL(_ groupID: String) -> URL { groupsDirectory.appendingPathComponent("\(groupID).csv") }
    public func checkpointURL(_ trialID: String) -> URL { checkpointsDirectory.appendingPathComponent("\(trialID).ckpt") }

    /// The names a sweep owns in its directory (what `--force` removes; nothing else is touched).
    static let ownedNames = ["sweep.yaml", "manifest.json", "trials.jsonl", "timing.jsonl", "summary.csv", "summary.json",
                             "curves", "groups", "checkpoints", "report.html", "report", ".analysis-staging"]

    /// An existing sweep directory; an error names it when it holds no `sweep.yaml`.
    public init(existing url: URL) throws {
        self.url = url
        guard FileManager.default.fileExists(atPath: sweepFileURL.path) else {
            throw FileError("\(url.path): not a sweep directory (no sweep.yaml)")
        }
    }

    private init(unchecked url: URL) { self.url = url }

    /// Prepares a new directory for `sweep`. Refuses an existing, non-empty one unless `force`, in
    /// which case the sweep's own files are removed first (nothing else in it is touched).
    public static func create(at url: URL, sweep: SweepFile, force: Bool) throws -> SweepDirectory {
        let manager = FileManager.default
        let directory = SweepDirectory(unchecked: url)
        if manager.fileExists(atPath: url.path) {
            let contents = (try? manager.contentsOfDirectory(atPath: url.path)) ?? []
            if !contents.isEmpty {
                guard force else {
                    throw FileError("\(url.path): exists and is not empty; pass --resume to continue that sweep or --force to start over")
                }
                for name in ownedNames { try? manager.removeItem(at: url.appendingPathComponent(name)) }
            }
        }
        try manager.createDirectory(at: directory.curvesDirectory, withIntermediateDirectories: true)
        try AtomicFile.write(Data(sweep.text.utf8), to: directory.sweepFileURL)
        return directory
    }

    // MARK: Sweep file and manifest

    public func loadSweep() throws -> SweepFile { try SweepFile.load(path: sweepFileURL.path) }

    /// Replaces `sweep.yaml` (an extended sweep given to `--resume`).
    public func writeSweep(_ sweep: SweepFile) throws { try AtomicFile.write(Data(sweep.text.utf8), to: sweepFileURL) }

    /// The manifest, nil when there is none or it cannot be read.
    public func readManifest() -> Manifest? {
        FileManager.default.contents(atPath: manifestURL.path).flatMap { try? JSONCoding.decoder().decode(Manifest.self, from: $0) }
    }

    public func writeManifest(_ manifest: Manifest) throws {
        try AtomicFile.write(try JSONFormat.pretty(manifest), to: manifestURL)
    }

    // MARK: Journal and curves

    public func readJournal() throws -> Journal.Contents { try Journal.read(url: journalURL) }

    public func repairJournal(validLength: Int) throws { try Journal.repair(url: journalURL, validLength: validLength) }

    /// A finished trial as rank 0 records it: its result, its curve file's text (``Curve/csv()``;
    /// nil: the trial stopped before its first record), and the rank and host that ran it.
    public struct Record {
        public var result: TrialResult
        public var curveCSV: String?
        /// Its settling curve's text (``SettlingCurve/csv()``), nil for a trial that did not finish.
        public var settlingCSV: String?
        public var rank: Int
        public var host: String
        public init(result: TrialResult, curveCSV: String?, settlingCSV: String? = nil, rank: Int, host: String) {
            self.result = result; self.curveCSV = curveCSV; self.settlingCSV = settlingCSV; self.rank = rank; self.host = host
        }
    }

    /// Records finished trials together (a group commit): writes their curves, makes them durable
    /// with one sync of the file system, then appends their journal lines with one write and one
    /// fsync (a curve without a line is a trial not done), and removes their checkpoints. Two syncs
    /// per batch instead of three per trial: rank 0 keeps up with results arriving faster than its
    /// disk syncs. Returns the bytes written to curves and to the journal.
    @discardableResult
    public func record(_ batch: [Record]) throws -> (curve: Int, journal: Int) {
        guard !batch.isEmpty else { return (0, 0) }
        var curveBytes = 0
        if batch.contains(where: { $0.curveCSV != nil || $0.settlingCSV != nil }) {
            try FileManager.default.createDirectory(at: curvesDirectory, withIntermediateDirectories: true)
            for record in batch {
                for (text, url) in [(record.curveCSV, curveURL(record.result.trialID)),
                                    (record.settlingCSV, settlingURL(record.result.trialID))] {
                    guard let text else { continue }
                    let data = Data(text.utf8)
                    try AtomicFile.write(data, to: url, durable: false)
                    curveBytes += data.count
                }
            }
            try AtomicFile.syncFileSystem(containing: curvesDirectory)
        }
        if journalHandle == nil { journalHandle = try Journal(url: journalURL) }
        let journalBytes = try journalHandle!.append(batch.map { JournalEntry(result: $0.result, rank: $0.rank, host: $0.host) })
        for record in batch { try? FileManager.default.removeItem(at: checkpointURL(record.result.trialID)) }
        return (curveBytes, journalBytes)
    }

    /// A finished trial's curve, nil if it has none (failed before its first record).
    public func readCurve(trialID: String) throws -> Curve? {
        let url = curveURL(trialID)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try Curve(csv: String(decoding: data, as: UTF8.self), file: url.path)
    }

    /// A finished trial's settling curve (`curves/<trial_id>.settling.csv`), nil if it has none.
    public func readSettling(trialID: String) throws -> SettlingCurve? {
        let url = settlingURL(trialID)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try SettlingCurve(csv: String(decoding: data, as: UTF8.self), file: url.path)
    }

    /// A curve file as a table (for plotting columns the ``Curve`` type does not name).
    public func readCurveTable(trialID: String) throws -> NumericCSV? {
        let url = curveURL(trialID)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try NumericCSV.parse(String(decoding: data, as: UTF8.self), file: "curves/\(trialID).csv")
    }

    /// Removes the temporary files of writers that were killed mid-write (`--resume` does, before
    /// anything runs): whole files are never affected, only `.NAME.tmp-PID` beside them.
    public func removeLeftovers() {
        for directory in [url, curvesDirectory, checkpointsDirectory] { AtomicFile.removeLeftovers(in: directory) }
    }

    // MARK: Checkpoints

    /// Saves a running trial's checkpoint (atomically: a crash leaves the previous one intact).
    public func writeCheckpoint(_ bytes: [UInt8], trialID: String) throws {
        try FileManager.default.createDirectory(at: checkpointsDirectory, withIntermediateDirectories: true)
        try AtomicFile.write(Data(bytes), to: checkpointURL(trialID))
    }

    /// The verified checkpoint of a trial, nil if there is none; a corrupt one is an error.
    public func readCheckpoint(trialID: String) throws -> (bytes: [UInt8], checkpoint: TrainerCheckpoint)? {
        let url = checkpointURL(trialID)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        let bytes = [UInt8](data)
        let checkpoint = try TrainerCheckpoint(decoding: bytes, source: url.path)
        guard checkpoint.metadata.trialID == trialID else {
            throw CheckpointError("\(url.path): holds trial \(checkpoint.metadata.trialID), not \(trialID)")
        }
        return (bytes, checkpoint)
    }
}

/// How far a sweep has got, from its journal (the truth, not mpirun's exit code).
public struct SweepProgressState: Sendable {
    public var sweep: SweepFile
    public var entries: [JournalEntry]
    /// Indices of the trials with a journal line.
    public var finishedIndices: Set<Int>
    /// A torn last journal line, if any (`--resume` repairs it).
    public var damage: String?
}

extension SweepDirectory {
    public func progressState() throws -> SweepProgressState {
        let sweep = try loadSweep()
        let contents = try readJournal()
        let ids = Set(contents.entries.map(\.result.trialID))
        let finished = Set(sweep.trials.indices.filter { ids.contains(sweep.trials[$0].trialID) })
        return SweepProgressState(sweep: sweep, entries: contents.entries, finishedIndices: finished, damage: contents.damage)
    }
}
