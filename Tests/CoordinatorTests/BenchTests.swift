import Foundation
import XCTest
@testable import RegimeBench
import RegimeCore

/// `regime bench` end to end at tiny settings: what it prints is well-formed and its loops were
/// timed in the rounds of turns asked for. (Its rates are not checked: speed lives in the bench's
/// own same-run ratios, never in a timed test.)
final class BenchTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    /// The smallest bench that still times every loop mode of two architectures in turns.
    let tiny = ["bench", "--sizes", "64", "--gemm-seconds", "0.01", "--loop-seconds", "0.2",
                "--archs", "mlp:784-32-10,cnn:1x28x28-c4k3-p-fc8-10", "--batch", "16", "--probe", "32",
                "--gated-arch", "", "--instruments-arch", "", "--certified-arch", "",
                "--memory-iterations", "0", "--numpy-script", "none"]

    func testLoopsAreTimedInTurnsAndReportedPerArchitecture() throws {
        let run = try TestSupport.run(TestSupport.regimeBinary.path, tiny + ["--loop-rounds", "3", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let loops = try XCTUnwrap(report?["loops"] as? [[String: Any]], "no loops in: \(run.stdout.prefix(400))")
        XCTAssertEqual(loops.map { $0["arch"] as? String }, ["mlp:784-32-10", "cnn:1x28x28-c4k3-p-fc8-10"])
        for loop in loops {
            XCTAssertEqual(loop["rounds"] as? Int, 3, "\(loop)")
            for key in ["iterationsPerSecond", "trackedIterationsPerSecond", "patternsOnlyIterationsPerSecond",
                        "wallIterationsPerSecond", "trackedWallIterationsPerSecond"] {
                let rate = try XCTUnwrap(loop[key] as? Double, "\(key) missing in \(loop)")
                XCTAssert(rate.isFinite && rate > 0, "\(key) = \(rate)")
            }
            // Every loop's steps were also timed inside their kernels.
            let kernels = try XCTUnwrap(loop["kernels"] as? [String: Any], "no kernel times in \(loop)")
            XCTAssertEqual(Set(kernels.keys), ["untracked", "patternsOnly", "tracked", "trackedShapes"])
            for mode in ["untracked", "patternsOnly", "tracked"] {
                let time = try XCTUnwrap(kernels[mode] as? [String: Double], "\(mode) in \(kernels)")
                XCTAssert((time["milliseconds"] ?? 0) > 0 && (time["flops"] ?? 0) > 0, "\(mode): \(time)")
            }
            // The tracked loop's kernels also ran the probe pass.
            XCTAssertGreaterThan((kernels["tracked"] as? [String: Double])?["flops"] ?? 0,
                                 (kernels["untracked"] as? [String: Double])?["flops"] ?? 0)
            let shapes = try XCTUnwrap(kernels["trackedShapes"] as? [[String: Any]], "no kernel shapes in \(loop)")
            XCTAssert(shapes.contains { ($0["shape"] as? String)?.hasPrefix("gemm") == true }, "\(shapes)")
        }
        // No table size is >= 256: the three GEMM variants of the table's fastest size (the only one, 64) took
        // their turns with the loops.
        let inTurns = try XCTUnwrap(report?["gemmInTurns"] as? [[String: Any]], "no in-turns GEMMs in: \(run.stdout.prefix(400))")
        XCTAssertEqual(inTurns.map { $0["variant"] as? String }, ["NN", "TN", "NT"], "\(inTurns)")
        for gemm in inTurns {
            XCTAssertEqual(gemm["size"] as? Int, 64, "\(gemm)")
            let rate = try XCTUnwrap(gemm["gflops"] as? Double)
            XCTAssert(rate.isFinite && rate > 0, "in-turns GEMM rate \(rate)")
        }
        let table = try TestSupport.run(TestSupport.regimeBinary.path, tiny + ["--loop-rounds", "2"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssert(table.stdout.contains("CPU-time medians of steps taken in 2 rounds of turns"), table.stdout)
        XCTAssert(table.stdout.contains("the fastest median call in the same rounds: 64 NN "), table.stdout)
        XCTAssert(table.stdout.contains("where a tracked step goes"), table.stdout)
        for arch in ["mlp:784-32-10", "cnn:1x28x28-c4k3-p-fc8-10"] {
            XCTAssert(table.stdout.split(separator: "\n").contains { $0.hasPrefix("  \(arch) ") && $0.contains(" ms (") },
                      "no tracked-step parts for \(arch) in: \(table.stdout)")
            XCTAssert(table.stdout.split(separator: "\n").contains { $0.hasPrefix("  \(arch) ") && $0.contains(" | bound ") },
                      "no kernel times for \(arch) in: \(table.stdout)")
            XCTAssert(table.stdout.split(separator: "\n").contains { $0.hasPrefix("  \(arch) ") && ($0.contains("gemm ") || $0.contains("conv ")) && $0.contains(" ms, ") },
                      "no kernel shapes for \(arch) in: \(table.stdout)")
        }
    }

    /// The parts of a tracked step from loops whose step times are known by construction: 10 ms
    /// untracked, 20 ms patterns only, 25 ms tracked; 2 GFLOP of probe pass in its 10 ms.
    func testTrackedStepPartsAreTheDifferencesOfTheLoops() throws {
        let loop = ArchitectureBenchmark(arch: "mlp:784-32-10", batch: 16, probe: 32, rounds: 1, iterationsPerSecond: 100, gflops: 100,
                                         trackedIterationsPerSecond: 40, trackedGflops: 120, patternsOnlyIterationsPerSecond: 50,
                                         patternsOnlyGflops: 150, wallIterationsPerSecond: 100, trackedWallIterationsPerSecond: 40,
                                         flopsPerIteration: 1e9, trackedFlopsPerIteration: 3e9)
        let parts = try XCTUnwrap(loop.trackedStepParts)
        XCTAssertEqual(parts.trainingMilliseconds, 10, accuracy: 1e-12)
        XCTAssertEqual(parts.probeMilliseconds, 10, accuracy: 1e-12)
        XCTAssertEqual(parts.probeGflops, 200, accuracy: 1e-9)
        XCTAssertEqual(parts.geometryMilliseconds, 5, accuracy: 1e-12)
        XCTAssertEqual(parts.trackedMilliseconds, 25, accuracy: 1e-12)
        var older = loop
        older.patternsOnlyIterationsPerSecond = nil  // JSON written before the patterns-only loop
        XCTAssertNil(older.trackedStepParts)
    }

    /// The kernels' rate and the tracked loop's bound from kernel times known by construction:
    /// 1.5 GFLOP in 10 ms is 150 GFLOP/s; a tracked step of 3 GFLOP (counted) whose kernels take
    /// 20 ms would run at 150 GFLOP/s with nothing else in it.
    func testKernelRateAndBound() throws {
        var loop = ArchitectureBenchmark(arch: "mlp:784-32-10", batch: 16, probe: 32, rounds: 1, iterationsPerSecond: 100, gflops: 100,
                                         trackedIterationsPerSecond: 40, trackedGflops: 120, patternsOnlyIterationsPerSecond: 50,
                                         patternsOnlyGflops: 150, wallIterationsPerSecond: 100, trackedWallIterationsPerSecond: 40,
                                         flopsPerIteration: 1e9, trackedFlopsPerIteration: 3e9)
        XCTAssertNil(loop.trackedKernelBoundGflops, "JSON written before the kernels were timed")
        let time = ArchitectureBenchmark.KernelTime(milliseconds: 10, flops: 1.5e9)
        XCTAssertEqual(time.gflops, 150, accuracy: 1e-9)
        loop.kernels = .init(untracked: time, patternsOnly: time, tracked: .init(milliseconds: 20, flops: 2.9e9))
        XCTAssertEqual(try XCTUnwrap(loop.trackedKernelBoundGflops), 150, accuracy: 1e-9)
        // The median of the readings: the upper middle one for an even count.
        var readings = [KernelClock.Reading](repeating: .init(), count: 4)
        for (i, (s, f)) in [(0.004, 4e6), (0.001, 1e6), (0.003, 3e6), (0.002, 2e6)].enumerated() {
            (readings[i].seconds, readings[i].flops) = (s, f)
        }
        let median = ArchitectureBenchmark.KernelTime(readings)
        XCTAssertEqual(median.milliseconds, 3, accuracy: 1e-12)
        XCTAssertEqual(median.flops, 3e6)
    }

    /// Kernel calls grouped by shape per step, over the steps that made the median number of calls:
    /// three steps of two calls (one of them on another shape) and one step of five, which is left out.
    func testKernelShapesPerTypicalStep() {
        let big = KernelClock.Shape(kind: .gemmPacked, m: 192, n: 64, k: 256), small = KernelClock.Shape(kind: .gemm, m: 8, n: 8, k: 8)
        func call(_ shape: KernelClock.Shape, _ ms: Double) -> KernelClock.Call {
            KernelClock.Call(shape: shape, seconds: ms / 1000, flops: gemmFlops(m: shape.m, n: shape.n, k: shape.k))
        }
        let steps = [[call(big, 2), call(small, 1)], [call(big, 4), call(small, 1)], [call(big, 3), call(big, 3)],
                     Array(repeating: call(big, 100), count: 5)]
        let grouped = ArchitectureBenchmark.KernelShapeTime.grouped(steps)
        XCTAssertEqual(grouped.map(\.shape), ["gemm packed 192x64x256", "gemm 8x8x8"], "in decreasing time")
        XCTAssertEqual(grouped[0].callsPerStep, 4.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(grouped[0].milliseconds, 12.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(grouped[0].flops, 4 * gemmFlops(m: 192, n: 64, k: 256) / 3, accuracy: 1)
        XCTAssertEqual(grouped[1].milliseconds, 2.0 / 3, accuracy: 1e-9)
        // 4 ms per step for 4/3 x 6.29 MFLOP is 2.10 GFLOP/s; at 1 GFLOP/s the same FLOPs take 8.39 ms.
        XCTAssertEqual(grouped[0].millisecondsLost(at: 1), grouped[0].milliseconds - grouped[0].flops / 1e6, accuracy: 1e-9)
        XCTAssertEqual(ArchitectureBenchmark.KernelShapeTime.grouped([]), [])
    }

    /// The loops' optimizer is an option: Adam's loops run and say so; an unknown name is refused
    /// with a one-line error naming the flag, before anything is timed.
    func testLoopOptimizer() throws {
        let adam = try TestSupport.run(TestSupport.regimeBinary.path, tiny + ["--loop-rounds", "1", "--loop-optimizer", "adam",
                                                                          "--archs", "mlp:784-32-10"])
        XCTAssertEqual(adam.status, 0, adam.stderr)
        XCTAssert(adam.stdout.contains("Training loops (batch 16, probe 32, adam;"), adam.stdout)
        let unknown = try TestSupport.run(TestSupport.regimeBinary.path, tiny + ["--loop-optimizer", "rmsprop"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssert(unknown.stderr.contains("--loop-optimizer: expected sgd, adam or adamw, got 'rmsprop'"), unknown.stderr)
        XCTAssertFalse(unknown.stderr.contains("bench: fp32 FMA peak"), "refused before timing: \(unknown.stderr)")
    }

    /// With table sizes of 256 and more, the variants of every one of them take their turns (the
    /// reference is the fastest median over all), and the smaller sizes none.
    func testEveryLargeTableSizeIsTimedInTurns() throws {
        var arguments = tiny
        arguments[arguments.firstIndex(of: "64")!] = "64,256,288"
        let run = try TestSupport.run(TestSupport.regimeBinary.path, arguments + ["--loop-rounds", "2", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let inTurns = try XCTUnwrap(report?["gemmInTurns"] as? [[String: Any]], "no in-turns GEMMs in: \(run.stdout.prefix(400))")
        XCTAssertEqual(inTurns.map { "\($0["size"] as? Int ?? -1) \($0["variant"] as? String ?? "?")" },
                       ["256 NN", "256 TN", "256 NT", "288 NN", "288 TN", "288 NT"], "\(inTurns)")
    }

    func testZeroRoundsIsRefusedInOneLine() throws {
        let run = try TestSupport.run(TestSupport.regimeBinary.path, tiny + ["--loop-rounds", "0"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssert(run.stderr.contains("--loop-rounds: expected a positive integer, got 0"), run.stderr)
        XCTAssertEqual(run.stdout, "")
    }
}
