import Foundation
import XCTest
@testable import RegimeCore

/// The ViT kernels (LayerNorm, attention, the fast exp) against their naive Double references.
/// Forward tolerances are normwise `1e-5 * max|b|` (float32 sums of at most a few hundred terms:
/// error ~1e-6 of the largest; the fast exp's error is ~2 ulp).
final class TransformerKernelTests: XCTestCase {
    typealias Kit = EngineTestKit
    /// Keeps the test's input buffers alive while kernels use their raw pointers.
    let keep = PinnedBuffers()

    func testLayerNormForwardMatchesNaive() {
        var rng = Xoshiro256(seed: 15, stream: 1)
        for N in [1, 4, 16, 37, 64] {
            let rows = 5
            let x = Kit.normals(rows * N, &rng, std: 3).map { $0 + 2 }
            let gamma = Kit.normals(N, &rng), beta = Kit.normals(N, &rng)
            let y = keep.buffer(count: rows * N), mean = keep.buffer(count: rows), rstd = keep.buffer(count: rows)
            layerNormForward(y.pointer, mean: mean.pointer, rstd: rstd.pointer, keep.pointer(x), gamma: keep.pointer(gamma),
                             beta: keep.pointer(beta), rows: rows, width: N)
            let expected = layerNormNaive(x.map(Double.init), gamma: gamma.map(Double.init), beta: beta.map(Double.init), rows: rows, width: N)
            Kit.assertClose(y.array, expected, relative: 1e-5, absolute: 1e-5, "LayerNorm width \(N)")
        }
    }

    func testAttentionForwardMatchesNaive() {
        var rng = Xoshiro256(seed: 16, stream: 1)
        for (T, D, H) in [(1, 4, 2), (5, 6, 3), (19, 32, 2), (16, 16, 1), (33, 8, 4)] {
            let B = 2
            let qkv = Kit.normals(B * T * 3 * D, &rng, std: 1.5)
            let shape = AttentionShape(tokens: T, dim: D, heads: H)
            let out = keep.buffer(count: B * T * D), probs = keep.buffer(count: B * shape.probsPerExample)
            let scratch = keep.buffer(count: shape.scratchCount)
            attentionForward(out: out.pointer, probs: probs.pointer, qkv: keep.pointer(qkv), batch: B, shape: shape,
                             scratch: scratch.pointer)
            let expected = attentionNaive(qkv: qkv.map(Double.init), batch: B, tokens: T, dim: D, heads: H)
            Kit.assertClose(out.array, expected, relative: 1e-5, scale: .normwise, "attention T=\(T) D=\(D) H=\(H)")
            // probs holds P^T: every column t < T (a query's probabilities over the keys) sums to 1.
            let Tp = shape.paddedTokens
            for head in 0..<(B * H) {
                let p = probs.pointer + head * T * Tp
                for t in 0..<T {
                    let sum = (0..<T).reduce(0.0) { $0 + Double(p[$1 * Tp + t]) }
                    XCTAssertEqual(sum, 1, accuracy: 1e-5)
                }
                XCTAssertTrue((0..<T).allSatisfy { s in (T..<Tp).allSatisfy { p[s * Tp + $0] == 0 } }, "padding columns are 0")
            }
        }
    }

    func testFastExpIsAccurate() {
        var worst = 0.0
        var x: Float = -87
        while x < 88 {
            let lanes = SIMD16<Float>((0..<16).map { x + Float($0) * 0.0137 })
            let e = fastExp(lanes)
            for i in 0..<16 {
                let exact = exp(Double(lanes[i]))
                worst = max(worst, abs(Double(e[i]) - exact) / exact)
            }
            x += 0.219
        }
        XCTAssertLessThan(worst, 3e-7, "fastExp max relative error")
        let tails = fastExp(SIMD16<Float>(repeating: -1000))
        XCTAssertTrue(tails[0] >= 0 && tails[0] < 1e-37)
        var row: [Float] = [1000, 0, -3] + [Float](repeating: .nan, count: 13)
        row.withUnsafeMutableBufferPointer { softmaxPadded($0.baseAddress!, 3, padded: 16) }
        XCTAssertEqual(row[0], 1, accuracy: 1e-7)
        XCTAssertEqual(Array(row[3...]), [Float](repeating: 0, count: 13))
        XCTAssertTrue(row.allSatisfy { $0.isFinite })
    }
}
