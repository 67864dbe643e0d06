import Foundation
import XCTest
@testable import RegimeCore

/// The ViT's fast kernels against the reference kernels kept beside them, bit for bit (a trial's
/// curves must not change when a kernel gets faster): the transposed attention against the
/// row-wise one, the fused residual + LayerNorm against the passes it replaces, LayerNorm's
/// 16-row blocks against its row-by-row reference. Shapes cover T below, at and above 16 (padding lanes, several column chunks, more
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

    func testResidualLayerNormEqualsSeparatePassesBitForBit() {
        var rng = Xoshiro256(seed: 62, stream: 1)
        for N in [64, 1, 16, 37, 128] {
            let rows = 7
            let product = Bits.values(rows * N, &rng), residual = Bits.values(rows * N, &rng).map { $0 * 3 + 1 }
            let bias = Bits.values(N, &rng), gamma = Bits.values(N, &rng), beta = Bits.values(N, &rng)
            // The passes it replaces: stream = residual + product (sgemm's beta = 1 store), + bias, LayerNorm.
            let stream = keep.buffer(zip(residual, product).map { $0 + $1 })
            addBias(stream.pointer, keep.pointer(bias), rows: rows, columns: N)
            let y = keep.buffer(count: rows * N), mean = keep.buffer(count: rows), rstd = keep.buffer(count: rows)
            layerNormForward(y.pointer, mean: mean.pointer, rstd: rstd.pointer, stream.pointer, gamma: keep.pointer(gamma),
                             beta: keep.pointer(beta), rows: rows, width: N)
            let fused = keep.buffer(product)
            let yFused = keep.buffer(count: rows * N), meanFused = keep.buffer(count: rows), rstdFused = keep.buffer(count: rows)
            residualLayerNormForward(yFused.pointer, mean: meanFused.pointer, rstd: rstdFused.pointer, stream: fused.pointer,
                                     residual: keep.pointer(residual), bias: keep.pointer(bias), gamma: keep.pointer(gamma),
                                     beta: keep.pointer(beta), rows: rows, width: N)
            for (name, a, b) in [("stream", fused, stream), ("y", yFused, y), ("mean", meanFused, mean), ("rstd", rstdFused, rstd)] {
                if let d = Bits.firstDifference(a.array, b.array) { XCTFail("residual LayerNorm width \(N), \(name): \(d)") }
            }
        }
    }

    func testLayerNormBlocksEqualRowByRowBitForBit() {
        var rng = Xoshiro256(seed: 63, stream: 1)
        for (N, rows) in [(64, 16), (64, 37), (16, 33), (128, 17), (48, 5)] {
            let x = Bits.values(rows * N, &rng).map { $0 * 2 + 0.5 }
            let gamma = Bits.values(N, &rng), beta = Bits.values(N, &rng)
            let y = keep.buffer(count: rows * N), mean = keep.buffer(count: rows), rstd = keep.buffer(count: rows)
            layerNormForward(y.pointer, mean: mean.pointer, rstd: rstd.pointer, keep.pointer(x), gamma: keep.pointer(gamma),
                             beta: keep.pointer(beta), rows: rows, width: N)
            let yRef = keep.buffer(count: rows * N), meanRef = keep.buffer(count: rows), rstdRef = keep.buffer(count: rows)
            for r in 0..<rows {
                (meanRef[r], rstdRef[r]) = layerNormRow(yRef.pointer + r * N, keep.pointer(Array(x[(r * N)..<((r + 1) * N)])),
                                                        gamma: keep.pointer(gamma), beta: keep.pointer(beta), width: N,
                                                        inverseN: 1 / Float(N))
            }
            for (name, a, b) in [("y", y, yRef), ("mean", mean, meanRef), ("rstd", rstd, rstdRef)] {
                if let d = Bits.firstDifference(a.array, b.array) { XCTFail("LayerNorm \(rows) x \(N), \(name): \(d)") }
            }
        }
    }

    func testTranspose16x16() {
        let values = (0..<256).map { Float($0) }
        withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 16) { tile in
            for r in 0..<16 { tile[r] = SIMD16(values[(r * 16)..<(r * 16 + 16)]) }
            transpose16x16(tile.baseAddress!)
            for r in 0..<16 {
                for c in 0..<16 where tile[r][c] != Float(c * 16 + r) {
                    XCTFail("transposed[\(r)][\(c)] = \(tile[r][c]), expected \(c * 16 + r)")
                    return
                }
            }
        }
    }
}
