import Foundation
import RegimeCore
import XCTest
@testable import SweepStore

/// Sweeps at scale, simulated: 2000 trials of a few milliseconds each over 5 ranks (oversubscribed
/// on however many cores), so that rank 0 handles results as fast as it can. Every trial runs
/// exactly once; a SIGKILL of mpirun mid-way then `--resume` (with another rank count) ends
/// identical to the uninterrupted run; and rank 0's cost per result is measured and printed (the
/// numbers behind the README's table of what rank 0 can sustain).
final class ScaleTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    static let ranks = 5
    static let seeds = 200
    static let learningRates = 10

    /// 10 groups (learning rates) x 200 seeds of a 32-8-10 MLP on the synthetic teacher data, 20 steps each.
    func sweepFile() throws -> URL {
        let rates = (0..<Self.learningRates).map { String(format: "{name: sgd, lr: %.3f}", 0.05 + 0.01 * Double($0)) }
        let url = TestSupport.temporaryDirectory("scale.yaml")
        try """
        name: scale
        dataset: {name: synthetic, probe_subset: 32, probe_seed: 3}
        iterations: 20
        batch_size: 16
        eval_every: 20
        analysis: {smoothing: 3, thresholds: [0.1, 0.2, 0.5], reference: {mode: early_peak, window: 10, skip: 0}}
        grid:
          seed: [\((1...Self.seeds).map(String.init).joined(separator: ", "))]
          arch: ["mlp:32-8-10"]
          optimizer: [\(rates.joined(separator: ", "))]
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testTwoThousandTrialsOnceEachAndAKilledMPIRunResumesIdentically() throws {
        let sweepURL = try sweepFile()
        let sweep = try SweepFile.load(path: sweepURL.path)
        XCTAssertEqual(sweep.trials.count, 2000)

        // The uninterrupted run, rank 0 only serving: every result crosses MPI, and rank 0's cost
        // per result is its serving thread's alone.
        let reference = TestSupport.temporaryDirectory("scale-reference")
        let run = try TestSupport.mpirunRegime(ranks: Self.ranks, ["sweep", sweepURL.path, "--out", reference.path, "--serve-only"],
                                               timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = try String(contentsOf: reference.appendingPathComponent("trials.jsonl"), encoding: .utf8).split(separator: "\n")
        let ids = try lines.map { line -> String in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return object["trial_id"] as! String
        }
        XCTAssertEqual(ids.count, 2000, "one journal line per trial")
        XCTAssertEqual(Set(ids).count, ids.count, "a trial ran twice")
        XCTAssertEqual(Set(ids), Set(sweep.trials.map(\.trialID)), "a trial did not run")

        let manifest = try JSONCoding.decoder().decode(Manifest.self, from: Data(contentsOf: reference.appendingPathComponent("manifest.json")))
        let statistics = try XCTUnwrap(manifest.statistics)
        let load = try XCTUnwrap(statistics.rankZero), waits = try XCTUnwrap(statistics.workerWaits)
        XCTAssertEqual(load.results, 2000)
        XCTAssertEqual(waits.trials, 2000, "with --serve-only the workers run every trial")
        XCTAssertGreaterThan(load.commits, 0)
        XCTAssertLessThanOrEqual(load.commits, load.results)
        let curveBytes = try FileManager.default.contentsOfDirectory(atPath: reference.appendingPathComponent("curves").path)
            .reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: reference.appendingPathComponent("curves/\($1)").path)[.size] as? Int) ?? 0) }
        XCTAssertEqual(load.curveBytes, curveBytes, "curve bytes counted are the bytes in curves/")
        XCTAssertEqual(load.journalBytes, try Data(contentsOf: reference.appendingPathComponent("trials.jsonl")).count)
        let serving = try XCTUnwrap(load.servingCPUSeconds)
        let wall = statistics.wallSeconds
        print(String(format: """
            scale: %d results in %.2f s on %d ranks (%.0f results/s, %d group commits); rank 0 per result: \
            %.3f ms serving-thread CPU, %.3f ms handling (wall); journal %.0f B and curve %.0f B per result, \
            %.0f journal+curve bytes/s; workers' assignment waits %.3f s total, %.3f s at most
            """, load.results, wall, statistics.ranks, Double(load.results) / wall, load.commits,
            1e3 * serving / Double(load.results), 1e3 * load.handlingSeconds / Double(load.results),
            Double(load.journalBytes) / Double(load.results), Double(load.curveBytes) / Double(load.results),
            Double(load.journalBytes + load.curveBytes) / wall, waits.assignmentSeconds, waits.assignmentMaxSeconds))

        // The same sweep, rank 0 training too, its mpirun SIGKILLed mid-way, then resumed.
        let out = TestSupport.temporaryDirectory("scale-killed")
        let process = try TestSupport.startMPIRun(["--oversubscribe", "-np", "\(Self.ranks)", TestSupport.regimeBinary.path,
                                                   "sweep", sweepURL.path, "--out", out.path])
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && TestSupport.journalLines(out) < 600 && Date() < deadline { usleep(5_000) }
        XCTAssertTrue(process.isRunning, "the sweep ended before it could be killed mid-way")
        XCTAssertEqual(kill(process.processIdentifier, SIGKILL), 0)
        process.waitUntilExit()
        XCTAssertTrue(TestSupport.waitUntilNoRankWrites(out.path, timeout: 30), "ranks still write after mpirun was killed")
        let done = TestSupport.journalLines(out)
        XCTAssertGreaterThanOrEqual(done, 600)
        XCTAssertLessThan(done, 2000, "killed mid-way")
        let resumed = try TestSupport.mpirunRegime(ranks: Self.ranks - 1, ["sweep", "--resume", out.path], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("2000 trials, \(done) already done"), String(resumed.stderr.prefix(300)))
        try FailureIntegrationTests.assertSameResults(reference, out, trials: 2000)
    }
}
