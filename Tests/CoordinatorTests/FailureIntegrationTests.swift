import Foundation
import XCTest

/// Kills real ranks with SIGKILL under real mpirun mid-trial, resumes with another rank count,
/// and requires the final results to equal an uninterrupted run's, bit for bit.
final class FailureIntegrationTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    static let sweep = TestSupport.fixtures.appendingPathComponent("failures.yaml").path
    nonisolated(unsafe) static var reference: URL?
    private static let referenceLock = NSLock()

    /// The uninterrupted run of `failures.yaml` on 2 ranks, made once per test process (the
    /// signal tests compare against it too).
    static func referenceRun() throws -> URL {
        referenceLock.lock(); defer { referenceLock.unlock() }
        // (Another class's tearDown may have removed it since.)
        if let reference = Self.reference, FileManager.default.fileExists(atPath: reference.appendingPathComponent("summary.json").path) {
            return reference
        }
        let out = TestSupport.temporaryDirectory("failures-reference")
        let run = try TestSupport.mpirunRegime(ranks: 2, ["sweep", Self.sweep, "--out", out.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        Self.reference = out
        return out
    }

    func testWorkerKilledMidTrialThenResumedWithThreeRanks() throws {
        try killAndResume(victimRank: 1, ranks: 2, resumeRanks: 3, name: "kill-worker")
    }

    func testRankZeroKilledMidTrialThenResumedAlone() throws {
        try killAndResume(victimRank: 0, ranks: 2, resumeRanks: 1, name: "kill-rank0")
    }

    func killAndResume(victimRank: Int, ranks: Int, resumeRanks: Int, name: String) throws {
        let reference = try Self.referenceRun()
        let out = TestSupport.temporaryDirectory(name)
        let process = try TestSupport.startMPIRun(["--oversubscribe", "-np", "\(ranks)", TestSupport.regimeBinary.path,
                                                   "sweep", Self.sweep, "--out", out.path])
        var killed = false
        // Mid-sweep and mid-trial: one trial journaled, another with a checkpoint.
        if TestSupport.waitUntilMidTrial(out, process: process, timeout: 120) {
            // The rank's process may need a moment to appear under /proc after the first checkpoint.
            let deadline = Date().addingTimeInterval(10)
            while !killed && Date() < deadline {
                if let pid = Self.rankProcess(rank: victimRank, outputPath: out.path) {
                    XCTAssertEqual(kill(pid, SIGKILL), 0)
                    killed = true
                } else {
                    usleep(10_000)
                }
            }
        }
        XCTAssertTrue(killed, "never found a moment to kill rank \(victimRank)")
        let exitDeadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < exitDeadline { usleep(50_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0, "the killed job should not report success")

        let status = try TestSupport.run(TestSupport.regimeBinary.path, ["status", out.path])
        XCTAssertTrue(status.stdout.contains("remaining"), status.stdout)

        let resumed = try TestSupport.mpirunRegime(ranks: resumeRanks, ["sweep", "--resume", out.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        try Self.assertSameResults(reference, out)
        try? FileManager.default.removeItem(at: out)
    }

    /// The pid of the `regime` process of `rank` writing into `outputPath`, from /proc.
    static func rankProcess(rank: Int, outputPath: String) -> pid_t? {
        TestSupport.regimeProcesses(outputPath: outputPath).first { $0.environment.contains("OMPI_COMM_WORLD_RANK=\(rank)") }?.pid
    }

    /// The journal (less timing, rank and host), the summary and every curve and group file of
    /// `b` equal `a`'s, which has `trials` trials each journaled once.
    static func assertSameResults(_ a: URL, _ b: URL, trials: Int = 6, file: StaticString = #filePath, line: UInt = #line) throws {
        let journalA = try comparableJournal(a), journalB = try comparableJournal(b)
        XCTAssertEqual(journalA.count, trials, file: file, line: line)
        XCTAssertEqual(journalB.count, journalA.count, "trial count differs (a trial ran twice or not at all)", file: file, line: line)
        XCTAssertEqual(journalA, journalB, file: file, line: line)
        for name in ["summary.json", "summary.csv"] {
            XCTAssertEqual(try Data(contentsOf: a.appendingPathComponent(name)), try Data(contentsOf: b.appendingPathComponent(name)),
                           "\(name) differs", file: file, line: line)
        }
        for folder in ["curves", "groups"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: a.appendingPathComponent(folder).path).sorted()
            XCTAssertEqual(files, try FileManager.default.contentsOfDirectory(atPath: b.appendingPathComponent(folder).path).sorted(),
                           file: file, line: line)
            // Every ok trial's settling curve is among them (docs/numerics.md, "Settling to the final state").
            if folder == "curves" {
                XCTAssertEqual(files.filter { $0.hasSuffix(".settling.csv") }.count, journalA.filter { $0.contains("\"status\":\"ok\"") }.count,
                               file: file, line: line)
            }
            for f in files {
                XCTAssertEqual(try Data(contentsOf: a.appendingPathComponent(folder).appendingPathComponent(f)),
                               try Data(contentsOf: b.appendingPathComponent(folder).appendingPathComponent(f)),
                               "\(folder)/\(f) differs", file: file, line: line)
            }
        }
    }

    /// Journal lines less timing, rank and host, in trial-id order, as canonical JSON strings.
    static func comparableJournal(_ directory: URL) throws -> [String] {
        let text = try String(contentsOf: directory.appendingPathComponent("trials.jsonl"), encoding: .utf8)
        var ids = Set<String>()
        return try text.split(separator: "\n").map { line -> (String, String) in
            var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            for key in ["wall_seconds", "rank", "host"] { object[key] = nil }
            let id = object["trial_id"] as! String
            XCTAssertTrue(ids.insert(id).inserted, "trial \(id) journaled twice")
            return (id, String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
