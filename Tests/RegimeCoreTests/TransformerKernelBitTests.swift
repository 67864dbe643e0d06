import Foundation
import XCTest
@testable import RegimeCore

/// The ViT's fast kernels against the reference kernels kept beside them, bit for bit (a trial's
/// curves must not change when a kernel gets faster): the transposed attention against the
/// row-wise one. Shapes cover T below, at and above 16 (padding lanes, several column chunks, more
/// keys than lanes), one head and several, and head widths that are not multiples of 16; values
/// are Gaussians with exact zeros of both signs mixed in (`CNNKernelBitTests.values`).
final class TransformerKernelBitTests: XCTestCase {
    typealias Bits = CNNKernelBitTests
    let keep = PinnedBuffers()

    func testAttentionEqualsRowwiseBitForBit() {
        var rng = Xoshiro256(seed: 61, stream: 1)
        for (T, D, H) in [(16, 64, 4), (1, 4, 2), (5, 6, 3), (19, 32, 2), (16, 16, 1), (33, 8, 4), (49, 64, 4), (50, 20, 5)] {
            let B = 3
            let shape = AttentionShape(tokens: T, dim: D, heads: H)
            let Tp = shape.paddedTokens
            // Scores up to a few units apart, as in training, and some rows with a dominant score.
            let qkv = Bits.values(B * T * 3 * D, &rng).map { $0 * 1.5 }
            let dout = Bits.values(B * T * D, &rng)
            let scratch = keep.buffer(count: shape.scratchCount)
            let out = keep.buffer(count: B * T * D), probs = keep.buffer(count: B * shape.probsPerExample)
            let outRef = keep.buffer(count: B * T * D), probsRef = keep.buffer(count: B * shape.probsPerExample)
            attentionForward(out: out.pointer, probs: probs.pointer, qkv: keep.pointer(qkv), batch: B, shape: shape,
                             scratch: scratch.pointer)
            attentionForwardRowwise(out: outRef.pointer, probs: probsRef.pointer, qkv: keep.pointer(qkv), batch: B,
                                    shape: shape, scratch: scratch.pointer)
            let label = "T=\(T) D=\(D) H=\(H)"
            if let d = Bits.firstDifference(out.array, outRef.array) { XCTFail("attention forward \(label): \(d)") }
            // probs holds P^T (0 in the padding columns), the row-wise reference P.
            var transposed = [Float](repeating: 0, count: B * shape.probsPerExample)
            for head in 0..<(B * H) {
                for t in 0..<T {
                    for s in 0..<T { transposed[(head * T + s) * Tp + t] = probsRef[(head * T + t) * Tp + s] }
                }
            }
            if let d = Bits.firstDifference(probs.array, transposed) { XCTFail("attention probs \(label): \(d)") }

            let dqkv = keep.buffer(count: B * T * 3 * D), dqkvRef = keep.buffer(count: B * T * 3 * D)
            attentionBackward(dqkv: dqkv.pointer, dout: keep.pointer(dout), qkv: keep.pointer(qkv), probs: probs.pointer,
                              batch: B, shape: shape, scratch: scratch.pointer)
            attentionBackwardRowwise(dqkv: dqkvRef.pointer, dout: keep.pointer(dout), qkv: keep.pointer(qkv),
                                     probs: probsRef.pointer, batch: B, shape: shape, scratch: scratch.pointer)
            if let d = Bits.firstDifference(dqkv.array, dqkvRef.array) { XCTFail("attention backward \(label): \(d)") }
        }
    }
}
