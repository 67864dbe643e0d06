import Foundation
@testable import RegimeCore
import XCTest

/// The settling replay (docs/numerics.md, "Settling to the final state") against a direct
/// recording: a trainer that keeps a copy of θ_s and of the probe patterns at every snapshot
/// iteration while it trains (memory that the replay avoids), from which the distances to θ_T are
/// computed at the end. The replay must give the same curve bit for bit, for MLP, CNN, ViT and
/// gated trials (frozen at a step and by the online detector), whatever `record_every`.
final class SettlingReplayTests: XCTestCase {
    /// The curve from snapshots kept in memory during an ordinary run of `spec`.
    func directCurve(_ spec: TrialSpec, data: PreparedData) throws -> (SettlingCurve, Trainer) {
        let trainer = try Trainer(spec: spec, data: data)
        let snapshots = SettlingSchedule.iterations(total: spec.iterations)
        var kept: [(Int, [Float], PatternSet)] = []
        func keep() {
            let set = PatternSet(exampleCount: data.probe.count, unitsPerExample: trainer.initialPatterns.unitsPerExample)
            trainer.measurePatterns(into: set)
            kept.append((trainer.iteration, trainer.parameters.array, set))
        }
        keep()
        while !trainer.isFinished {
            try trainer.step()
            if snapshots.contains(trainer.iteration) { keep() }
        }
        let groups = trainer.network.parameterGroups
        let final = trainer.parameters, finalPatterns = kept.last!.2
        var curve = SettlingCurve(layerNames: groups.map(\.name), patternLayerNames: trainer.network.patternLayers.map(\.name))
        for (t, theta, set) in kept {
            let buffer = FloatBuffer(theta)
            curve.append(iteration: t, differingPairs: set.unitsPerExample.indices.map { set.differingPairs(layer: $0, from: finalPatterns) },
                         weight: WeightUpdate(new: buffer.pointer, old: final.pointer, groups: groups))
        }
        return (curve, trainer)
    }

    func check(_ spec: TrialSpec, data: PreparedData, _ label: String) throws -> SettlingCurve {
        let (direct, trainer) = try directCurve(spec, data: data)
        let replayed = try SettlingReplay.run(trainer.settlingTarget(), data: data)
        XCTAssertEqual(replayed.iteration, SettlingSchedule.iterations(total: spec.iterations), label)
        if replayed != direct {
            let row = zip(replayed.weightDistance, direct.weightDistance).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? zip(replayed.patternDistance, direct.patternDistance).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            XCTFail("\(label): replay differs from the direct recording, first at row \(String(describing: row)): "
                    + "\(row.map { (replayed.weightDistance[$0], direct.weightDistance[$0], replayed.patternDistance[$0], direct.patternDistance[$0]) }.debugDescription)")
        }
        XCTAssertEqual(replayed.weightDistance.last, 0, label)
        XCTAssertEqual(replayed.patternDistance.last, 0, label)
        XCTAssertGreaterThan(replayed.weightDistance[0], 0, label)
        XCTAssertGreaterThan(replayed.patternDistance[0], 0, "\(label): patterns moved")
        return replayed
    }

    func spec(_ arch: String, iterations: Int, recordEvery: Int = 1, gates: GateSpec? = nil) -> TrialSpec {
        TrialSpec(arch: arch, dataset: DatasetSpec(name: "fashion-mnist", probeSubset: 24),
                  optimizer: OptimizerSpec(kind: .adam, lr: 0.01), schedule: LearningRateSchedule(kind: .cosine),
                  batchSize: 8, iterations: iterations, seed: 5, recordEvery: recordEvery, evalEvery: recordEvery * 10, gates: gates)
    }

    func testReplayEqualsDirectRecordingForEveryArchitecture() throws {
        for (arch, iterations) in [("mlp:784-24-16-10", 300), ("cnn:1x28x28-c3k5s2-p-c4k3s2-fc8-10", 40),
                                   ("vit:1x28x28-p14-d8-h2-l2-cls-10", 40)] {
            let data = CNNViTTrainingTests.syntheticData(try Architecture(parsing: arch), train: 64, probe: 24, validation: 16, seed: 9)
            let curve = try check(spec(arch, iterations: iterations), data: data, arch)
            // More iterations than snapshots: the schedule's rows, not every iteration.
            if iterations > SettlingSchedule.minimumSnapshots { XCTAssertLessThan(curve.count, iterations + 1, arch) }
            // The curve does not depend on how often the instruments are recorded.
            let sparse = try check(spec(arch, iterations: iterations, recordEvery: 4), data: data, "\(arch) record_every 4")
            XCTAssertEqual(sparse, curve, "\(arch): record_every changed the settling curve")
        }
    }

    func testReplayOfGatedTrials() throws {
        let arch = "mlp:784-24-16-10"
        let data = CNNViTTrainingTests.syntheticData(try Architecture(parsing: arch), train: 64, probe: 24, validation: 16, seed: 9)
        let auto = GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(window: 5, drop: 0.5, flattening: 0.5, patience: 5))
        for gates in [GateSpec(freezeAt: .step(0)), GateSpec(freezeAt: .step(25)), auto] {
            let s = spec(arch, iterations: 120, gates: gates)
            _ = try check(s, data: data, "gates \(gates.freezeAt)")
        }
        // The auto trial froze (so its replay had to freeze at the detected step to match).
        let trainer = try Trainer(spec: spec(arch, iterations: 120, gates: auto), data: data)
        try trainer.run()
        XCTAssertNotNil(trainer.gates?.frozenAt, "the detector fired")
    }

    /// A replay that does not reproduce θ_T (here: a target whose parameters were altered) is an
    /// error, never a curve.
    func testReplayRefusesATargetItCannotReproduce() throws {
        let arch = "mlp:784-24-16-10"
        let data = CNNViTTrainingTests.syntheticData(try Architecture(parsing: arch), train: 64, probe: 24, validation: 16, seed: 9)
        let trainer = try Trainer(spec: spec(arch, iterations: 20), data: data)
        try trainer.run()
        let target = trainer.settlingTarget()
        target.parameters[3] += 1e-3
        XCTAssertThrowsError(try SettlingReplay.run(target, data: data)) {
            XCTAssertTrue("\($0)".contains("did not reproduce its trained parameters"), "\($0)")
        }
    }
}
