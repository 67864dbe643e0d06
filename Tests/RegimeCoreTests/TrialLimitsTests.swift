import Foundation
import XCTest
@testable import RegimeCore

/// Sizes a trial cannot work with (TrialLimits.swift): refused with one line naming the setting,
/// before any data is read where possible, and against the data as read otherwise.
final class TrialLimitsTests: XCTestCase {
    static func spec(arch: String = "mlp:32-16-10", batchSize: Int = 8, iterations: Int = 10, recordEvery: Int = 1,
                     dataset: DatasetSpec = DatasetSpec(name: "synthetic", probeSubset: 64)) -> TrialSpec {
        TrialSpec(arch: arch, dataset: dataset, optimizer: OptimizerSpec(kind: .sgd, lr: 0.1), batchSize: batchSize,
                  iterations: iterations, seed: 1, recordEvery: recordEvery, evalEvery: recordEvery)
    }

    func assertRefused(_ spec: TrialSpec, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try spec.validate(), file: file, line: line) {
            XCTAssertEqual("\($0)", expected, file: file, line: line)
        }
    }

    func testSizesThatCannotWorkAreRefusedBeforeReadingData() {
        assertRefused(Self.spec(batchSize: 8, iterations: Int.max / 4),
                      "iterations: \(Int.max / 4) iterations of batch_size 8 examples overflow a 64-bit count of examples")
        assertRefused(Self.spec(iterations: 100, recordEvery: 500),
                      "record_every: 500 exceeds iterations (100): the curve would hold the last iteration only")
        assertRefused(Self.spec(arch: "cnn:1x784x1-c8k3-10", dataset: DatasetSpec(name: "fashion-mnist")),
                      "arch: 'cnn:1x784x1-c8k3-10' reads 1x784x1 images but fashion-mnist examples are 1x28x28")
        assertRefused(Self.spec(arch: "vit:3x28x28-p7-d8-h2-l1-10", dataset: DatasetSpec(name: "cifar10")),
                      "arch: 'vit:3x28x28-p7-d8-h2-l1-10' reads 3x28x28 images but cifar10 examples are 3x32x32")
        XCTAssertNoThrow(try Self.spec(iterations: 100, recordEvery: 100).validate())
        XCTAssertNoThrow(try Self.spec(arch: "cnn:1x1x32-c4k3-fc8-10").validate(), "a 1x1x32 image of the synthetic vectors")
    }

    /// A batch larger than the training examples is refused; one equal to them is full-batch
    /// training: every batch is the whole training set (one epoch), so the first step's loss is
    /// the mean loss of the initial network over every training example.
    func testBatchSizeAgainstTheTrainingExamples() throws {
        let cache = DatasetCache()
        let dataset = DatasetSpec(name: "synthetic", trainSubset: 100, probeSubset: 64)
        let data = try cache.prepare(dataset)
        let tooLarge = Self.spec(batchSize: 101, dataset: dataset)
        XCTAssertNoThrow(try tooLarge.validate(), "needs the data to be refused")
        XCTAssertThrowsError(try tooLarge.validate(data: data)) {
            XCTAssertEqual("\($0)", "batch_size: 101 exceeds the 100 examples of the training subset: every batch would repeat examples (batch_size 100 is full-batch training)")
        }
        XCTAssertThrowsError(try Trainer(spec: tooLarge, data: data), "the trainer applies the same check")

        let fullBatch = Self.spec(batchSize: 100, iterations: 3, dataset: dataset)
        let trainer = try Trainer(spec: fullBatch, data: data)
        let network = trainer.network
        let logits = data.train.materializedFeatures().withUnsafeBufferPointer {
            network.forward(parameters: trainer.parameters.pointer, input: $0.baseAddress!, batch: 100)
        }
        var expected = 0.0
        for row in 0..<100 {
            let z = (0..<10).map { Double(logits[row * 10 + $0]) }
            let top = z.max()!
            expected += top + log(z.map { exp($0 - top) }.reduce(0, +)) - z[Int(data.train.labels[row])]
        }
        expected /= 100
        try trainer.step()
        XCTAssertEqual(trainer.lastLoss, expected, accuracy: 1e-5 * expected)
    }

    /// The examples as read must be what the architecture reads (a data set path may hold other files).
    func testDataAsReadMustFitTheArchitecture() throws {
        let architecture = try Architecture(parsing: "cnn:1x28x28-c4k3-10")
        var data = CNNViTTrainingTests.syntheticData(architecture, train: 20, probe: 8, validation: 8, seed: 1)
        data.train.shape = (1, 1, 784)
        let spec = Self.spec(arch: "cnn:1x28x28-c4k3-10", dataset: DatasetSpec(name: "fashion-mnist", probeSubset: 8))
        XCTAssertThrowsError(try spec.validate(data: data)) {
            XCTAssertEqual("\($0)", "arch: 'cnn:1x28x28-c4k3-10' reads 1x28x28 images but the fashion-mnist examples as read are 1x1x784")
        }
    }

    func testSubsetsLargerThanTheirSplitAreRefused() {
        let synthetic = SyntheticTeacher.standard()
        XCTAssertThrowsError(try DatasetCache.prepare(dataset: synthetic, spec: DatasetSpec(name: "synthetic", valSubset: 1025))) {
            XCTAssertEqual("\($0)", "dataset.val_subset: 1025 exceeds the 1024 held-out examples of synthetic")
        }
        XCTAssertNoThrow(try DatasetCache.prepare(dataset: synthetic, spec: DatasetSpec(name: "synthetic", valSubset: 1024)))
    }

    func testErrorKeys() {
        XCTAssertEqual(SpecError("dataset.probe_subset: 5 exceeds").key, "dataset.probe_subset")
        XCTAssertEqual(SpecError("dataset.probe_subset: 5 exceeds").rootKey, "dataset")
        XCTAssertEqual(SpecError("arch: 'cnn:1x2x2-10': x").rootKey, "arch")
    }
}
