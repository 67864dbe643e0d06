import Foundation
import XCTest
@testable import RegimeCore

/// Gated trials end to end on the synthetic data set: the freeze point, the instruments across it,
/// `freeze_at: auto`, the training-set gate cache (bit-identical to recomputing the gates), and
/// kill-and-resume around the freeze (bit-identical, the detector included).
final class GatedTrainingTests: XCTestCase {
    static let cache = DatasetCache()

    static func spec(arch: String = "mlp:32-16-16-10", gates: GateSpec?, iterations: Int = 60,
                     optimizer: OptimizerSpec = OptimizerSpec(kind: .adam, lr: 0.01), recordEvery: Int = 1) -> TrialSpec {
        var spec = TrainerTests.syntheticSpec(arch: arch, optimizer: optimizer, schedule: LearningRateSchedule(kind: .cosine),
                                              iterations: iterations, recordEvery: recordEvery, evalEvery: 20)
        spec.gates = gates
        return spec
    }

    static func train(_ spec: TrialSpec, gateCacheLimitBytes: Int = FrozenGates.defaultCacheLimitBytes) throws -> Trainer {
        let trainer = try Trainer(spec: spec, data: cache.prepare(spec.dataset), gateCacheLimitBytes: gateCacheLimitBytes)
        try trainer.run()
        return trainer
    }

