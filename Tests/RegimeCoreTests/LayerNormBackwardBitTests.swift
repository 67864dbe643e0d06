import Foundation
import XCTest
@testable import RegimeCore

/// `layerNormBackward`'s 16-lane kernel (N a multiple of 16) gives the bits of the row-wise
/// reference `layerNormBackwardRows`: dx overwritten and accumulated, dgamma and dbeta fresh and
/// continuing, on rows with zeros, negative zeros and a wide range of values.
final class LayerNormBackwardBitTests: XCTestCase {
    typealias Bits = CNNKernelBitTests
    let keep = PinnedBuffers()

    func testSixteenLaneKernelGivesTheBitsOfTheRowwiseReference() {
        var rng = Xoshiro256(seed: 29, stream: 2)
        for N in [16, 48, 64, 128] {
            let rows = 37
            let x = keep.buffer(Bits.values(rows * N, &rng).map { $0 * 3 + 0.5 })
            let dy = keep.buffer(Bits.values(rows * N, &rng))
            let gamma = keep.buffer(Bits.values(N, &rng).map { 1 + 0.3 * $0 })
            let beta = keep.buffer(Bits.values(N, &rng))
            let (y, mean, rstd) = (keep.buffer(count: rows * N), keep.buffer(count: rows), keep.buffer(count: rows))
            layerNormForward(y.pointer, mean: mean.pointer, rstd: rstd.pointer, x.pointer, gamma: gamma.pointer,
                             beta: beta.pointer, rows: rows, width: N)
            let start = Bits.values(rows * N, &rng), startGamma = Bits.values(N, &rng), startBeta = Bits.values(N, &rng)
            for accumulate in [false, true] {
                for continuing in [false, true] {
                    func run(fast: Bool) -> (dx: [Float], dgamma: [Float], dbeta: [Float]) {
                        let dx = keep.buffer(start), dgamma = keep.buffer(startGamma), dbeta = keep.buffer(startBeta)
                        let scratch = keep.buffer(count: N)
                        if fast {
                            layerNormBackward(dx: dx.pointer, accumulate: accumulate, dgamma: dgamma.pointer, dbeta: dbeta.pointer,
                                              continuing: continuing, dy: dy.pointer, x: x.pointer, mean: mean.pointer,
                                              rstd: rstd.pointer, gamma: gamma.pointer, rows: rows, width: N, scratch: scratch.pointer)
                        } else {
                            if !continuing {
                                dgamma.pointer.update(repeating: 0, count: N)
                                dbeta.pointer.update(repeating: 0, count: N)
                            }
                            layerNormBackwardRows(dx: dx.pointer, accumulate: accumulate, dgamma: dgamma.pointer,
                                                  dbeta: dbeta.pointer, dy: dy.pointer, x: x.pointer, mean: mean.pointer,
                                                  rstd: rstd.pointer, gamma: gamma.pointer, rows: rows, width: N,
                                                  scratch: scratch.pointer)
                        }
                        return (Array(UnsafeBufferPointer(start: dx.pointer, count: rows * N)),
                                Array(UnsafeBufferPointer(start: dgamma.pointer, count: N)),
                                Array(UnsafeBufferPointer(start: dbeta.pointer, count: N)))
                    }
                    let (fast, reference) = (run(fast: true), run(fast: false))
                    let label = "N \(N), accumulate \(accumulate), continuing \(continuing)"
                    if let d = Bits.firstDifference(fast.dx, reference.dx) { XCTFail("\(label), dx: \(d)") }
                    if let d = Bits.firstDifference(fast.dgamma, reference.dgamma) { XCTFail("\(label), dgamma: \(d)") }
                    if let d = Bits.firstDifference(fast.dbeta, reference.dbeta) { XCTFail("\(label), dbeta: \(d)") }
                }
            }
        }
    }
}
