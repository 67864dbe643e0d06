import Foundation
import XCTest

/// Input that would exhaust the machine or cannot work, through the real binary: `regime plan`,
/// `regime sweep` under mpirun (new and resumed) and `regime train` refuse it with one line and a
/// non-zero exit, and write nothing; `plan` refuses exactly what `sweep` refuses. And a sweep
/// whose trials fail at run time on one rank finishes, with those trials recorded as failed.
final class LimitsIntegrationTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    static let bad = TestSupport.fixtures.appendingPathComponent("bad")

    func regime(_ arguments: [String], environment: [String: String] = [:]) throws -> TestSupport.Run {
        try TestSupport.run(TestSupport.regimeBinary.path, arguments, timeout: 300, environment: environment)
    }

    /// The lines `regime` itself wrote to stderr (mpirun adds its own about the exit status).
    func regimeLines(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("regime ") }
    }

    /// For a few of the bad-input fixtures: `regime plan` and `mpirun -np 2 regime sweep` print the
    /// same one-line error, exit non-zero, and the sweep's output directory is never made.
    func testPlanRefusesWhatSweepRefuses() throws {
        for name in ["memory-parameters", "data-probe-larger-than-held-out", "shape-cnn-kernel-larger-than-map",
                     "overflow-iterations-times-batch", "data-missing-files"] {
            let fixture = Self.bad.appendingPathComponent("\(name).yaml").path
            let expected = try String(contentsOfFile: fixture, encoding: .utf8).split(separator: "\n")[0].dropFirst("# expect: ".count)
            let plan = try regime(["plan", fixture, "--memory-per-rank", "4G"])
            XCTAssertEqual(plan.status, 1, name)
            XCTAssertEqual(plan.stdout, "", name)
            let planLines = plan.stderr.split(separator: "\n").map(String.init)
            XCTAssertEqual(planLines.count, 1, "\(name): \(plan.stderr)")
            XCTAssertTrue(plan.stderr.hasPrefix("regime plan: \(fixture)"), plan.stderr)
            XCTAssertTrue(plan.stderr.contains(expected), "\(name): \(plan.stderr)")

            let out = TestSupport.temporaryDirectory("limits-\(name)")
            let sweep = try TestSupport.mpirunRegime(ranks: 2, ["sweep", fixture, "--out", out.path, "--memory-per-rank", "4G"])
            XCTAssertNotEqual(sweep.status, 0, name)
            XCTAssertEqual(regimeLines(sweep.stderr), [planLines[0].replacingOccurrences(of: "regime plan: ", with: "regime sweep: ")],
                           sweep.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "\(name): output directory made for a refused sweep")
        }
    }

    /// The issue's example: a width with an extra 9 costs one line, not a 318 GB allocation.
    func testTrainRefusesAnArchitectureNoRankCanHold() throws {
        let out = TestSupport.temporaryDirectory("limits-train")
        let run = try regime(["train", "--arch", "mlp:784-99999999-10", "--iterations", "10", "--out", out.path,
                              "--memory-per-rank", "11.7G"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stderr, "regime train: --arch 'mlp:784-99999999-10' needs 318 GB for parameters alone; a rank has 11.7 GB (--memory-per-rank 11.7G)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))

        let batch = try regime(["train", "--arch", "mlp:784-16-10", "--train-subset", "1000", "--batch-size", "2000",
                                "--out", out.path])
        XCTAssertEqual(batch.status, 1)
        XCTAssertEqual(batch.stderr, "regime train: batch_size: 2000 exceeds the 1000 examples of the training subset: every batch would repeat examples (batch_size 1000 is full-batch training)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    /// The budget from the environment, and a malformed size, each in one line.
    func testMemoryBudgetFromTheEnvironment() throws {
        let tiny = TestSupport.fixtures.appendingPathComponent("tiny.yaml").path
        let small = try regime(["plan", tiny], environment: ["REGIME_MEMORY_PER_RANK": "20M"])
        XCTAssertEqual(small.status, 1)
        XCTAssertTrue(small.stderr.hasPrefix("regime plan: \(tiny):12: grid.arch[0] 'mlp:32-48-48-10' needs "), small.stderr)
        XCTAssertTrue(small.stderr.hasSuffix("; a rank has 20.0 MB (REGIME_MEMORY_PER_RANK=20M)\n"), small.stderr)
        let enough = try regime(["plan", tiny], environment: ["REGIME_MEMORY_PER_RANK": "1G"])
        XCTAssertEqual(enough.status, 0, enough.stderr)
        XCTAssertTrue(enough.stdout.contains("; a rank has 1.00 GB (REGIME_MEMORY_PER_RANK=1G)"), enough.stdout)
        let malformed = try regime(["plan", tiny, "--memory-per-rank", "lots"])
        XCTAssertEqual(malformed.status, 1)
        XCTAssertEqual(malformed.stderr, "regime plan: --memory-per-rank: expected a size such as 8G, 512M or 16GiB, got 'lots'\n")
    }

    /// A corrupt data file stops `plan` as it stops `sweep`.
    func testCorruptDataFileIsRefusedByPlan() throws {
        let source = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: source) else { throw XCTSkip("Fashion-MNIST is not installed") }
        let data = TestSupport.temporaryDirectory("limits-corrupt-data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(source)/\(name)"))
            // The training images cut in half: a truncated gzip stream.
            try (name.hasPrefix("train-images") ? bytes.prefix(bytes.count / 2) : bytes).write(to: data.appendingPathComponent(name))
        }
        let sweep = TestSupport.temporaryDirectory("limits-corrupt.yaml")
        try """
        name: corrupt
        dataset: {name: fashion-mnist, path: \(data.path)}
        iterations: 10
        batch_size: 8
        grid: {seed: [1], arch: ["mlp:784-8-10"], optimizer: [{name: sgd, lr: 0.1}]}
        """.write(to: sweep, atomically: true, encoding: .utf8)
        let plan = try regime(["plan", sweep.path])
        XCTAssertEqual(plan.status, 1)
        let images = try FileManager.default.contentsOfDirectory(atPath: data.path).first { $0.hasPrefix("train-images") }!
        XCTAssertTrue(plan.stderr.hasPrefix("regime plan: \(sweep.path):2: dataset: \(data.path)/\(images): corrupt"), plan.stderr)
        XCTAssertEqual(plan.stderr.split(separator: "\n").count, 1, plan.stderr)
        let out = TestSupport.temporaryDirectory("limits-corrupt-out")
        let run = try regime(["sweep", sweep.path, "--out", out.path])
        XCTAssertEqual(run.stderr, plan.stderr.replacingOccurrences(of: "regime plan: ", with: "regime sweep: "))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    /// `--resume` with an extended sweep that adds an architecture no rank can hold: refused in
    /// one line, and the results directory is untouched.
    func testExtendedSweepIsCheckedBeforeResuming() throws {
        let tiny = TestSupport.fixtures.appendingPathComponent("tiny.yaml").path
        let out = TestSupport.temporaryDirectory("limits-extend")
        let first = try regime(["sweep", tiny, "--out", out.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        let before = try TestSupport.snapshot(out)
        let extended = TestSupport.temporaryDirectory("limits-extend.yaml")
        try String(contentsOfFile: tiny, encoding: .utf8)
            .replacingOccurrences(of: #"arch: ["mlp:32-48-48-10"]"#, with: #"arch: ["mlp:32-48-48-10", "mlp:32-999999999-10"]"#)
            .write(to: extended, atomically: true, encoding: .utf8)
        let resumed = try TestSupport.mpirunRegime(ranks: 2, ["sweep", "--resume", out.path, extended.path, "--memory-per-rank", "4G"])
        XCTAssertNotEqual(resumed.status, 0)
        XCTAssertEqual(regimeLines(resumed.stderr),
                       ["regime sweep: \(extended.path):12: grid.arch[1] 'mlp:32-999999999-10' needs 172 GB for parameters alone; a rank has 4.00 GB (--memory-per-rank 4G)"],
                       resumed.stderr)
        XCTAssertEqual(try TestSupport.snapshot(out), before)
    }

    /// A rank that cannot read the data set (started in a directory where the sweep's relative
    /// `dataset.path` does not exist, with mpirun's per-rank working directories) fails each trial
    /// it is given, with the message; rank 0 runs the others; the sweep finishes and exits 0.
    func testTrialsFailingOnOneRankDoNotStopTheSweep() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else {
            throw XCTSkip("Fashion-MNIST is not installed")
        }
        let good = TestSupport.temporaryDirectory("limits-rank0-dir")
        let empty = TestSupport.temporaryDirectory("limits-rank1-dir")
        try FileManager.default.createDirectory(at: good, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: good.appendingPathComponent("data").path,
                                                   withDestinationPath: "/usr/share/datasets/fashion-mnist")
        let sweep = TestSupport.temporaryDirectory("limits-one-rank-fails.yaml")
        try """
        name: one-rank-fails
        dataset: {name: fashion-mnist, path: data, train_subset: 2000, probe_subset: 64, val_subset: 500}
        iterations: 150
        batch_size: 32
        eval_every: 50
        grid: {seed: [1, 2, 3, 4], arch: ["mlp:784-32-10"], optimizer: [{name: sgd, lr: 0.05}]}
        """.write(to: sweep, atomically: true, encoding: .utf8)
        let out = TestSupport.temporaryDirectory("limits-one-rank-fails-out")
        let binary = TestSupport.regimeBinary.path
        let arguments = ["sweep", sweep.path, "--out", out.path]
        let run = try TestSupport.run(TestSupport.mpirun, ["--oversubscribe", "-np", "1", "--wdir", good.path, binary] + arguments
                                      + [":", "-np", "1", "--wdir", empty.path, binary] + arguments, timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = try String(contentsOf: out.appendingPathComponent("trials.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        var failed = 0, ok = 0
        for line in lines {
            let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            switch (entry["status"] as? String, entry["rank"] as? Int) {
            case ("failed", 1):
                failed += 1
                XCTAssertEqual(entry["error"] as? String, "data/train-images-idx3-ubyte: file not found")
            case ("ok", 0):
                ok += 1
            default:
                XCTFail("unexpected journal line: \(line)")
            }
        }
        XCTAssertGreaterThan(failed, 0, "rank 1 ran no trial")
        XCTAssertGreaterThan(ok, 0, "rank 0 ran no trial")
        let status = try regime(["status", out.path])
        XCTAssertTrue(status.stdout.contains("4 trials: \(ok) done, \(failed) diverged or failed, 0 remaining"), status.stdout)
    }
}
