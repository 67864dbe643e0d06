import Foundation
import XCTest
@testable import RegimeCore

/// The certified probe pass (`CertifiedPatterns`) gives the full pass's bits at every recorded
/// iteration: whole short runs (SGD with momentum and Adam, cosine schedule) give curves equal to
/// the full pass's, the checked mode finds no differing bit, and the bounds do certify examples
/// late in the run (so the comparison covers the certified path, not only recomputation).
final class CertifiedPatternsTests: XCTestCase {
    static let cache = DatasetCache()

    func spec(_ optimizer: OptimizerSpec, arch: String = "mlp:32-64-64-10", iterations: Int = 240) -> TrialSpec {
        TrialSpec(arch: arch, dataset: DatasetSpec(name: "synthetic", probeSubset: 300, valSubset: 64),
                  optimizer: optimizer, schedule: LearningRateSchedule(kind: .cosine), batchSize: 32,
                  iterations: iterations, seed: 3, recordEvery: 1, evalEvery: 1000)
    }

    func run(_ spec: TrialSpec, pass: PatternPass) throws -> Trainer {
        let trainer = try Trainer(spec: spec, data: Self.cache.prepare(spec.dataset))
        trainer.patternPass = pass
        try trainer.run()
        return trainer
    }

    func assertCertifiedEqualsFull(_ spec: TrialSpec, file: StaticString = #filePath, line: UInt = #line) throws {
        let full = try run(spec, pass: .full)
        let certified = try run(spec, pass: .certified)
        let checked = try run(spec, pass: .checked)
        XCTAssertEqual(checked.certifiedPatterns?.mismatches, 0, "differing bits in the checked run", file: file, line: line)
        for (name, other) in [("certified", certified), ("checked", checked)] {
            if let row = zip(full.curve.patternChange, other.curve.patternChange).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
                XCTFail("\(name): pattern_change differs first at row \(row.offset): \(row.element.0) vs \(row.element.1)", file: file, line: line)
            }
            XCTAssertEqual(full.curve, other.curve, name, file: file, line: line)
            XCTAssertEqual(full.previousPatterns.words, other.previousPatterns.words, name, file: file, line: line)
        }
        let fractions = certified.certifiedPatterns!.certifiedFractions
        let attempts = certified.certifiedPatterns!.attempts
        let certifiedExamples = fractions.reduce(0, +) * Double(spec.dataset.probeSubset)
        print("\(spec.arch) \(spec.optimizer.kind): \(attempts.count) of \(fractions.count) measurements tried the bounds; "
              + "examples certified over the run \(Int(certifiedExamples.rounded())), best measurement \(fractions.max() ?? 0)")
        XCTAssertGreaterThan(fractions.max() ?? 0, 0.2, "the bounds certified too little: the test would not cover the certified path",
                             file: file, line: line)
        XCTAssertGreaterThan(certifiedExamples, 50, file: file, line: line)
        XCTAssertEqual(checked.certifiedPatterns!.certifiedFractions, fractions, file: file, line: line)
    }

    func testSGDRunEqualsFullPass() throws {
        try assertCertifiedEqualsFull(spec(OptimizerSpec(kind: .sgd, lr: 0.01, momentum: 0.9)))
    }

    func testAdamRunEqualsFullPass() throws {
        try assertCertifiedEqualsFull(spec(OptimizerSpec(kind: .adam, lr: 1e-3)))
    }

    /// Three hidden layers: the bound on how far a layer's inputs moved is carried two layers up.
    func testDeeperNetworkEqualsFullPass() throws {
        try assertCertifiedEqualsFull(spec(OptimizerSpec(kind: .sgd, lr: 0.005, momentum: 0.9), arch: "mlp:32-48-48-48-10"))
    }

    /// `forwardPatterns` leaves the pattern layers exactly as `forward` does (MLP, CNN, transformer).
    func testForwardPatternsGivesTheForwardPassBits() throws {
        for arch in ["mlp:12-16-8-3", "cnn:1x8x8-c4k3-p-fc8-3", "vit:1x8x8-p4-d8-h2-l2-3"] {
            let network = try Architecture(parsing: arch).makeNetwork()
            var rng = Xoshiro256(seed: 5, stream: .initialization)
            let parameters = FloatBuffer(count: network.parameterCount)
            network.initialize(parameters: parameters.pointer, rng: &rng)
            let batch = 7
            let input = FloatBuffer(EngineTestKit.normals(batch * network.architecture.inputSize, &rng))
            _ = network.forward(parameters: parameters.pointer, input: input.pointer, batch: batch)
            let expected = network.patternLayers.indices.map { l in
                Array(UnsafeBufferPointer(start: network.patternSource(layer: l), count: batch * network.patternLayers[l].unitsPerExample))
            }
            let other = try Architecture(parsing: arch).makeNetwork()
            other.forwardPatterns(parameters: parameters.pointer, input: input.pointer, batch: batch)
            for l in network.patternLayers.indices {
                let got = Array(UnsafeBufferPointer(start: other.patternSource(layer: l), count: expected[l].count))
                XCTAssertEqual(got.map(\.bitPattern), expected[l].map(\.bitPattern), "\(arch) layer \(l)")
            }
        }
    }
}
