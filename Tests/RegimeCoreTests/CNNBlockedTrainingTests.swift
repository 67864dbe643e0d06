import Foundation
import XCTest
@testable import RegimeCore

/// `CNN.recomputesFirstConvolution` (the trainer's training forward keeps the first convolution's
/// output only block by block and the backward pass computes it again) against the plain pass, bit
/// for bit: logits, every gradient, the later layers' pattern sources; on geometries that take the
/// path (16 output channels, 3 x 3 gray or 1 x 1 nine-channel patch, even output sizes; batches
/// that are not multiples of the spatial block) and on ones that must fall back to the plain pass.
/// Then whole trials through `Trainer` with the path on and off.
final class CNNBlockedTrainingTests: XCTestCase {
    typealias Bits = CNNKernelBitTests
    let keep = PinnedBuffers()

    /// (arch, batch, whether the path applies). Spatial blocks (`cnnSpatialBlockFloats`): 5 examples
    /// for the tracked CNN, 10 for 1x20x20-c16k3-p-c8k3-p, 13 for the stride-2 one.
    static let cases: [(String, Int, Bool)] = [
        ("cnn:1x28x28-c16k3-p-c32k3-p-fc128-10", 12, true),
        ("cnn:1x28x28-c16k3-p-c32k3-p-fc128-10", 3, true),
        ("cnn:1x20x20-c16k3-p-c8k3-p-10", 23, true),
        ("cnn:1x28x28-c16k3s2-p-fc16-10", 27, true),
        ("cnn:1x10x10-c16k3v-p-fc8-4", 9, true),
        ("cnn:9x8x8-c16k1-p-fc8-4", 5, true),
        ("cnn:1x13x13-c16k3-p-fc8-4", 7, false),           // odd output: not whole pooling windows
        ("cnn:1x28x28-c8k3-p-c16k3-p-fc64-10", 11, false),  // 8 output channels
        ("cnn:3x12x12-c16k3-p-fc8-4", 6, false),            // a 27-tap patch
        ("cnn:1x12x12-c16k3-c8k3-p-10", 6, false),          // no pool after the first convolution
    ]

    func testBlockedTrainingPassGivesThePlainPassBits() throws {
        var rng = Xoshiro256(seed: 77, stream: 3)
        for (arch, B, applies) in Self.cases {
            guard case .cnn(let spec) = try Architecture(parsing: arch) else { return XCTFail(arch) }
            let plain = CNN(spec: spec), blocked = CNN(spec: spec)
            blocked.recomputesFirstConvolution = true
            let parameters = keep.buffer(count: plain.parameterCount)
            plain.initialize(parameters: parameters.pointer, rng: &rng)
            for i in 0..<plain.parameterCount { parameters[i] += Float(rng.nextNormal() * 0.05) }
            let x = keep.pointer(Bits.values(B * spec.input.count, &rng))
            let dlogits = keep.pointer(EngineTestKit.normals(B * spec.classes, &rng))
            let p = UnsafePointer(parameters.pointer)

            let logits = Array(UnsafeBufferPointer(start: plain.forward(parameters: p, input: x, batch: B), count: B * spec.classes))
            let blockedLogits = Array(UnsafeBufferPointer(start: blocked.forward(parameters: p, input: x, batch: B),
                                                          count: B * spec.classes))
            XCTAssertEqual(blocked.firstConvolutionInBlocks, applies, "\(arch): whether the path is taken")
            if let d = Bits.firstDifference(blockedLogits, logits) { XCTFail("\(arch) B=\(B): logits, \(d)") }
            for layer in plain.patternLayers.indices where !(applies && layer == 0) {
                let n = B * plain.patternLayers[layer].unitsPerExample
                if let d = Bits.firstDifference(Array(UnsafeBufferPointer(start: blocked.patternSource(layer: layer), count: n)),
                                                Array(UnsafeBufferPointer(start: plain.patternSource(layer: layer), count: n))) {
                    XCTFail("\(arch) B=\(B): pattern source of layer \(layer), \(d)")
                }
            }
            let gradients = keep.buffer(count: plain.parameterCount), blockedGradients = keep.buffer(count: plain.parameterCount)
            // NaN, so that a gradient the pass failed to write would show.
            blockedGradients.pointer.update(repeating: .nan, count: plain.parameterCount)
            plain.backward(parameters: p, input: x, dlogits: dlogits, batch: B, gradients: gradients.pointer)
            blocked.backward(parameters: p, input: x, dlogits: dlogits, batch: B, gradients: blockedGradients.pointer)
            if let d = Bits.firstDifference(blockedGradients.array, gradients.array) { XCTFail("\(arch) B=\(B): gradients, \(d)") }

            // A gated pass (the plain pass's own gates) keeps the first convolution's output for the batch.
            let gates = plain.ownGates
            _ = blocked.forward(parameters: p, input: x, batch: B, gates: gates)
            XCTAssertFalse(blocked.firstConvolutionInBlocks, "\(arch): gated pass")
            let n0 = B * plain.patternLayers[0].unitsPerExample
            let gated = Array(UnsafeBufferPointer(start: blocked.patternSource(layer: 0), count: n0))
            XCTAssertEqual(gated.map { $0 > 0 }, Array(UnsafeBufferPointer(start: gates[0], count: n0)).map { $0 > 0 },
                           "\(arch): gated pass's first pattern layer")
            // So does `forwardPatterns` without a tap.
            _ = blocked.forward(parameters: p, input: x, batch: B)
            blocked.forwardPatterns(parameters: p, input: x, batch: B)
            XCTAssertFalse(blocked.firstConvolutionInBlocks, "\(arch): forwardPatterns")
            if let d = Bits.firstDifference(Array(UnsafeBufferPointer(start: blocked.patternSource(layer: 0), count: n0)),
                                            Array(UnsafeBufferPointer(start: plain.patternSource(layer: 0), count: n0))) {
                XCTFail("\(arch) B=\(B): pattern source of layer 0 after forwardPatterns, \(d)")
            }
        }
    }

    /// Trials with the path on (the trainer's default) and off: the same parameters and curve
    /// (every column, as the CSV writes it), plain and with gates frozen mid-run.
    func testTrainerWithAndWithoutThePathGivesTheSameTrial() throws {
        let arch = "cnn:1x28x28-c16k3-p-c4k3-p-fc8-10"  // spatial blocks of 6; batch 13
        let data = CNNViTTrainingTests.syntheticData(try Architecture(parsing: arch), train: 60, probe: 40, validation: 20, seed: 4)
        for gates in [nil, GateSpec(freezeAt: .step(4))] {
            var spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: "fashion-mnist", probeSubset: 40),
                                 optimizer: OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9), batchSize: 13, iterations: 8,
                                 seed: 5, recordEvery: 1, evalEvery: 3)
            spec.gates = gates
            let on = try Trainer(spec: spec, data: data), off = try Trainer(spec: spec, data: data)
            let cnn = try XCTUnwrap(off.network as? CNN)
            XCTAssertTrue(cnn.recomputesFirstConvolution, "the trainer turns the path on")
            cnn.recomputesFirstConvolution = false
            try on.run(); try off.run()
            let label = gates == nil ? "plain" : "gates frozen at 4"
            if let d = Bits.firstDifference(on.parameters.array, off.parameters.array) { XCTFail("\(label): parameters, \(d)") }
            XCTAssertEqual(on.curve.csv(), off.curve.csv(), label)
            XCTAssertTrue(on.curve.patternChange.contains { $0 > 0 }, "\(label): patterns move")
        }
    }
}
