import Foundation
import RegimeCore
import SweepStore

/// Peak resident memory of one child process, measured as `/usr/bin/time -v` measures it: the
/// `ru_maxrss` that `wait4` returns for the child (its own high-water mark, nothing of the parent).
public struct ChildPeakMemory: Codable, Sendable {
    public var label: String
    public var arguments: [String]
    public var status: Int32
    public var peakResidentBytes: Int
    public var wallSeconds: Double
}

/// Runs `executable arguments` (output discarded) to its end and returns its peak resident memory.
public func measureChildPeakMemory(label: String, executable: String, arguments: [String],
                                   environment: [String: String] = [:]) throws -> ChildPeakMemory {
    var merged = ProcessInfo.processInfo.environment
    for (key, value) in environment { merged[key] = value }
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in argv + envp { free(p) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var pid = pid_t()
    let start = Date()
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
    guard spawned == 0 else { throw BenchError("cannot run \(executable): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else { throw BenchError("wait4 for \(executable) failed: \(String(cString: strerror(errno)))") }
    }
    // Exit code when the child exited (low 7 bits zero), else 128 + the signal that ended it.
    let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return ChildPeakMemory(label: label, arguments: arguments, status: code, peakResidentBytes: Int(usage.ru_maxrss) * 1024,
                           wallSeconds: Date().timeIntervalSince(start))
}

/// Every rank's memory in a sweep run under `mpirun` on this host, from the sweep's manifest.
public struct SweepMemory: Codable, Sendable {
    public var ranks: Int
    public var trials: Int
    public var status: Int32
    public var memory: [RankMemory]
}

/// Runs `sweepText` as a sweep with `ranks` ranks on this host (`mpirun --oversubscribe`) in
/// `directory` and reads back each rank's memory from `manifest.json`.
public func measureSweepMemory(mpirun: String, executable: String, sweepText: String, ranks: Int,
                               directory: URL) throws -> SweepMemory {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let sweepURL = directory.appendingPathComponent("sweep.yaml")
    try Data(sweepText.utf8).write(to: sweepURL)
    let out = directory.appendingPathComponent("out")
    let run = try measureChildPeakMemory(
        label: "sweep", executable: mpirun,
        arguments: ["--oversubscribe", "-np", "\(ranks)", executable, "sweep", sweepURL.path, "--out", out.path, "--force"],
        environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
    guard run.status == 0 else { throw BenchError("mpirun -np \(ranks) \(executable) sweep failed (status \(run.status))") }
    let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: out.appendingPathComponent("manifest.json")))
    guard let memory = manifest.statistics?.memory else { throw BenchError("\(out.path)/manifest.json: no memory recorded") }
    return SweepMemory(ranks: ranks, trials: manifest.trials, status: run.status, memory: memory)
}

public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
