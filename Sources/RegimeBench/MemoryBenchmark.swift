import Foundation
import RegimeCore
import SweepStore

/// Peak resident memory of one child process, measured by `/usr/bin/time` (the number its `-v`
/// output calls "Maximum resident set size": the `ru_maxrss` that `wait4` returns for the child).
///
/// Why through `/usr/bin/time` rather than by spawning the child here: Linux carries a process's
/// high-water mark across `exec`, and `posix_spawn` (like `vfork`) runs the child on the parent's
/// memory until it execs, so a child spawned straight from a large process (a benchmark holding a
/// data set as Floats, a test runner) inherits the parent's peak as its own. `/usr/bin/time` is a
/// small process that forks the command: the figure is the command's alone.
public struct ChildPeakMemory: Codable, Sendable {
    public var label: String
    public var arguments: [String]
    public var status: Int32
    public var peakResidentBytes: Int
    public var wallSeconds: Double
}

/// Runs `executable arguments` (output discarded) to its end under `/usr/bin/time` and returns
/// its peak resident memory.
public func measureChildPeakMemory(label: String, executable: String, arguments: [String],
                                   environment: [String: String] = [:]) throws -> ChildPeakMemory {
    let time = "/usr/bin/time"
    guard FileManager.default.isExecutableFile(atPath: time) else {
        throw BenchError("\(time) not found (Debian package `time`; `make setup` installs it)")
    }
    let report = FileManager.default.temporaryDirectory.appendingPathComponent("regime-peak-\(getpid())-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: report) }
    var merged = ProcessInfo.processInfo.environment
    for (key, value) in environment { merged[key] = value }
    let argv = ([time, "-f", "%M", "-o", report.path, executable] + arguments).map { strdup($0) } + [nil]
    let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in argv + envp { free(p) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var pid = pid_t()
    let start = Date()
    let spawned = posix_spawn(&pid, time, &actions, nil, argv, envp)
    guard spawned == 0 else { throw BenchError("cannot run \(time): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw BenchError("waitpid for \(executable) failed: \(String(cString: strerror(errno)))") }
    }
    // Exit code when the child exited (low 7 bits zero), else 128 + the signal that ended it;
    // /usr/bin/time exits with the command's status.
    let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    // The last line of the report is %M, in kilobytes (a killed command adds a line before it).
    let text = (try? String(contentsOf: report, encoding: .utf8)) ?? ""
    guard let kilobytes = text.split(separator: "\n").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) else {
        throw BenchError("\(time) reported no peak for \(executable) (status \(code)): '\(text)'")
    }
    return ChildPeakMemory(label: label, arguments: arguments, status: code, peakResidentBytes: kilobytes * 1024,
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
