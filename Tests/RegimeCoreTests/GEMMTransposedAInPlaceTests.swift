import Foundation
import XCTest
@testable import RegimeCore

/// `gemmBlocked` reads a transposed A in place when C has at most 64 columns
/// (`gemmKernel12x32Columns`, edge tiles packing their sliver): the result must be the bits of the
/// same product from A packed once (`GEMMPackedA`, which goes through `gemmPackA` and the packed
/// kernels). Shapes: full and edge row slivers (m % 12), one and two column slivers and partial ones
/// (n <= 64), one depth block and several (k > 512), B row-major, transposed and packed, beta 0 and not.
final class GEMMTransposedAInPlaceTests: XCTestCase {
    let keep = PinnedBuffers()

    func testTransposedAInPlaceEqualsPackedABitForBit() {
        var rng = Xoshiro256(seed: 97, stream: 3)
        var count = 0
        for (m, n, k) in [(12, 64, 5), (37, 64, 40), (256, 64, 512), (24, 49, 600), (13, 32, 17), (100, 16, 9), (5, 64, 33),
                          (48, 1, 70), (36, 63, 1030)] {
            for transB in [false, true] {
                count += 1
                let (alpha, beta): (Float, Float) = [(1, 0), (1, 1), (-0.75, 0.5)][count % 3]
                let lda = m + 3, ldb = (transB ? k : n) + 2, ldc = n + 1
                let a = keep.pointer(CNNKernelBitTests.values(k * lda, &rng))        // A: k x m (op(A) = A^T)
                let b = keep.pointer(CNNKernelBitTests.values((transB ? n : k) * ldb, &rng))
                let c0 = CNNKernelBitTests.values(m * ldc, &rng)
                let inPlace = keep.buffer(c0), packed = keep.buffer(c0)
                sgemm(transA: true, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                      c: inPlace.pointer, ldc: ldc)
                let packedA = GEMMPackedA(transA: true, m: m, k: k, a: a, lda: lda)
                sgemm(packedA: packedA, transB: transB, n: n, b: b, ldb: ldb, alpha: alpha, beta: beta, c: packed.pointer, ldc: ldc)
                let label = "m=\(m) n=\(n) k=\(k) transB=\(transB)"
                if let d = CNNKernelBitTests.firstDifference(inPlace.array, packed.array) { XCTFail("A^T in place, \(label): \(d)") }
                // B packed as well (the ViT's weight gradients).
                let packedB = GEMMPackedB(k: k, n: n)
                packedB.pack(transB: transB, b: b, ldb: ldb)
                let both = keep.buffer(c0)
                sgemm(transA: true, m: m, a: a, lda: lda, packedB: packedB, alpha: alpha, beta: beta, c: both.pointer, ldc: ldc)
                if let d = CNNKernelBitTests.firstDifference(both.array, packed.array) {
                    XCTFail("A^T in place, B packed, \(label): \(d)")
                }
            }
        }
    }
}
