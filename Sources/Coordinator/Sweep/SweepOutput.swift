import Foundation
import RegimeCore
import Worker

/// The output directory of a sweep, written by rank 0 only:
/// `sweep.yaml` (the file as run), `manifest.json`, `trials.jsonl` (the journal),
/// `curves/<trial_id>.csv`, `groups/<group_id>.csv` (per-iteration mean and sd per instrument),
/// `summary.csv` and `summary.json`.
final class SweepOutput {
    let directory: URL
    let journal: Journal
    var curvesDirectory: URL { directory.appendingPathComponent("curves") }
    var groupsDirectory: URL { directory.appendingPathComponent("groups") }
    var checkpointsDirectory: URL { directory.appendingPathComponent("checkpoints") }

    func checkpointURL(_ trialID: String) -> URL { checkpointsDirectory.appendingPathComponent("\(trialID).ckpt") }

    /// Saves a running trial's checkpoint (atomically: a crash leaves the previous one intact).
    func writeCheckpoint(_ bytes: [UInt8], trialID: String) throws {
        try FileManager.default.createDirectory(at: checkpointsDirectory, withIntermediateDirectories: true)
        try AtomicFile.write(Data(bytes), to: checkpointURL(trialID))
    }

    /// The verified checkpoint of a trial, nil if there is none; a corrupt one is an error.
    func readCheckpoint(trialID: String) throws -> (bytes: [UInt8], checkpoint: TrainerCheckpoint)? {
        let url = checkpointURL(trialID)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        let bytes = [UInt8](data)
        let checkpoint = try TrainerCheckpoint(decoding: bytes, source: url.path)
        guard checkpoint.metadata.trialID == trialID else {
            throw CheckpointError("\(url.path): holds trial \(checkpoint.metadata.trialID), not \(trialID)")
        }
        return (bytes, checkpoint)
    }
    var journalURL: URL { directory.appendingPathComponent("trials.jsonl") }

    static func journalURL(in directory: URL) -> URL { directory.appendingPathComponent("trials.jsonl") }

    /// Prepares a new output directory. Refuses an existing, non-empty one unless `force`, in which
    /// case the sweep's own files are removed first (nothing else in it is touched).
    static func create(directory: URL, sweep: SweepFile, force: Bool) throws -> SweepOutput {
        let manager = FileManager.default
        if manager.fileExists(atPath: directory.path) {
            let contents = (try? manager.contentsOfDirectory(atPath: directory.path)) ?? []
            if !contents.isEmpty {
                guard force else {
                    throw FileError("\(directory.path): exists and is not empty; pass --resume to continue that sweep or --force to start over")
                }
                for name in ["sweep.yaml", "manifest.json", "trials.jsonl", "summary.csv", "summary.json", "curves", "groups",
                             "checkpoints", "report.html"] {
                    try? manager.removeItem(at: directory.appendingPathComponent(name))
                }
            }
        }
        try manager.createDirectory(at: directory.appendingPathComponent("curves"), withIntermediateDirectories: true)
        try manager.createDirectory(at: directory.appendingPathComponent("groups"), withIntermediateDirectories: true)
        try AtomicFile.write(Data(sweep.text.utf8), to: directory.appendingPathComponent("sweep.yaml"))
        return try SweepOutput(directory: directory)
    }

    init(directory: URL) throws {
        self.directory = directory
        journal = try Journal(url: Self.journalURL(in: directory))
    }

    /// Writes the trial's curve, then its journal line: a curve without a line is a trial not done.
    func record(_ finished: FinishedTrial, rank: Int, host: String) throws {
        if let curve = finished.curve {
            try AtomicFile.write(Data(curve.csv().utf8), to: curvesDirectory.appendingPathComponent("\(finished.result.trialID).csv"))
        }
        try journal.append(JournalEntry(result: finished.result, rank: rank, host: host))
        try? FileManager.default.removeItem(at: checkpointURL(finished.result.trialID))
    }

    /// The instrument columns of a finished trial's curve file, or nil if it has none (failed early).
    func readCurve(trialID: String, groupOf: Int) throws -> Curve? {
        let url = curvesDirectory.appendingPathComponent("\(trialID).csv")
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try CurveCSV.parse(String(decoding: data, as: UTF8.self), file: url.path)
    }

    func writeManifest(_ manifest: Manifest) throws {
        try AtomicFile.write(try JSONFormat.pretty(manifest), to: directory.appendingPathComponent("manifest.json"))
    }
}

/// Reads the global instrument columns back from a curve CSV (numbers are written in shortest
/// round-trip form, so this is exact).
enum CurveCSV {
    static func parse(_ text: String, file: String) throws -> Curve {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { throw FileError("\(file): empty curve file") }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        func column(_ name: String) throws -> Int {
            guard let i = header.firstIndex(of: name) else { throw FileError("\(file): no column '\(name)'") }
            return i
        }
        let layers = header.filter { $0.hasPrefix("weight_update_abs.") }.map { String($0.dropFirst("weight_update_abs.".count)) }
        let patternLayers = header.filter { $0.hasPrefix("pattern_change.") }.map { String($0.dropFirst("pattern_change.".count)) }
        var curve = Curve(layerNames: layers, patternLayerNames: patternLayers)
        let columns = try ["iteration", "loss", "lr", "weight_update_abs", "weight_update_rel", "pattern_change",
                           "pattern_change_init", "val_accuracy"].map(column)
        for (n, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == header.count else {
                throw FileError("\(file): line \(n + 2) has \(fields.count) fields, the header \(header.count)")
            }
            func number(_ i: Int) throws -> Double {
                guard let x = Double(fields[columns[i]]) else { throw FileError("\(file): line \(n + 2): '\(fields[columns[i]])' is not a number") }
                return x
            }
            guard let iteration = Int(fields[columns[0]]) else { throw FileError("\(file): line \(n + 2): bad iteration") }
            curve.iteration.append(iteration)
            curve.loss.append(try number(1))
            curve.lr.append(try number(2))
            curve.weightUpdateAbs.append(try number(3))
            curve.weightUpdateRel.append(try number(4))
            curve.patternChange.append(try number(5))
            curve.patternChangeInit.append(try number(6))
            curve.valAccuracy.append(fields[columns[7]].isEmpty ? nil : try number(7))
        }
        return curve
    }
}

/// `manifest.json`: what ran, where, with which build.
struct Manifest: Codable {
    var tool = "regime"
    var version = regimeVersion
    var gitCommit: String?
    var buildFlags: String?
    var sweepName: String
    var sweepFile: String
    var trials: Int
    var ranks: Int
    var hosts: [String]
    var started: String
    var ended: String?
    var resumedFrom: [String] = []
    var statistics: SweepStatistics?

    enum CodingKeys: String, CodingKey {
        case tool, version, gitCommit = "git_commit", buildFlags = "build_flags", sweepName = "sweep_name",
             sweepFile = "sweep_file", trials, ranks, hosts, started, ended, resumedFrom = "resumed_from", statistics
    }
}

let regimeVersion = "0.1.0"

/// Build facts the Makefile leaves beside the binary (`regime-build.json`): commit and flags.
enum BuildInfo {
    struct Info: Codable { var commit: String?; var flags: String? }
    static let current: Info = {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let url = executable.deletingLastPathComponent().appendingPathComponent("regime-build.json")
        guard let data = FileManager.default.contents(atPath: url.path),
              let info = try? JSONDecoder().decode(Info.self, from: data) else { return Info(commit: nil, flags: nil) }
        return info
    }()
}

func timestamp(_ date: Date = Date()) -> String {
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: date)
}
