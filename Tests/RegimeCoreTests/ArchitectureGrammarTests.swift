import Foundation
import XCTest
@testable import RegimeCore

/// The `mlp:` / `cnn:` / `vit:` arch grammar: parsing, round trips, one-line errors, and shapes
/// checked against the data set.
final class ArchitectureGrammarTests: XCTestCase {
    typealias Kit = EngineTestKit

    func testArchitecturesParseAndRoundTrip() throws {
        let cases: [(String, Int, Int)] = [
            ("cnn:1x28x28-c16k3-c32k3s2-p-fc128-10", 784, 10),
            ("cnn:3x32x32-c32k5-p-c64k3s2v-fc256-fc64-10", 3072, 10),
            ("cnn:1x28x28-p-10", 784, 10),
            ("vit:1x28x28-p7-d64-h4-l2-10", 784, 10),
            ("vit:3x32x32-p4-d96-h3-l3-cls-10", 3072, 10),
            ("mlp:784-256-10", 784, 10),
        ]
        for (text, inputs, classes) in cases {
            let architecture = try Architecture(parsing: text)
            XCTAssertEqual(architecture.description, text)
            XCTAssertEqual(try Architecture(parsing: architecture.description), architecture)
            XCTAssertEqual(architecture.inputSize, inputs, text)
            XCTAssertEqual(architecture.classCount, classes, text)
        }
        // Explicit defaults are accepted and canonicalised.
        XCTAssertEqual(try Architecture(parsing: "cnn:1x8x8-c4k3s1-10").description, "cnn:1x8x8-c4k3-10")
        guard case .cnn(let spec) = try Architecture(parsing: "cnn:1x28x28-c16k3-c32k3s2-p-fc128-10") else { return XCTFail() }
        XCTAssertEqual(spec.shapes.map(\.description), ["16x28x28", "32x14x14", "32x7x7", "128x1x1"])
        let network = CNN(spec: spec)
        XCTAssertEqual(network.patternLayers.map(\.unitsPerExample), [16 * 784, 32 * 196, 128])
        XCTAssertEqual(network.parameterGroups.map(\.name), ["conv1", "conv2", "fc1", "fc2"])
        XCTAssertEqual(network.parameterCount, (16 * 9 + 16) + (32 * 144 + 32) + (1568 * 128 + 128) + (128 * 10 + 10))
        guard case .vit(let vit) = try Architecture(parsing: "vit:1x28x28-p7-d64-h4-l2-cls-10") else { return XCTFail() }
        XCTAssertEqual(vit.tokenCount, 17)
        let transformer = VisionTransformer(spec: vit)
        XCTAssertEqual(transformer.patternLayers.map(\.unitsPerExample), [17 * 256, 17 * 256])
        XCTAssertEqual(transformer.parameterGroups.map(\.name), ["embed", "block1.attn", "block1.ffn", "block2.attn", "block2.ffn", "head"])
        let perBlock = (2 * 64 + 3 * 64 * 64 + 64 * 64 + 64) + (2 * 64 + 256 * 64 + 256 + 64 * 256 + 64)
        XCTAssertEqual(transformer.parameterCount, (64 * 49 + 64 + 64 + 17 * 64) + 2 * perBlock + (2 * 64 + 10 * 64 + 10))
    }

    func testBadArchitecturesGiveOneLineErrorsNamingTheArch() {
        let bad: [(String, String)] = [
            ("cnn:28x28-c16k3-10", "CxHxW"),
            ("cnn:1x28x28-c16k4-10", "odd kernel"),
            ("cnn:1x28x28-c16-10", "c<channels>k<kernel>"),
            ("cnn:1x28x28-fc10-c16k3-10", "cannot follow a fully-connected"),
            ("cnn:1x28x28-fc10-p-10", "cannot follow a fully-connected"),
            ("cnn:1x3x3-c4k5v-10", "larger than"),
            ("cnn:1x2x2-p-p-10", "at least 2x2"),
            ("cnn:1x28x28-q-10", "unknown layer"),
            ("cnn:1x28x28-c16k3-1", "classes"),
            ("cnn:1x28x28", "expected 'cnn:"),
            ("vit:1x28x28-p5-d64-h4-l2-10", "must divide"),
            ("vit:1x28x28-p7-d64-h5-l2-10", "divisible"),
            ("vit:1x28x28-p7-d64-h4-10", "expected 'vit:"),
            ("vit:1x28x28-p7-d64-h4-l2-mean-10", "expected 'vit:"),
            ("vit:1x28x28-p7-x64-h4-l2-10", "field 'x64'"),
            ("rnn:10-10", "unknown architecture"),
        ]
        for (text, fragment) in bad {
            XCTAssertThrowsError(try Architecture(parsing: text), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains("'\(text)'"), "\(text): the error names the arch: \(message)")
                XCTAssertTrue(message.contains(fragment), "\(text): expected '\(fragment)' in: \(message)")
                XCTAssertFalse(message.contains("\n"), "\(text): one line")
            }
        }
    }

    /// TrialSpec.validate checks the input size and classes against the data set.
    func testTrialSpecValidatesShapesAgainstTheDataSet() throws {
        func spec(_ arch: String, _ data: String) -> TrialSpec {
            TrialSpec(arch: arch, dataset: DatasetSpec(name: data), optimizer: OptimizerSpec(kind: .sgd, lr: 0.1),
                      batchSize: 8, iterations: 10, seed: 1)
        }
        XCTAssertNoThrow(try spec("cnn:1x28x28-c8k3-p-10", "fashion-mnist").validate())
        XCTAssertNoThrow(try spec("cnn:3x32x32-c8k3-p-10", "cifar10").validate())
        XCTAssertNoThrow(try spec("vit:3x32x32-p4-d32-h2-l1-10", "cifar10").validate())
        XCTAssertThrowsError(try spec("cnn:3x32x32-c8k3-p-10", "fashion-mnist").validate())
        XCTAssertThrowsError(try spec("vit:1x28x28-p7-d32-h2-l1-10", "cifar10").validate())
    }
}
