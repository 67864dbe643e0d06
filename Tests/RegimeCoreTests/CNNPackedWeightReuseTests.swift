import Foundation
import XCTest
@testable import RegimeCore

/// The CNN's packed fully-connected weights (`CNN.reusePackedWeights`) are reused only where the
/// parameters are the ones they were packed from: whole tracked trials with reuse on give the bits
/// of the same trials packing at every pass (probe passes in chunks, the null model's perturbed
/// parameters, validation, updates, frozen gates), and reuse does happen (fewer packings).
final class CNNPackedWeightReuseTests: XCTestCase {
    func testReuseGivesTheBitsOfPackingEveryPass() throws {
        let sgd = OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9), adam = OptimizerSpec(kind: .adam, lr: 1e-3)
        let cases: [(String, TrialSpec)] = [
            ("SGD, every iteration recorded", PackedWeightReuseTests.spec(optimizer: sgd, recordEvery: 1)),
            ("Adam, every 2nd recorded", PackedWeightReuseTests.spec(optimizer: adam, recordEvery: 2)),
            ("gates frozen at 10", PackedWeightReuseTests.spec(optimizer: sgd, recordEvery: 1, gates: GateSpec(freezeAt: .step(10)))),
        ]
        for (label, mlpSpec) in cases {
            var spec = mlpSpec
            spec.arch = "cnn:1x1x32-c4k3-fc8-10"  // the synthetic examples are 1x1x32
            func trainer(reuse: Bool) throws -> (Trainer, CNN) {
                let trainer = try Trainer(spec: spec, data: TrainerTests.cache.prepare(spec.dataset))
                let cnn = try XCTUnwrap(trainer.network as? CNN)
                cnn.reuseEnabled = reuse
                return (trainer, cnn)
            }
            let (reused, reusing) = try trainer(reuse: true)
            let (repacked, repacking) = try trainer(reuse: false)
            try reused.run()
            try repacked.run()
            PackedWeightReuseTests.assertSameTrial(reused, repacked, label)
            XCTAssertLessThan(reusing.weightPackings, repacking.weightPackings * 3 / 4,
                              "\(label): \(reusing.weightPackings) packings with reuse, \(repacking.weightPackings) without")
        }
    }
}
