import Foundation
import XCTest
@testable import RegimeCore

/// `gemmPackA` against its documented layout, float for float (a pack only moves values, so any
/// difference is a bug, never rounding): sliver s holds rows 12s ..< 12s + 12 of op(A)'s block as
/// dst[s * kc * 12 + p * 12 + i], rows past mc zero. `gemmBlocked` packs single edge slivers of a
/// transposed A this way (at row offsets inside A) when it reads the full tiles in place; depths kc
/// and row counts mc cover whole slivers and partial last ones.
final class GEMMPackALayoutTests: XCTestCase {
    func testPackAMatchesLayoutBitForBit() {
        var rng = Xoshiro256(seed: 91, stream: 2)
        let (row0, col0) = (3, 5)
        for transA in [true, false] {
            for kc in [1, 2, 3, 4, 5, 7, 8, 9, 13, 64] {
                for mc in [1, 4, 11, 12, 13, 24, 25, 40] {
                    // op(A) is (row0 + mc) x (col0 + kc); A stores it transposed when transA.
                    let (rows, cols) = (row0 + mc, col0 + kc)
                    let lda = (transA ? rows : cols) + 2
                    let a = CNNKernelBitTests.values((transA ? cols : rows) * lda, &rng)
                    func opA(_ i: Int, _ p: Int) -> Float { transA ? a[p * lda + i] : a[i * lda + p] }
                    let slivers = (mc + gemmMR - 1) / gemmMR
                    var packed = [Float](repeating: .nan, count: slivers * kc * gemmMR)
                    a.withUnsafeBufferPointer { src in
                        packed.withUnsafeMutableBufferPointer { dst in
                            gemmPackA(transA: transA, a: src.baseAddress!, lda: lda, row0: row0, col0: col0, mc: mc, kc: kc,
                                      dst: dst.baseAddress!)
                        }
                    }
                    var expected = [Float](repeating: 0, count: packed.count)
                    for s in 0..<slivers {
                        for p in 0..<kc {
                            for i in 0..<gemmMR where s * gemmMR + i < mc {
                                expected[s * kc * gemmMR + p * gemmMR + i] = opA(row0 + s * gemmMR + i, col0 + p)
                            }
                        }
                    }
                    if let d = CNNKernelBitTests.firstDifference(packed, expected) {
                        XCTFail("gemmPackA transA=\(transA) kc=\(kc) mc=\(mc): \(d)")
                    }
                }
            }
        }
    }
}
