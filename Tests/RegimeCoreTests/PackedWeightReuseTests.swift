import Foundation
import XCTest
@testable import RegimeCore

/// The MLP's packed weights (`MLP.reusePackedWeights`, `GEMMPackedB`) are reused only where the
/// parameters are the ones they were packed from: whole trials with reuse on give the bits of the
/// same trials packing at every pass — through probe passes in chunks, the null model's passes of
/// perturbed parameters, validation, the optimizer's updates, frozen gates and a restore from a
/// checkpoint — and reuse does happen (fewer packings).
final class PackedWeightReuseTests: XCTestCase {
    /// A probe of 300 examples (two chunks of the 256-row evaluation chunk), the null model at
    /// every recorded row, validation every 3 iterations.
    static func spec(optimizer: OptimizerSpec, recordEvery: Int, gates: GateSpec? = nil) -> TrialSpec {
        var spec = TrialSpec(arch: "mlp:32-48-40-10", dataset: DatasetSpec(name: "synthetic", probeSubset: 300, valSubset: 300),
                             optimizer: optimizer, batchSize: 32, iterations: 36, seed: 3, recordEvery: recordEvery,
                             evalEvery: 3 * recordEvery)
        spec.gates = gates
        spec.nullModel = NullModelSpec(points: 40, draws: 2)
        return spec
    }

    static func trainer(_ spec: TrialSpec, reuse: Bool) throws -> (Trainer, MLP) {
        let trainer = try Trainer(spec: spec, data: TrainerTests.cache.prepare(spec.dataset))
        let mlp = try XCTUnwrap(trainer.network as? MLP)
        mlp.reuseEnabled = reuse
        return (trainer, mlp)
    }

