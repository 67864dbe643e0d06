import Foundation
import XCTest
@testable import RegimeCore

/// `sgemmWithEpilogue` (the epilogue on each 12 x 32 tile as the kernel stores it) against `sgemm`
/// followed by the separate passes it replaces (`addBias`, `reluForward`, `addBiasRelu`,
/// `reluBackward`, `biasGradient`), bit for bit. Shapes: the ViT's (k = D = 64, n = 4D = 256, m of a
/// forward group and of a batch, with and without an m % 12 edge), m below one sliver, k at the
/// KC limit, and shapes that take the unfused path (k > KC, n not a multiple of 32, n wider than a
/// panel); B in place (with ldb > n) and packed; values with exact zeros of both signs (the ReLU's
/// and the mask's ties).
final class GEMMEpilogueTests: XCTestCase {
    typealias Bits = CNNKernelBitTests
    let keep = PinnedBuffers()

    func testEpiloguesEqualSeparatePassesBitForBit() {
        var rng = Xoshiro256(seed: 81, stream: 1)
        let shapes: [(m: Int, n: Int, k: Int)] = [(192, 256, 64), (2048, 256, 64), (128, 256, 64), (7, 64, 16), (25, 32, 512),
                                                  (30, 64, 600), (26, 40, 20), (13, 2080, 8)]
        for (m, n, k) in shapes {
            for packed in [false, true] {
                let lda = k + 3, ldb = n + 5, ldc = n + 2
                let a = keep.pointer(Bits.values(m * lda, &rng))
                let b = keep.pointer(Bits.values(k * ldb, &rng))
                let bias = keep.pointer(Bits.values(n, &rng)), mask = keep.pointer(Bits.values(m * n, &rng))
                let packedB: GEMMPackedB? = packed ? GEMMPackedB(k: k, n: n) : nil
                packedB?.pack(transB: false, b: b, ldb: ldb)
                let label = "m=\(m) n=\(n) k=\(k)\(packed ? " packed" : "")"
                /// sgemm into a fresh C (NaN where the product does not write).
                func product() -> FloatBuffer {
                    let c = keep.buffer([Float](repeating: .nan, count: m * ldc))
                    sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb, beta: 0,
                          c: c.pointer, ldc: ldc)
                    return c
                }
                func fused(_ epilogue: GEMMEpilogue) -> FloatBuffer {
                    let c = keep.buffer([Float](repeating: .nan, count: m * ldc))
                    if let packedB {
                        sgemmWithEpilogue(m: m, n: n, k: k, a: a, lda: lda, packedB: packedB, c: c.pointer, ldc: ldc,
                                          epilogue: epilogue)
                    } else {
                        sgemmWithEpilogue(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c.pointer, ldc: ldc,
                                          epilogue: epilogue)
                    }
                    return c
                }
                /// The rows of C without the ldc padding.
                func rows(_ c: FloatBuffer) -> [Float] { (0..<m).flatMap { i in (0..<n).map { c[i * ldc + $0] } } }
                // Bias, then optionally the ReLU.
                for relu in [false, true] {
                    let reference = product()
                    for i in 0..<m {
                        if relu { addBiasRelu(reference.pointer + i * ldc, bias, rows: 1, columns: n) } else {
                            addBias(reference.pointer + i * ldc, bias, rows: 1, columns: n)
                        }
                    }
                    if let d = Bits.firstDifference(rows(fused(.bias(bias, relu: relu))), rows(reference)) {
                        XCTFail("bias\(relu ? " + ReLU" : "") \(label): \(d)")
                    }
                }
                // The ReLU backward's mask, then the bias gradient (dbias starts as garbage: overwritten).
                let reference = product(), dbiasReference = keep.buffer(count: n)
                for i in 0..<m { reluBackward(reference.pointer + i * ldc, reference.pointer + i * ldc, preActivation: mask + i * n, count: n) }
                let referenceRows = rows(reference)
                biasGradient(dbiasReference.pointer, keep.pointer(referenceRows), rows: m, columns: n)
                let dbias = keep.buffer([Float](repeating: .nan, count: n))
                let c = fused(.reluMaskBiasGradient(mask: mask, ldm: n, dbias: dbias.pointer))
                if let d = Bits.firstDifference(rows(c), referenceRows) { XCTFail("ReLU mask \(label): \(d)") }
                if let d = Bits.firstDifference(dbias.array, dbiasReference.array) { XCTFail("bias gradient \(label): \(d)") }
            }
        }
    }
}
