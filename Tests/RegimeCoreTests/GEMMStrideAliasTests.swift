import Foundation
import XCTest
@testable import RegimeCore

/// A row-major B whose rows are a multiple of 4 KiB apart (`gemmStrideAliases`) is packed, where
/// other row-major Bs are read in place: the result must be the bits of the same product from B
/// packed once (`GEMMPackedB`), and of the same B stored at a stride that does not alias. Shapes:
/// full and edge slivers in both directions, one depth block and several, beta 0 and not.
final class GEMMStrideAliasTests: XCTestCase {
    let keep = PinnedBuffers()

    func testAliasingBStrideGivesTheBitsOfTheOtherPaths() {
        var rng = Xoshiro256(seed: 131, stream: 5)
        XCTAssertTrue(gemmStrideAliases(1024) && gemmStrideAliases(2048))
        XCTAssertFalse(gemmStrideAliases(1000) || gemmStrideAliases(512) || gemmStrideAliases(784))
        var count = 0
        for (m, n, k) in [(24, 64, 20), (37, 100, 300), (12, 1024, 7), (50, 33, 600), (5, 40, 3)] {
            count += 1
            let (alpha, beta): (Float, Float) = [(1, 0), (1, 1), (-0.75, 0.5)][count % 3]
            let lda = k + 1, ldc = n + 3
            let a = keep.pointer(CNNKernelBitTests.values(m * lda, &rng))
            let values = CNNKernelBitTests.values(k * n, &rng)
            // The same k x n values at an aliasing stride (1024 or 2048) and at one that does not alias.
            let (aliasing, plain) = (n <= 1024 ? 1024 : 2048, n + 5)
            var bAliasing = [Float](repeating: .nan, count: k * aliasing), bPlain = [Float](repeating: .nan, count: k * plain)
            for p in 0..<k {
                for j in 0..<n {
                    bAliasing[p * aliasing + j] = values[p * n + j]
                    bPlain[p * plain + j] = values[p * n + j]
                }
            }
            let c0 = CNNKernelBitTests.values(m * ldc, &rng)
            let packedPath = keep.buffer(c0), inPlace = keep.buffer(c0), packedOnce = keep.buffer(c0)
            sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: keep.pointer(bAliasing),
                  ldb: aliasing, beta: beta, c: packedPath.pointer, ldc: ldc)
            sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: keep.pointer(bPlain),
                  ldb: plain, beta: beta, c: inPlace.pointer, ldc: ldc)
            let packedB = GEMMPackedB(k: k, n: n)
            packedB.pack(transB: false, b: keep.pointer(values), ldb: n)
            sgemm(m: m, a: a, lda: lda, packedB: packedB, alpha: alpha, beta: beta, c: packedOnce.pointer, ldc: ldc)
            let label = "m=\(m) n=\(n) k=\(k)"
            if let d = CNNKernelBitTests.firstDifference(packedPath.array, inPlace.array) {
                XCTFail("B at stride \(aliasing) against \(plain), \(label): \(d)")
            }
            if let d = CNNKernelBitTests.firstDifference(packedPath.array, packedOnce.array) {
                XCTFail("B at stride \(aliasing) against B packed once, \(label): \(d)")
            }
        }
    }
}