    static func assertSameTrial(_ a: Trainer, _ b: Trainer, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let (x, y) = (a.curve.csv().split(separator: "\n"), b.curve.csv().split(separator: "\n"))
        if let i = zip(x, y).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            XCTFail("\(label): curve line \(i) differs:\n  reuse:  \(x[i])\n  repack: \(y[i])", file: file, line: line)
        }
        XCTAssertEqual(x.count, y.count, "\(label): curve lengths", file: file, line: line)
        let (p, q) = (a.parameters.array, b.parameters.array)
        if let i = p.indices.first(where: { p[$0].bitPattern != q[$0].bitPattern }) {
            XCTFail("\(label): parameter \(i) is \(p[i]) with reuse, \(q[i]) packing every pass", file: file, line: line)
        }
    }

    func testReuseGivesTheBitsOfPackingEveryPass() throws {
        let cases: [(String, TrialSpec)] = [
            ("SGD, every iteration recorded", Self.spec(optimizer: OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9), recordEvery: 1)),
            ("Adam, every 2nd recorded", Self.spec(optimizer: OptimizerSpec(kind: .adam, lr: 1e-3), recordEvery: 2)),
            ("gates frozen at 10", Self.spec(optimizer: OptimizerSpec(kind: .sgd, lr: 0.05), recordEvery: 1,
                                             gates: GateSpec(freezeAt: .step(10)))),
        ]
        for (label, spec) in cases {
            let (reused, reusing) = try Self.trainer(spec, reuse: true)
            let (repacked, repacking) = try Self.trainer(spec, reuse: false)
            try reused.run()
            try repacked.run()
            Self.assertSameTrial(reused, repacked, label)
            XCTAssertLessThan(reusing.weightPackings, repacking.weightPackings * 3 / 4,
                              "\(label): \(reusing.weightPackings) packings with reuse, \(repacking.weightPackings) without")
        }
    }

    /// The optimizer's update packs the new weights (`MLP.parametersUpdated`): after the first
    /// passes, before any update, no pass packs again, whether the iteration is recorded or not
    /// (the null model, whose passes are of other parameters, off). 3 layers: the first probe pass
    /// packs W_1 and W_2, the first training forward W_3, and each of the 36 updates all three.
    func testTheUpdatePacksTheWeights() throws {
        var spec = Self.spec(optimizer: OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9), recordEvery: 3)
        spec.nullModel = NullModelSpec(points: 0)
        let (trainer, mlp) = try Self.trainer(spec, reuse: true)
        try trainer.run()
        XCTAssertEqual(mlp.passPackings, 3, "layers packed by passes; the rest by the updates")
        XCTAssertEqual(mlp.weightPackings, 3 + 36 * 3, "layers packed in all")
    }

    /// Stopped at iteration 17 (after a recorded iteration's probe pass), checkpointed and resumed
    /// in a new trainer: the bits of an uninterrupted trial that packs at every pass.
    func testReuseAcrossARestore() throws {
        let spec = Self.spec(optimizer: OptimizerSpec(kind: .adam, lr: 1e-3), recordEvery: 1)
        let (first, _) = try Self.trainer(spec, reuse: true)
        while first.iteration < 17 { try first.step() }
        let checkpoint = first.checkpoint(elapsedSeconds: 0)
        let (resumed, _) = try Self.trainer(spec, reuse: true)
        try resumed.restore(checkpoint, source: "checkpoint at 17")
        try resumed.run()
        let (repacked, _) = try Self.trainer(spec, reuse: false)
        try repacked.run()
        Self.assertSameTrial(resumed, repacked, "resumed at 17")
    }

    /// The CNN's fully-connected weights (`CNN.packedDense`), packed by the update and reused by the
    /// passes of the same parameters: whole trials give the bits of the same trials packing at
    /// every pass (probe chunks, the null model, validation, frozen gates), with fewer packings.
    func testCNNReuseGivesTheBitsOfPackingEveryPass() throws {
        try Self.assertReuseGivesTheBitsOfPackingEveryPass(arch: "cnn:1x28x28-c4k3-p-fc24-fc16-10", seed: 7, as: CNN.self)
    }

    /// Whole trials of `arch` on synthetic 28 x 28 images (a probe of 300: two chunks; the null
    /// model at every recorded row; validation; SGD every iteration recorded, Adam every 2nd, gates
    /// frozen at 6) with the network's packed-weight reuse on give the curves and parameters of
    /// the same trials with it off, and pack less.
    static func assertReuseGivesTheBitsOfPackingEveryPass<N: PackedWeightReusing>(arch: String, seed: UInt64, as: N.Type,
                                                                                   file: StaticString = #filePath,
                                                                                   line: UInt = #line) throws {
        let data = CNNViTTrainingTests.syntheticData(try Architecture(parsing: arch), train: 64, probe: 300, validation: 40, seed: seed)
        func spec(_ optimizer: OptimizerSpec, recordEvery: Int, gates: GateSpec? = nil) -> TrialSpec {
            var spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: "fashion-mnist", probeSubset: 300),
                                 optimizer: optimizer, batchSize: 8, iterations: 14, seed: 3, recordEvery: recordEvery,
                                 evalEvery: 3 * recordEvery)
            spec.gates = gates
            spec.nullModel = NullModelSpec(points: 40, draws: 2)
            return spec
        }
        let cases: [(String, TrialSpec)] = [
            ("SGD, every iteration recorded", spec(OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9), recordEvery: 1)),
            ("Adam, every 2nd recorded", spec(OptimizerSpec(kind: .adam, lr: 1e-3), recordEvery: 2)),
            ("gates frozen at 6", spec(OptimizerSpec(kind: .sgd, lr: 0.05), recordEvery: 1, gates: GateSpec(freezeAt: .step(6)))),
        ]
        for (label, spec) in cases {
            func trainer(reuse: Bool) throws -> (Trainer, N) {
                let trainer = try Trainer(spec: spec, data: data)
                let network = try XCTUnwrap(trainer.network as? N, file: file, line: line)
                network.reuseEnabled = reuse
                return (trainer, network)
            }
            let (reused, reusing) = try trainer(reuse: true)
            let (repacked, repacking) = try trainer(reuse: false)
            try reused.run()
            try repacked.run()
            assertSameTrial(reused, repacked, "\(arch), \(label)", file: file, line: line)
            XCTAssertLessThan(reusing.weightPackings, repacking.weightPackings * 3 / 4,
                              "\(arch), \(label): \(reusing.weightPackings) packings with reuse, \(repacking.weightPackings) without",
                              file: file, line: line)
        }
    }
}

/// The networks that keep packed weights between passes, as the reuse tests switch and count them.
protocol PackedWeightReusing: Network {
    var reuseEnabled: Bool { get set }
    var weightPackings: Int { get }
}

extension CNN: PackedWeightReusing {}
extension VisionTransformer: PackedWeightReusing {}
