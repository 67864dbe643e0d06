import Foundation
import XCTest
@testable import RegimeCore

/// The CNN and ViT inside the real training loop: every instrument, optimizer and checkpoint works
/// for them as for the MLP, and both learn Fashion-MNIST.
///
/// The Fashion-MNIST runs need a release build (`-c release`; in a debug build they would take
/// minutes, so they are skipped there) and the data set at its default path.
final class CNNViTTrainingTests: XCTestCase {
    static var isOptimized: Bool {
        #if DEBUG
        return false
        #else
        return true
        #endif
    }

    /// Random data of the architecture's shape (no files), for the loop mechanics.
    static func syntheticData(_ architecture: Architecture, train: Int, probe: Int, validation: Int, seed: UInt64) -> PreparedData {
        var rng = Xoshiro256(seed: seed, stream: 5)
        let n = architecture.inputSize, k = architecture.classCount
        let shape = architecture.imageInput ?? ImageShape(channels: 1, height: 1, width: n)
        func split(_ count: Int) -> LabeledSplit {
            LabeledSplit(features: (0..<(count * n)).map { _ in Float(rng.nextNormal()) },
                         labels: (0..<count).map { _ in Int32(rng.nextInt(below: k)) }, featureCount: n, classCount: k,
                         shape: (shape.channels, shape.height, shape.width))
        }
        return PreparedData(train: split(train), validation: split(validation), probe: split(probe), mean: 0, std: 1)
    }

    /// Uninterrupted vs checkpointed-and-resumed (through the binary encoding): identical curves and
    /// parameters, for every optimizer kind.
    func testCheckpointResumeIsExactForCNNAndViT() throws {
        let archs = ["cnn:1x28x28-c3k5s2-p-c4k3s2-fc8-10", "vit:1x28x28-p14-d8-h2-l2-cls-10"]
        for arch in archs {
            for optimizer in [OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4),
                              OptimizerSpec(kind: .adamw, lr: 3e-3, weightDecay: 0.01)] {
                let spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: "fashion-mnist", probeSubset: 24),
                                     optimizer: optimizer, schedule: LearningRateSchedule(kind: .cosine, warmup: 2),
                                     batchSize: 6, iterations: 10, seed: 3, recordEvery: 2, evalEvery: 4)
                let data = Self.syntheticData(try Architecture(parsing: arch), train: 30, probe: 24, validation: 16, seed: 9)
                let straight = try Trainer(spec: spec, data: data)
                try straight.run()

                let first = try Trainer(spec: spec, data: data)
                for _ in 0..<7 { try first.step() }
                let bytes = try first.checkpoint(elapsedSeconds: 1).encoded()
                let resumed = try Trainer(spec: spec, data: data)
                try resumed.restore(try TrainerCheckpoint(decoding: bytes, source: "memory"), source: "memory")
                try resumed.run()

                let label = "\(arch) \(optimizer.kind)"
                XCTAssertEqual(resumed.parameters.array, straight.parameters.array, "\(label): parameters after resuming")
                XCTAssertEqual(resumed.curve.patternChange, straight.curve.patternChange, label)
                XCTAssertEqual(resumed.curve.weightUpdateAbs, straight.curve.weightUpdateAbs, label)
                XCTAssertEqual(resumed.curve.layerPatternChange, straight.curve.layerPatternChange, label)
                XCTAssertEqual(resumed.curve.valAccuracy, straight.curve.valAccuracy, label)
                // The instruments are populated and sane.
                XCTAssertEqual(straight.curve.layerWeightUpdateAbs.count, straight.network.parameterGroups.count, label)
                XCTAssertEqual(straight.curve.layerPatternChange.count, straight.network.patternLayers.count, label)
                XCTAssertTrue(straight.curve.patternChange.allSatisfy { $0 >= 0 && $0 <= 1 }, label)
                XCTAssertTrue(straight.curve.patternChangeInit.contains { $0 > 0 }, "\(label): patterns move")
                XCTAssertTrue(straight.curve.weightUpdateAbs.allSatisfy { $0 > 0 && $0.isFinite }, label)
            }
        }
    }

    /// Same seed, same spec: bit-identical runs (no threading, fixed summation orders).
    func testTrainingIsDeterministic() throws {
        for arch in ["cnn:1x28x28-c4k5s2-p-10", "vit:1x28x28-p14-d8-h2-l1-10"] {
            let spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: "fashion-mnist", probeSubset: 16),
                                 optimizer: OptimizerSpec(kind: .adam, lr: 1e-3), batchSize: 6, iterations: 5, seed: 11)
            let data = Self.syntheticData(try Architecture(parsing: arch), train: 30, probe: 16, validation: 8, seed: 2)
            let a = try Trainer(spec: spec, data: data), b = try Trainer(spec: spec, data: data)
            try a.run(); try b.run()
            XCTAssertEqual(a.parameters.array, b.parameters.array, arch)
            XCTAssertEqual(a.curve.patternChange, b.curve.patternChange, arch)
        }
    }

    // MARK: Fashion-MNIST

    /// One cache for the test process, so the training tests read the files once.
    static let cache = DatasetCache()

    func fashionMNIST(_ subset: DatasetSpec) throws -> PreparedData {
        guard Self.isOptimized else { throw XCTSkip("Fashion-MNIST training runs only in release builds") }
        let directory = DatasetSpec.defaultDirectory(for: "fashion-mnist")!
        // `make test` installs Debian's dataset-fashion-mnist; without it this is a failure, not a skip.
        guard FileManager.default.fileExists(atPath: directory) else {
            XCTFail("Fashion-MNIST not found at \(directory) (install dataset-fashion-mnist)")
            throw CocoaError(.fileNoSuchFile)
        }
        return try Self.cache.prepare(subset)
    }

    /// Trains and returns the final validation accuracy; prints it with the time taken.
    func train(_ arch: String, optimizer: OptimizerSpec, iterations: Int, batch: Int) throws -> Double {
        let dataset = DatasetSpec(name: "fashion-mnist", trainSubset: 10_000, probeSubset: 128, valSubset: 2_000)
        let data = try fashionMNIST(dataset)
        let spec = TrialSpec(arch: arch, dataset: dataset, optimizer: optimizer, schedule: LearningRateSchedule(kind: .cosine),
                             batchSize: batch, iterations: iterations, seed: 1, recordEvery: 10, evalEvery: iterations)
        let start = Date()
        let trainer = try Trainer(spec: spec, data: data)
        try trainer.run()
        let accuracy = try XCTUnwrap(trainer.curve.valAccuracy.last ?? nil)
        print("Fashion-MNIST \(arch): \(iterations) iterations of \(batch), val accuracy \(accuracy) (2000 test examples), "
              + "final pattern change \(trainer.curve.patternChange.last!), \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        return accuracy
    }

    func testSmallCNNLearnsFashionMNIST() throws {
        let accuracy = try train("cnn:1x28x28-c8k3-p-c16k3-p-fc64-10", optimizer: OptimizerSpec(kind: .adam, lr: 2e-3),
                                 iterations: 400, batch: 64)
        XCTAssertGreaterThan(accuracy, 0.8)
    }

    func testSmallViTLearnsFashionMNIST() throws {
        let accuracy = try train("vit:1x28x28-p7-d32-h2-l1-10", optimizer: OptimizerSpec(kind: .adamw, lr: 5e-3, weightDecay: 0.01),
                                 iterations: 500, batch: 64)
        XCTAssertGreaterThan(accuracy, 0.75)
    }
}
