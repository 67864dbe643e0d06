import Foundation
import XCTest

/// Paths and process helpers for the Coordinator tests.
enum TestSupport {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The `regime` executable built beside this test bundle (same configuration).
    static var regimeBinary: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // On Linux the test runner is .build/<config>/<package>PackageTests.xctest; on macOS a bundle.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("regime").path),
              directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("regime")
    }

    /// A fresh path under /tmp for this process, remembered under the calling file so that
    /// `removeTemporaryDirectories()` from that file's test class removes exactly its own.
    static func temporaryDirectory(_ name: String, file: String = #fileID) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("regime-tests-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: url)
        madeLock.lock()
        made[file, default: []].append(url)
        madeLock.unlock()
        return url
    }

    private static let madeLock = NSLock()
    nonisolated(unsafe) private static var made: [String: [URL]] = [:]

    /// Removes the paths `temporaryDirectory` made for the calling file (test classes call it from
    /// their class tearDown, so sweeps do not pile up under /tmp; other classes' shared fixtures stay).
    static func removeTemporaryDirectories(file: String = #fileID) {
        madeLock.lock()
        let urls = made.removeValue(forKey: file) ?? []
        madeLock.unlock()
        for url in urls { try? FileManager.default.removeItem(at: url) }
    }

    /// Every file's bytes under `directory`, for "nothing was changed" checks.
    static func snapshot(_ directory: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory.path)!
        while let path = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let full = directory.appendingPathComponent(path)
            if FileManager.default.fileExists(atPath: full.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[path] = try Data(contentsOf: full)
            }
        }
        return files
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion, killing it after `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 300,
                    environment extra: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (k, v) in extra { environment[k] = v }
        process.environment = environment
        // Output goes to files, not pipes: a chatty child can never block on a full pipe.
        let outURL = temporaryDirectory("stdout-\(UUID().uuidString)")
        let errURL = temporaryDirectory("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        let outData = FileManager.default.contents(atPath: outURL.path) ?? Data()
        let errData = FileManager.default.contents(atPath: errURL.path) ?? Data()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Starts `mpirun ARGUMENTS` in the background, output discarded (the tests read the files).
    static func startMPIRun(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Waits until the sweep writing `out` is mid-sweep and mid-trial (a trial journaled, another
    /// checkpointed); false if the process ended or `timeout` passed first.
    static func waitUntilMidTrial(_ out: URL, process: Process, timeout: Double) -> Bool {
        let journal = out.appendingPathComponent("trials.jsonl")
        let checkpoints = out.appendingPathComponent("checkpoints")
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline {
            let lines = (try? String(contentsOf: journal, encoding: .utf8))?.split(separator: "\n").count ?? 0
            let saved = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path))?.filter { $0.hasSuffix(".ckpt") } ?? []
            if lines >= 1 && !saved.isEmpty { return true }
            usleep(10_000)
        }
        return false
    }

    static var mpirun: String {
        for candidate in ["/usr/bin/mpirun", "/usr/local/bin/mpirun"] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        return "mpirun"
    }

    /// `mpirun --oversubscribe -np N regime ARGS...`
    static func mpirunRegime(ranks: Int, _ arguments: [String], timeout: Double = 600) throws -> Run {
        try run(mpirun, ["--oversubscribe", "-np", "\(ranks)", regimeBinary.path] + arguments, timeout: timeout)
    }
}