    /// Up to the freeze the trial is the ungated one; the step right after it too (θ_v = θ_g, so
    /// the gated pass is the ReLU pass, bit for bit); from the next step on it trains another
    /// network. `gate_disagreement` is empty before the freeze, 0 at it, and grows after it, while
    /// `pattern_change` goes on measuring θ_v's own patterns.
    func testFreezeAfterNSteps() throws {
        let ungated = try Self.train(Self.spec(gates: nil))
        let gated = try Self.train(Self.spec(gates: GateSpec(freezeAt: .step(20))))
        let (a, b) = (ungated.curve, gated.curve)
        XCTAssertNil(a.gateDisagreement)
        XCTAssertFalse(a.csvHeader.contains("gate_disagreement"))
        XCTAssertEqual(b.csvHeader.last, "gate_disagreement")
        let disagreement = try XCTUnwrap(b.gateDisagreement)
        XCTAssertEqual(disagreement.count, 60)
        XCTAssertTrue(disagreement.prefix(19).allSatisfy { $0 == nil }, "empty before the freeze")
        XCTAssertEqual(disagreement[19], 0, "0 at the freeze (iteration 20)")
        XCTAssertTrue(disagreement[20...].allSatisfy { $0 != nil })
        XCTAssertGreaterThan(disagreement.last!!, 0, "θ_v's own patterns drift from the frozen gates")
        XCTAssertEqual(Array(a.loss.prefix(21)), Array(b.loss.prefix(21)), "identical through the first gated step")
        XCTAssertEqual(Array(a.weightUpdateAbs.prefix(21)), Array(b.weightUpdateAbs.prefix(21)))
        XCTAssertEqual(Array(a.patternChange.prefix(21)), Array(b.patternChange.prefix(21)))
        XCTAssertNotEqual(a.loss[21...].map { $0 }, b.loss[21...].map { $0 }, "gated training differs afterwards")
        XCTAssertTrue(b.patternChange[21...].contains { $0 > 0 }, "pattern_change still measures θ_v's own patterns")
        let csvRow = b.csv().split(separator: "\n")[10]  // iteration 10: before the freeze, an empty last field
        XCTAssertTrue(csvRow.hasSuffix(","), "\(csvRow)")

        let result = gated.result(wallSeconds: 0)
        XCTAssertEqual(result.freeze, FreezeSummary(gates: GateSpec(freezeAt: .step(20)), frozenAt: 20, detectedAt: result.detectedAt))
        XCTAssertEqual(result.freeze?.reason, .freezeAt)
        XCTAssertNil(ungated.result(wallSeconds: 0).freeze)
        let json = String(decoding: try JSONCoding.encoder().encode(result), as: UTF8.self)
        XCTAssertTrue(json.contains(#""freeze":{"at":20,"detected_at":"#), json)
        XCTAssertTrue(json.contains(#""detected_at":"#))
        XCTAssertTrue(json.contains(#""gates":{"freeze_at":20}"#))
    }

    /// Gates of the initial network: every recorded row has a disagreement, the first > 0.
    func testFreezeAtZeroUsesTheInitialGates() throws {
        let trainer = try Self.train(Self.spec(gates: GateSpec(freezeAt: .step(0)), iterations: 20))
        let disagreement = try XCTUnwrap(trainer.curve.gateDisagreement)
        XCTAssertTrue(disagreement.allSatisfy { $0 != nil })
        XCTAssertGreaterThan(disagreement[0]!, 0)
        XCTAssertEqual(trainer.result(wallSeconds: 0).freeze?.at, 0)
    }

    /// The detector fires at a recorded iteration t and the gates freeze right after step t.
    func testAutoFreezesWhereTheDetectorFires() throws {
        let options = RegimeDetectorOptions(window: 5, drop: 0.5, flattening: 0.5, patience: 5)
        let trainer = try Self.train(Self.spec(gates: GateSpec(freezeAt: .auto, detector: options), iterations: 150))
        let result = trainer.result(wallSeconds: 0)
        let t = try XCTUnwrap(result.detectedAt, "the detector did not fire")
        XCTAssertEqual(t, RegimeDetector.detect(iterations: trainer.curve.iteration, patternChange: trainer.curve.patternChange,
                                                options: options))
        XCTAssertEqual(result.freeze, FreezeSummary(gates: GateSpec(freezeAt: .auto, detector: options), frozenAt: t, detectedAt: t))
        XCTAssertEqual(result.freeze?.reason, .detected)
        let disagreement = try XCTUnwrap(trainer.curve.gateDisagreement)
        let row = try XCTUnwrap(trainer.curve.iteration.firstIndex(of: t))
        XCTAssertTrue(disagreement[..<row].allSatisfy { $0 == nil })
        XCTAssertEqual(disagreement[row], 0)
        print("freeze_at auto: the detector fired at iteration \(t) of 150")

        // With the default detector on this short run it does not fire: never frozen.
        let never = try Self.train(Self.spec(gates: GateSpec(freezeAt: .auto), iterations: 40))
        XCTAssertNil(never.result(wallSeconds: 0).detectedAt)
        XCTAssertEqual(never.result(wallSeconds: 0).freeze, FreezeSummary(gates: GateSpec(freezeAt: .auto), frozenAt: nil, detectedAt: nil))
        XCTAssertTrue(never.curve.gateDisagreement?.allSatisfy { $0 == nil } == true)
    }

    /// The training-set gate cache is an optimisation only: with the cache and without it (bound 0)
    /// every arch trains to the same bits.
    func testCachedAndRecomputedGatesGiveIdenticalTrials() throws {
        for arch in ["mlp:32-16-16-10", "cnn:1x1x32-c4k3-c4k3s2-fc8-10", "vit:1x1x32-p1-d8-h2-l1-10"] {  // synthetic examples are 1x1x32
            let spec = Self.spec(arch: arch, gates: GateSpec(freezeAt: .step(5)), iterations: 30)
            let cached = try Self.train(spec)
            let recomputed = try Self.train(spec, gateCacheLimitBytes: 0)
            XCTAssertNotNil(cached.gates?.trainingGates, arch)
            XCTAssertNil(recomputed.gates?.trainingGates, arch)
            XCTAssertEqual(cached.curve, recomputed.curve, arch)
            XCTAssertEqual(cached.parameters.array, recomputed.parameters.array, arch)
        }
        // The bound: 512 bits of mlp:784-256-256-10 per example are 64 bytes; 60,000 examples 3.84 MB.
        XCTAssertEqual(FrozenGates.cacheBytes(unitsPerExample: [256, 256], examples: 60_000), 3_840_000)
        XCTAssertEqual(FrozenGates.cacheBytes(unitsPerExample: [12544, 6272, 128], examples: 10_000), 23_680_000)
        XCTAssertEqual(FrozenGates.cacheBytes(unitsPerExample: [4096, 4096], examples: 60_000), 61_440_000)
        XCTAssertGreaterThan(FrozenGates.cacheBytes(unitsPerExample: [12544, 6272, 128], examples: 60_000),
                             FrozenGates.defaultCacheLimitBytes)
    }

    /// Checkpoints before, at and after the freeze (fixed and auto) resume to the same bits as an
    /// uninterrupted run: parameters, curve (gate_disagreement included), detector and result.
    func testResumeAroundTheFreezeIsBitIdentical() throws {
        let auto = GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(window: 5, drop: 0.5, flattening: 0.5, patience: 5))
        for (gates, recordEvery) in [(GateSpec(freezeAt: .step(20)), 2), (GateSpec(freezeAt: .step(0)), 2), (auto, 1)] {
            let spec = Self.spec(gates: gates, iterations: 100, recordEvery: recordEvery)
            let data = try Self.cache.prepare(spec.dataset)
            let whole = try Self.train(spec)
            let frozenAt = try XCTUnwrap(whole.gates?.frozenAt, "\(gates): never froze")
            for stop in Set([1, max(frozenAt - 1, 1), max(frozenAt, 1), frozenAt + 1, 99]).sorted() {
                let first = try Trainer(spec: spec, data: data)
                while first.iteration < stop { try first.step() }
                let bytes = try first.checkpoint(elapsedSeconds: 0).encoded()
                let decoded = try TrainerCheckpoint(decoding: bytes, source: "test")
                XCTAssertEqual(decoded, first.checkpoint(elapsedSeconds: 0))
                XCTAssertEqual(decoded.metadata.gatesFrozenAt, stop >= frozenAt ? frozenAt : nil, "\(gates) stopped at \(stop)")
                let second = try Trainer(spec: spec, data: data)
                try second.restore(decoded, source: "test")
                try second.run()
                let label = "\(gates) stopped at \(stop)"
                XCTAssertEqual(second.curve, whole.curve, label)
                XCTAssertEqual(second.parameters.array, whole.parameters.array, label)
                XCTAssertEqual(second.detector, whole.detector, label)
                XCTAssertEqual(second.result(wallSeconds: 0), whole.result(wallSeconds: 0), label)
            }
        }
    }
}
