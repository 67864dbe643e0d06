import Foundation
import RegimeAnalysis
import RegimeCore

/// `manifest.json`: what ran, where, with which build.
public struct Manifest: Codable, Sendable {
    public var tool = "regime"
    public var version = regimeVersion
    public var gitCommit: String?
    public var buildFlags: String?
    public var sweepName: String
    public var sweepFile: String
    public var trials: Int
    public var ranks: Int
    public var hosts: [String]
    public var started: String
    public var ended: String?
    public var resumedFrom: [String] = []
    public var statistics: SweepStatistics?
    /// The analysis settings of the current `summary.json`, and where they came from (the sweep
    /// file's `analysis:` section, or the file given to `regime analyze --analysis`).
    public var analysis: AnalysisOptions?
    public var analysisSource: String?
    /// When `regime analyze` last recomputed the summary (nil: the sweep itself wrote it).
    public var analyzed: String?

    public init(gitCommit: String?, buildFlags: String?, sweepName: String, sweepFile: String, trials: Int, ranks: Int,
                hosts: [String], started: String) {
        self.gitCommit = gitCommit; self.buildFlags = buildFlags; self.sweepName = sweepName; self.sweepFile = sweepFile
        self.trials = trials; self.ranks = ranks; self.hosts = hosts; self.started = started
    }

    enum CodingKeys: String, CodingKey {
        case tool, version, gitCommit = "git_commit", buildFlags = "build_flags", sweepName = "sweep_name",
             sweepFile = "sweep_file", trials, ranks, hosts, started, ended, resumedFrom = "resumed_from", statistics,
             analysis, analysisSource = "analysis_source", analyzed
    }
}

/// How a run used its ranks (`manifest.json`'s `statistics`).
public struct SweepStatistics: Codable, Sendable {
    public var wallSeconds: Double
    public var computeSeconds: Double
    public var ranks: Int
    /// Sum of trial compute seconds over (wall seconds x ranks).
    public var efficiency: Double
    /// Each rank's memory at the end of its training, in rank order (absent in older manifests).
    public var memory: [RankMemory]?
    /// How long the workers waited on rank 0 (nil in manifests of regime 0.2.0).
    public var workerWaits: WorkerWaitStatistics?
    /// What handling the results cost rank 0 (nil in manifests of regime 0.2.0).
    public var rankZero: RankZeroLoad?

    public init(wallSeconds: Double, computeSeconds: Double, ranks: Int, efficiency: Double, memory: [RankMemory]? = nil,
                workerWaits: WorkerWaitStatistics? = nil, rankZero: RankZeroLoad? = nil) {
        self.wallSeconds = wallSeconds; self.computeSeconds = computeSeconds; self.ranks = ranks; self.efficiency = efficiency
        self.memory = memory; self.workerWaits = workerWaits; self.rankZero = rankZero
    }

    enum CodingKeys: String, CodingKey {
        case wallSeconds = "wall_seconds", computeSeconds = "compute_seconds", ranks, efficiency = "scheduling_efficiency",
             memory, workerWaits = "worker_waits", rankZero = "rank0"
    }
}

/// One rank's memory in `manifest.json` (see `ProcessMemory`).
public struct RankMemory: Codable, Sendable, Equatable {
    public var rank: Int
    public var host: String
    public var memory: ProcessMemory

    public init(rank: Int, host: String, memory: ProcessMemory) { self.rank = rank; self.host = host; self.memory = memory }
}

extension SweepStatistics {
    /// One line for the end of a sweep: the range over ranks of the peak resident memory and of
    /// each rank's own (anonymous) memory, and the host-shared data files mapped; nil if unknown.
    public var memoryLine: String? {
        guard let memory, !memory.isEmpty else { return nil }
        func range(_ values: [Int]) -> String {
            let (low, high) = (Double(values.min()!) / 1_048_576, Double(values.max()!) / 1_048_576)
            return String(format: low.rounded() == high.rounded() ? "%.0f MiB" : "%.0f-%.0f MiB", low, high)
        }
        let files: [String] = Set(memory.flatMap { $0.memory.dataFiles }).sorted()
        let peak = range(memory.map { $0.memory.peakResidentBytes })
        let own = range(memory.map { $0.memory.anonymousBytes })
        var line = "memory per rank: peak \(peak), own \(own)"
        if !files.isEmpty { line += "; data mapped from " + files.joined(separator: ", ") }
        return line
    }
}

public let regimeVersion = "0.2.0"

/// Build facts the Makefile leaves beside the binary (`regime-build.json`): commit and flags.
public enum BuildInfo {
    public struct Info: Codable, Sendable { public var commit: String?; public var flags: String? }
    public static let current: Info = {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let url = executable.deletingLastPathComponent().appendingPathComponent("regime-build.json")
        guard let data = FileManager.default.contents(atPath: url.path),
              let info = try? JSONDecoder().decode(Info.self, from: data) else { return Info(commit: nil, flags: nil) }
        return info
    }()
}

public func timestamp(_ date: Date = Date()) -> String {
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: date)
}
