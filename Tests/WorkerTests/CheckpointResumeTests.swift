import Foundation
import RegimeCore
import SweepStore
import XCTest
@testable import Worker

/// A trial interrupted at a checkpoint and resumed from its bytes must end exactly where an
/// uninterrupted run ends: same parameters, same curve, same result (less wall time).
final class CheckpointResumeTests: XCTestCase {
    func spec(optimizer: OptimizerSpec) -> TrialSpec {
        TrialSpec(arch: "mlp:32-24-16-10", dataset: DatasetSpec(name: "synthetic", probeSubset: 64, probeSeed: 5),
                  optimizer: optimizer, schedule: LearningRateSchedule(kind: .cosine, warmup: 5),
                  batchSize: 16, iterations: 90, seed: 42, recordEvery: 2, evalEvery: 30)
    }

    func testResumedTrialIsBitIdentical() throws {
        let cache = DatasetCache()
        for optimizer in [OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4),
                          OptimizerSpec(kind: .adamw, lr: 0.003, weightDecay: 0.01)] {
            let spec = spec(optimizer: optimizer)
            let data = try cache.prepare(spec.dataset)
            let uninterrupted = try Trainer(spec: spec, data: data)
            try uninterrupted.run()
            // The resumed curves below carry the geometric instruments, whose state (the previous
            // recorded parameters, the lag snapshots) the checkpoints hold.
            let probe = try XCTUnwrap(uninterrupted.curve.probe)
            XCTAssertEqual(probe.weightUpdateAbsLag[0].compactMap { $0 }.count, 9, "lag 10 at 10, 20, ..., 90")
            XCTAssertEqual(probe.nullPatternChange.compactMap { $0 }.count, 45, "45 recorded rows, all null-model points")
            XCTAssertTrue(probe.margin[2].allSatisfy { $0 != nil })

            for stop in [1, 37, 60, 89] {
                let first = try Trainer(spec: spec, data: data)
                while first.iteration < stop { try first.step() }
                let bytes = try first.checkpoint(elapsedSeconds: 1.5).encoded()
                let decoded = try TrainerCheckpoint(decoding: bytes, source: "test")
                XCTAssertEqual(decoded, first.checkpoint(elapsedSeconds: 1.5))
                XCTAssertEqual(decoded.previousParameters != nil, stop % 2 == 1,
                               "between two recorded iterations the checkpoint holds the previous recorded parameters")
                XCTAssertEqual(decoded.lagSnapshots.count, 2)
                let second = try Trainer(spec: spec, data: data)
                try second.restore(decoded, source: "test")
                try second.run()
                XCTAssertEqual(second.curve, uninterrupted.curve, "\(optimizer.kind) stopped at \(stop)")
                XCTAssertEqual(second.parameters.array, uninterrupted.parameters.array, "\(optimizer.kind) stopped at \(stop)")
                var a = second.result(wallSeconds: 0), b = uninterrupted.result(wallSeconds: 0)
                a.wallSeconds = 0; b.wallSeconds = 0
                XCTAssertEqual(a, b)
            }
        }
    }

    /// A checkpoint written before the geometric instruments (no instrument state, a curve
    /// without their columns) resumes: the old rows get empty columns, the new rows values, and
    /// the curve and parameters otherwise equal the uninterrupted run's.
    func testCheckpointWithoutInstrumentStateResumes() throws {
        let (second, uninterrupted) = try resumedFromOlderCheckpoint(at: 30) { old in
            old.metadata.instruments = nil
            old.metadata.curve.probe = nil
            old.previousParameters = nil
            old.lagSnapshots = []
        }
        XCTAssertEqual(second.parameters.array, uninterrupted.parameters.array)
        XCTAssertEqual(second.curve.patternChange, uninterrupted.curve.patternChange)
        let probe = try XCTUnwrap(second.curve.probe), full = try XCTUnwrap(uninterrupted.curve.probe)
        XCTAssertEqual(probe.margin[0].count, 90)
        XCTAssertTrue(probe.margin[0].prefix(30).allSatisfy { $0 == nil })
        XCTAssertEqual(Array(probe.margin[0].suffix(60)), Array(full.margin[0].suffix(60)))
        XCTAssertNil(probe.patternChangeLag[0][39], "no lag snapshot of iteration 30 to compare with")
        XCTAssertEqual(probe.patternChangeLag[0][49], full.patternChangeLag[0][49])
        XCTAssertEqual(probe.layerLags?.weightUpdateAbs[0][0].count, 90)
        XCTAssertEqual(probe.layerLags?.patternChange[0][1][49], full.layerLags?.patternChange[0][1][49])
    }

    /// A checkpoint written with the geometric instruments but before the per-layer lag distances
    /// (its curve has no `layerLags`) resumes: the earlier rows' per-layer lag fields are empty,
    /// the later ones, and every other column, equal the uninterrupted run's (the lag snapshots
    /// were checkpointed, so the first lag after the resume is measured).
    func testCheckpointWithoutLayerLagsResumes() throws {
        let (second, uninterrupted) = try resumedFromOlderCheckpoint(at: 35) { old in
            old.metadata.curve.probe?.layerLags = nil
            XCTAssertFalse(String(decoding: try! JSONCoding.encoder().encode(old.metadata), as: UTF8.self).contains("layerLags"),
                           "the metadata as the older version wrote it")
        }
        XCTAssertEqual(second.parameters.array, uninterrupted.parameters.array)
        var probe = try XCTUnwrap(second.curve.probe), full = try XCTUnwrap(uninterrupted.curve.probe)
        let layers = try XCTUnwrap(probe.layerLags), fullLayers = try XCTUnwrap(full.layerLags)
        for (k, lag) in LagSnapshot.lags.enumerated() {
            for columns in [\LayerLagColumns.patternChange, \.weightUpdateAbs, \.weightUpdateRel] {
                for (resumed, reference) in zip(layers[keyPath: columns][k], fullLayers[keyPath: columns][k]) {
                    XCTAssertEqual(resumed.count, 90)
                    XCTAssertTrue(resumed.prefix(35).allSatisfy { $0 == nil }, "lag \(lag): earlier rows empty")
                    XCTAssertEqual(Array(resumed.suffix(55)), Array(reference.suffix(55)), "lag \(lag)")
                }
            }
        }
        XCTAssertNotNil(layers.patternChange[0][0][39], "the lag-10 snapshot of iteration 30 was checkpointed")
        probe.layerLags = nil; full.layerLags = nil
        XCTAssertEqual(probe, full)
    }

    /// A 90-iteration trial recorded every step, checkpointed at `stop`, the checkpoint made to
    /// look like an older version's by `older`, encoded, decoded and resumed to the end; and the
    /// same trial run without interruption.
    func resumedFromOlderCheckpoint(at stop: Int, _ older: (inout TrainerCheckpoint) -> Void) throws
        -> (resumed: Trainer, uninterrupted: Trainer) {
        var spec = spec(optimizer: OptimizerSpec(kind: .adam, lr: 0.003))
        spec.recordEvery = 1
        let data = try DatasetCache().prepare(spec.dataset)
        let uninterrupted = try Trainer(spec: spec, data: data)
        try uninterrupted.run()
        let first = try Trainer(spec: spec, data: data)
        while first.iteration < stop { try first.step() }
        var old = first.checkpoint(elapsedSeconds: 0)
        older(&old)
        let resumed = try Trainer(spec: spec, data: data)
        try resumed.restore(try TrainerCheckpoint(decoding: try old.encoded(), source: "old"), source: "old")
        try resumed.run()
        return (resumed, uninterrupted)
    }

    /// Runs `spec` through a TrialRunner that checkpoints every `every` iterations; returns the
    /// outcome and the checkpoints.
    func runCheckpointing(_ spec: TrialSpec, every: Int) -> (TrialRunner.Outcome, [TrainerCheckpoint]) {
        var saved: [TrainerCheckpoint] = []
        var runner = TrialRunner()
        runner.checkpointEvery = .iterations(every)
        runner.saveCheckpoint = { saved.append($0) }
        return (runner.run(spec), saved)
    }

    func testTrialRunnerCheckpointsAndResumes() throws {
        let spec = spec(optimizer: OptimizerSpec(kind: .adam, lr: 0.003))
        let (full, saved) = runCheckpointing(spec, every: 25)
        XCTAssertEqual(full.result.status, .ok)
        XCTAssertEqual(saved.map(\.metadata.iteration), [25, 50, 75])
        let resumed = TrialRunner().run(spec, resumingFrom: (saved[1], source: "memory"))
        XCTAssertEqual(resumed.curve, full.curve)
        // The settling curve (replayed after training) is part of the outcome, identical after a
        // resume mid-training and after one from the finished state (a kill during the replay).
        XCTAssertNotNil(full.settling)
        XCTAssertEqual(resumed.settling, full.settling)
        // A cadence due at the last iteration checkpoints the finished state before the replay.
        let (_, atEnd) = runCheckpointing(spec, every: 45)
        XCTAssertEqual(atEnd.map(\.metadata.iteration), [45, spec.iterations])
        let replayedOnly = TrialRunner().run(spec, resumingFrom: (atEnd[1], source: "memory"))
        XCTAssertEqual(replayedOnly.curve, full.curve)
        XCTAssertEqual(replayedOnly.settling, full.settling)
        var a = replayedOnly.result, b = full.result
        a.wallSeconds = 0; b.wallSeconds = 0
        XCTAssertEqual(a, b)
        XCTAssertEqual(resumed.result.finalLoss, full.result.finalLoss)
        XCTAssertEqual(resumed.result.finalValAccuracy, full.result.finalValAccuracy)
    }

    /// Gated trials (docs/numerics.md, "Gated training"): checkpoints taken before and after the
    /// freeze hold θ_g and the freeze point; every resume ends bit-identical to the uninterrupted
    /// run, the online detector's iteration and the result's `freeze` included.
    func testGatedTrialResumesBitIdentically() throws {
        let auto = GateSpec(freezeAt: .auto, detector: RegimeDetectorOptions(window: 5, drop: 0.5, flattening: 0.5, patience: 5))
        for gates in [GateSpec(freezeAt: .step(40)), auto] {
            var spec = spec(optimizer: OptimizerSpec(kind: .adam, lr: 0.01))
            spec.gates = gates
            spec.recordEvery = 1
            let (full, saved) = runCheckpointing(spec, every: 15)
            XCTAssertEqual(full.result.status, .ok)
            let frozenAt = try XCTUnwrap(full.result.freeze?.at, "\(gates): never froze")
            XCTAssertTrue(saved.contains { $0.metadata.gatesFrozenAt == nil } && saved.contains { $0.metadata.gatesFrozenAt == frozenAt },
                          "\(gates): checkpoints on both sides of the freeze at \(frozenAt)")
            for checkpoint in saved {
                let bytes = try checkpoint.encoded()
                let resumed = TrialRunner().run(spec, resumingFrom: (try TrainerCheckpoint(decoding: bytes, source: "memory"), source: "memory"))
                let label = "\(gates) resumed at \(checkpoint.metadata.iteration)"
                XCTAssertEqual(resumed.curve, full.curve, label)
                XCTAssertNotNil(full.settling, label)
                XCTAssertEqual(resumed.settling, full.settling, label)
                var a = resumed.result, b = full.result
                a.wallSeconds = 0; b.wallSeconds = 0
                XCTAssertEqual(a, b, label)
                XCTAssertEqual(a.detectedAt, b.detectedAt, label)
                XCTAssertEqual(a.freeze, b.freeze, label)
            }
        }
    }

    /// A cadence in seconds: a tiny one saves after every iteration but the last, a long one never;
    /// resuming from any of them ends where the uninterrupted run ends.
    func testCheckpointCadenceInSeconds() throws {
        let spec = spec(optimizer: OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9))
        var saved: [TrainerCheckpoint] = []
        var runner = TrialRunner()
        runner.checkpointEvery = .seconds(1e-9)
        runner.saveCheckpoint = { saved.append($0) }
        let full = runner.run(spec)
        XCTAssertEqual(saved.map(\.metadata.iteration), Array(1...spec.iterations))
        let resumed = TrialRunner().run(spec, resumingFrom: (saved[40], source: "memory"))
        XCTAssertEqual(resumed.curve, full.curve)
        saved = []
        runner.checkpointEvery = .seconds(3600)
        _ = runner.run(spec)
        XCTAssertTrue(saved.isEmpty, "no checkpoint within an hour of training")
        XCTAssertEqual(CheckpointCadence(parsing: "60s"), .seconds(60))
        XCTAssertEqual(CheckpointCadence(parsing: "250"), .iterations(250))
        for bad in ["0", "-5", "0s", "ten", "5m", "s", ""] { XCTAssertNil(CheckpointCadence(parsing: bad), bad) }
    }

    func testCorruptCheckpointsAreRejectedWithTheirName() throws {
        let spec = spec(optimizer: OptimizerSpec(kind: .sgd, lr: 0.05))
        let trainer = try Trainer(spec: spec, data: try DatasetCache().prepare(spec.dataset))
        try trainer.step()
        let bytes = try trainer.checkpoint(elapsedSeconds: 0).encoded()
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        XCTAssertThrowsError(try TrainerCheckpoint(decoding: flipped, source: "x.ckpt")) {
            XCTAssertTrue("\($0)".hasPrefix("x.ckpt: checksum mismatch"), "\($0)")
        }
        XCTAssertThrowsError(try TrainerCheckpoint(decoding: Array(bytes.prefix(bytes.count - 9)), source: "x.ckpt")) {
            XCTAssertTrue("\($0)".hasPrefix("x.ckpt: "), "\($0)")
        }
        XCTAssertThrowsError(try TrainerCheckpoint(decoding: Array("not a checkpoint at all".utf8), source: "x.ckpt")) {
            XCTAssertEqual("\($0)", "x.ckpt: not a regime checkpoint (bad magic)")
        }
        var other = spec
        other.seed = 43
        let otherTrainer = try Trainer(spec: other, data: try DatasetCache().prepare(other.dataset))
        XCTAssertThrowsError(try otherTrainer.restore(try TrainerCheckpoint(decoding: bytes, source: "x.ckpt"), source: "x.ckpt")) {
            XCTAssertTrue("\($0)".contains("belongs to trial"), "\($0)")
        }
    }

    func testAtomicFileReplacesWholeFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("regime-atomic-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("f.json")
        try AtomicFile.write(Data("first".utf8), to: url)
        try AtomicFile.write(Data("second".utf8), to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "second")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["f.json"], "temporary file left behind")
        XCTAssertThrowsError(try AtomicFile.write(Data(), to: URL(fileURLWithPath: "/nonexistent-dir/f")))
    }
}
