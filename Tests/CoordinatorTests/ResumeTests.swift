import Foundation
import XCTest

/// Resume and bad-input behaviour of `regime sweep` on real files (one rank, no mpirun needed:
/// the same binary initialises MPI as a singleton).
final class ResumeTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    let tiny = TestSupport.fixtures.appendingPathComponent("tiny.yaml").path

    func regime(_ arguments: [String]) throws -> TestSupport.Run {
        try TestSupport.run(TestSupport.regimeBinary.path, arguments, timeout: 300)
    }

    func completedSweep(_ name: String) throws -> URL {
        let out = TestSupport.temporaryDirectory(name)
        let run = try regime(["sweep", tiny, "--out", out.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        return out
    }

    func testTornJournalLineIsRepairedAndTheTrialRerun() throws {
        let reference = try completedSweep("torn-reference")
        let out = try completedSweep("torn")
        let journal = out.appendingPathComponent("trials.jsonl")
        var lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map(String.init)
        // Crash mid-write of the last line: half of it, no newline.
        let last = lines.removeLast()
        try (lines.joined(separator: "\n") + "\n" + last.prefix(last.count / 2)).write(to: journal, atomically: true, encoding: .utf8)
        let status = try regime(["status", out.path])
        XCTAssertTrue(status.stdout.contains("5 done"), status.stdout)
        XCTAssertTrue(status.stdout.contains("torn"), status.stdout)
        let resumed = try regime(["sweep", "--resume", out.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("repaired"), resumed.stderr)
        try FailureIntegrationTests.assertSameResults(reference, out)
    }

    func testExtendingTheGridRunsOnlyNewTrials() throws {
        let out = try completedSweep("extend")
        let extended = TestSupport.temporaryDirectory("extend-sweep.yaml")
        try String(contentsOfFile: tiny, encoding: .utf8).replacingOccurrences(of: "seed: [1, 2, 3]", with: "seed: [1, 2, 3, 4]")
            .write(to: extended, atomically: true, encoding: .utf8)
        let resumed = try regime(["sweep", "--resume", out.path, extended.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("8 trials, 6 already done"), resumed.stderr)
        let lines = try String(contentsOf: out.appendingPathComponent("trials.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 8)
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("sweep.yaml"), encoding: .utf8),
                       try String(contentsOf: extended, encoding: .utf8))
    }

    func testChangedSpecIsRefusedAndNothingChanges() throws {
        let out = try completedSweep("changed")
        let before = try TestSupport.snapshot(out)
        let changed = TestSupport.temporaryDirectory("changed-sweep.yaml")
        try String(contentsOfFile: tiny, encoding: .utf8).replacingOccurrences(of: "lr: 0.003", with: "lr: 0.004")
            .write(to: changed, atomically: true, encoding: .utf8)
        let resumed = try regime(["sweep", "--resume", out.path, changed.path])
        XCTAssertNotEqual(resumed.status, 0)
        XCTAssertTrue(resumed.stderr.contains("a changed spec would alter existing trials"), resumed.stderr)
        XCTAssertEqual(resumed.stderr.split(separator: "\n").count, 1, resumed.stderr)
        XCTAssertEqual(try TestSupport.snapshot(out), before)
    }

    func testResumeOfAnotherSweepIsRefused() throws {
        let out = try completedSweep("other")
        let before = try TestSupport.snapshot(out)
        let other = TestSupport.temporaryDirectory("other-sweep.yaml")
        try String(contentsOfFile: tiny, encoding: .utf8).replacingOccurrences(of: "name: tiny", with: "name: another")
            .write(to: other, atomically: true, encoding: .utf8)
        let resumed = try regime(["sweep", "--resume", out.path, other.path])
        XCTAssertNotEqual(resumed.status, 0)
        XCTAssertTrue(resumed.stderr.contains("is not the sweep 'tiny'"), resumed.stderr)
        XCTAssertEqual(try TestSupport.snapshot(out), before)
        let notASweep = try regime(["sweep", "--resume", "/tmp"])
        XCTAssertNotEqual(notASweep.status, 0)
        XCTAssertTrue(notASweep.stderr.contains("not a sweep directory"), notASweep.stderr)
    }

    func testCorruptCheckpointIsRefusedAndNothingChanges() throws {
        let out = try completedSweep("corrupt")
        // Pretend the last trial was interrupted: drop its journal line, give it a corrupt checkpoint.
        let journal = out.appendingPathComponent("trials.jsonl")
        var lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map(String.init)
        let last = try JSONSerialization.jsonObject(with: Data(lines.removeLast().utf8)) as! [String: Any]
        try (lines.joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
        let checkpoints = out.appendingPathComponent("checkpoints")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let checkpoint = checkpoints.appendingPathComponent("\(last["trial_id"] as! String).ckpt")
        try Data("RGMCKPT1 garbage garbage garbage".utf8).write(to: checkpoint)
        let before = try TestSupport.snapshot(out)
        let resumed = try regime(["sweep", "--resume", out.path])
        XCTAssertNotEqual(resumed.status, 0)
        XCTAssertTrue(resumed.stderr.contains(checkpoint.path), resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("checksum mismatch"), resumed.stderr)
        XCTAssertEqual(try TestSupport.snapshot(out), before)
    }

    func testBadSweepFileLeavesAnExistingDirectoryAlone() throws {
        let out = try completedSweep("bad-file")
        let before = try TestSupport.snapshot(out)
        let bad = TestSupport.fixtures.appendingPathComponent("bad/unknown-key.yaml").path
        let run = try regime(["sweep", bad, "--out", out.path, "--force"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("unknown key 'iteratons'"), run.stderr)
        XCTAssertEqual(try TestSupport.snapshot(out), before)
    }

    func testMissingDatasetFilesFailBeforeAnythingRuns() throws {
        let sweep = TestSupport.temporaryDirectory("missing-data.yaml")
        try """
        name: missing
        dataset: {name: fashion-mnist, path: /nonexistent/fashion}
        iterations: 10
        batch_size: 8
        grid: {seed: [1], arch: ["mlp:784-8-10"], optimizer: [{name: sgd, lr: 0.1}]}
        """.write(to: sweep, atomically: true, encoding: .utf8)
        let out = TestSupport.temporaryDirectory("missing-data-out")
        let run = try regime(["sweep", sweep.path, "--out", out.path])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("/nonexistent/fashion/train-images-idx3-ubyte: file not found"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "output directory created for a sweep that cannot run")
    }
}
