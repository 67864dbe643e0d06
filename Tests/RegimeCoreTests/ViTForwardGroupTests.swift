import Foundation
import XCTest
@testable import RegimeCore

/// The ViT's forward pass runs in groups of examples (`VisionTransformer.forwardGroupRows`) with
/// weights packed once per pass and reused between passes of the same parameters
/// (`reusePackedWeights`): a batch gives, example for example, the bits of that example's pass
/// alone (one group of one example: other GEMM tiles, no neighbours), the probe pass (groups in
/// the first group's rows) taps the same pre-activations, and whole trials with reuse
/// give the bits of the same trials packing at every pass.
final class ViTForwardGroupTests: XCTestCase {
    typealias Bits = CNNKernelBitTests
    let keep = PinnedBuffers()

    /// Logits, stored hidden units and tapped pre-activations of a batch of `B` examples (several
    /// groups, the last one short) against the passes of each example alone.
    func testGroupsGiveTheBitsOfOneExampleAtATime() throws {
        // T = 16 (groups of 12, Dh = 8), and T = 5 with a class token (groups of 38, Dh = 16).
        for (arch, B) in [("vit:1x8x8-p2-d16-h2-l2-4", 29), ("vit:2x6x6-p3-d32-h2-l1-cls-4", 45)] {
            var rng = Xoshiro256(seed: 71, stream: 1)
            let (vit, spec, parameters, input) = try Self.network(arch, batch: B, keep: keep, rng: &rng)
            let n = spec.input.channels * spec.input.height * spec.input.width
            let K = spec.classes
            let layers = vit.patternLayers.map(\.unitsPerExample)

            var tapped = layers.map { [Float](repeating: .nan, count: B * $0) }
            vit.preActivationTap = { layer, first, rows, z in
                for i in 0..<(rows * layers[layer]) { tapped[layer][first * layers[layer] + i] = z[i] }
            }
            let logits = Array(UnsafeBufferPointer(start: vit.forward(parameters: parameters.pointer, input: input.pointer,
                                                                      batch: B, gates: nil), count: B * K))
            let hidden = layers.indices.map { Array(UnsafeBufferPointer(start: vit.patternSource(layer: $0), count: B * layers[$0])) }
            // The probe pass with a tap computes every group in the first group's rows: the same values tapped.
            let fromForward = tapped
            tapped = layers.map { [Float](repeating: .nan, count: B * $0) }
            vit.forwardPatterns(parameters: parameters.pointer, input: input.pointer, batch: B)
            for l in layers.indices {
                if let d = Bits.firstDifference(tapped[l], fromForward[l]) { XCTFail("\(arch), forwardPatterns' tap, layer \(l): \(d)") }
            }

            for b in 0..<B {
                var alone = layers.map { [Float](repeating: .nan, count: $0) }
                vit.preActivationTap = { layer, _, rows, z in
                    for i in 0..<(rows * layers[layer]) { alone[layer][i] = z[i] }
                }
                let out = vit.forward(parameters: parameters.pointer, input: input.pointer + b * n, batch: 1, gates: nil)
                let label = "\(arch), example \(b) of \(B)"
                if let d = Bits.firstDifference(Array(logits[(b * K)..<((b + 1) * K)]), Array(UnsafeBufferPointer(start: out, count: K))) {
                    XCTFail("\(label), logits: \(d)")
                }
                for (l, width) in layers.enumerated() {
                    let source = Array(UnsafeBufferPointer(start: vit.patternSource(layer: l), count: width))
                    if let d = Bits.firstDifference(Array(hidden[l][(b * width)..<((b + 1) * width)]), source) {
                        XCTFail("\(label), hidden units of layer \(l): \(d)")
                    }
                    if let d = Bits.firstDifference(Array(tapped[l][(b * width)..<((b + 1) * width)]), alone[l]) {
                        XCTFail("\(label), tapped pre-activations of layer \(l): \(d)")
                    }
                }
            }
            vit.preActivationTap = nil
        }
    }

    /// A ViT of `arch` with initialised parameters moved off their initial values (biases and
    /// LayerNorm parameters away from 0 and 1, so that every term matters) and `batch` inputs.
    static func network(_ arch: String, batch B: Int, keep: PinnedBuffers, rng: inout Xoshiro256) throws
        -> (VisionTransformer, ViTSpec, parameters: FloatBuffer, input: FloatBuffer) {
        guard case .vit(let spec) = try Architecture(parsing: arch) else { throw CocoaError(.featureUnsupported) }
        let vit = VisionTransformer(spec: spec)
        let parameters = keep.buffer(count: vit.parameterCount)
        vit.initialize(parameters: parameters.pointer, rng: &rng)
        for i in 0..<vit.parameterCount { parameters[i] += Float(rng.nextNormal() * 0.05) }
        let n = spec.input.channels * spec.input.height * spec.input.width
        return (vit, spec, parameters, keep.buffer(Bits.values(B * n, &rng)))
    }

    /// A tracked ViT trial (probe in two chunks, the null model's perturbed passes, validation,
    /// SGD and Adam, frozen gates) with packed-weight reuse gives the curve and parameters of the
    /// same trial packing at every pass, and packs less.
    func testReuseGivesTheBitsOfPackingEveryPass() throws {
        try PackedWeightReuseTests.assertReuseGivesTheBitsOfPackingEveryPass(arch: "vit:1x28x28-p7-d16-h2-l2-10", seed: 5,
                                                                             as: VisionTransformer.self)
    }
}
