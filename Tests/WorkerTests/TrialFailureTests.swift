import Foundation
import RegimeCore
import XCTest
@testable import Worker

/// Whatever a trial throws at run time becomes that trial's `failed` result with its message, and
/// the runner goes on with the next trial.
final class TrialFailureTests: XCTestCase {
    static func spec(_ dataset: DatasetSpec, arch: String = "mlp:32-16-10", batchSize: Int = 16) -> TrialSpec {
        TrialSpec(arch: arch, dataset: dataset, optimizer: OptimizerSpec(kind: .sgd, lr: 0.05), batchSize: batchSize,
                  iterations: 20, seed: 1, recordEvery: 1, evalEvery: 10)
    }

    /// Fashion-MNIST through symlinks in a temporary directory, which the test then removes: the
    /// data set a sweep's rank 0 validated has become unreadable by the time another rank reads it.
    func testDataThatBecomesUnreadableFailsTheTrialOnly() throws {
        let source = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: source) else { throw XCTSkip("Fashion-MNIST is not installed") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("regime-vanishing-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(name).path,
                                                       withDestinationPath: "\(source)/\(name)")
        }
        let spec = Self.spec(DatasetSpec(name: "fashion-mnist", path: directory.path, trainSubset: 500, probeSubset: 32),
                             arch: "mlp:784-16-10")
        _ = try TrialRunner().check(spec)  // what rank 0 does while validating
        try FileManager.default.removeItem(at: directory)

        let runner = TrialRunner()        // another rank: its own cache, reading now
        let failed = runner.run(spec)
        XCTAssertEqual(failed.result.status, .failed)
        XCTAssertEqual(failed.result.error, "\(directory.path)/train-images-idx3-ubyte: file not found")
        XCTAssertNil(failed.curve)
        let next = runner.run(Self.spec(DatasetSpec(name: "synthetic", probeSubset: 32)))
        XCTAssertEqual(next.result.status, .ok, next.result.error ?? "")
    }

    /// A spec that passes `validate()` (which needs no data) but not the trainer's check against
    /// the data as read, and a trial estimated to need more memory than this rank has.
    func testSpecsRefusedAtRunTimeFailTheTrialOnly() throws {
        var runner = TrialRunner()
        let tooLargeBatch = Self.spec(DatasetSpec(name: "synthetic", trainSubset: 100, probeSubset: 32), batchSize: 500)
        XCTAssertNoThrow(try tooLargeBatch.validate())
        let failed = runner.run(tooLargeBatch)
        XCTAssertEqual(failed.result.status, .failed)
        XCTAssertEqual(failed.result.error, "batch_size: 500 exceeds the 100 examples of the training subset: every batch would repeat examples (batch_size 100 is full-batch training)")

        runner.memoryBudget = MemoryBudget(bytesPerRank: 1_000_000, origin: "a small host")
        let tooLarge = runner.run(Self.spec(DatasetSpec(name: "synthetic", probeSubset: 32)))
        XCTAssertEqual(tooLarge.result.status, .failed)
        let message = tooLarge.result.error ?? ""
        XCTAssertTrue(message.hasPrefix("arch 'mlp:32-16-10' needs "), message)
        XCTAssertTrue(message.hasSuffix("; a rank has 1.00 MB (a small host)"), message)

        runner.memoryBudget = MemoryBudget(bytesPerRank: 4_000_000_000, origin: "test")
        XCTAssertEqual(runner.run(Self.spec(DatasetSpec(name: "synthetic", probeSubset: 32))).result.status, .ok)
    }
}
