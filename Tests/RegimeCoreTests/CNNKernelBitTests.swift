import Foundation
import XCTest
@testable import RegimeCore

/// The CNN's fast kernels against the reference kernels kept beside them, bit for bit: a trial's
/// curves must not change when a kernel gets faster. Random shapes, edge sizes included (one
/// output position, widths that are not multiples of the 14-position tile, channel counts around 16
/// and 32, a patch at the GEMM's KC limit); values are Gaussians with exact zeros of both signs
/// mixed in (the ReLU and max-pool ties).
final class CNNKernelBitTests: XCTestCase {
    typealias Kit = EngineTestKit
    let keep = PinnedBuffers()

    /// Gaussians, about one in eight replaced by +0 or -0.
    static func values(_ count: Int, _ rng: inout Xoshiro256) -> [Float] {
        Kit.normals(count, &rng).map { v in
            switch rng.next() % 16 { case 0: 0; case 1: -0.0; default: v }
        }
    }

    /// The index and both values of the first element whose bits differ, or nil.
    static func firstDifference(_ a: [Float], _ b: [Float]) -> String? {
        guard a.count == b.count else { return "counts \(a.count) vs \(b.count)" }
        guard let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) else { return nil }
        return "element \(i) of \(a.count): \(a[i]) vs \(b[i])"
    }

    // MARK: Implicit forward convolution

    /// Stride-1 geometries (pad <= K - 1) for the implicit paths: the tracked CNN's second layer
    /// and the bit check's, valid and wide-pad neighbours, one output position, rows shorter than
    /// the 14-position tile and not a multiple of it, channel counts around 16 and 32, a patch at
    /// the GEMM's KC limit, then random ones.
    static func strideOneGeometries(_ rng: inout Xoshiro256) -> [ConvGeometry] {
        var geometries: [ConvGeometry] = [
            ConvGeometry(inChannels: 16, inHeight: 14, inWidth: 14, outChannels: 32, kernel: 3, stride: 1, pad: 1),
            ConvGeometry(inChannels: 8, inHeight: 14, inWidth: 14, outChannels: 16, kernel: 3, stride: 1, pad: 1),
            ConvGeometry(inChannels: 16, inHeight: 14, inWidth: 14, outChannels: 32, kernel: 3, stride: 1, pad: 0),
            ConvGeometry(inChannels: 16, inHeight: 4, inWidth: 30, outChannels: 32, kernel: 3, stride: 1, pad: 2),
            ConvGeometry(inChannels: 17, inHeight: 5, inWidth: 13, outChannels: 33, kernel: 3, stride: 1, pad: 1),
            ConvGeometry(inChannels: 4, inHeight: 3, inWidth: 3, outChannels: 5, kernel: 3, stride: 1, pad: 0),
            ConvGeometry(inChannels: 20, inHeight: 2, inWidth: 5, outChannels: 7, kernel: 1, stride: 1, pad: 0),
            ConvGeometry(inChannels: 56, inHeight: 4, inWidth: 6, outChannels: 16, kernel: 3, stride: 1, pad: 1),
            ConvGeometry(inChannels: 2, inHeight: 9, inWidth: 25, outChannels: 70, kernel: 7, stride: 1, pad: 3),
            ConvGeometry(inChannels: 3, inHeight: 9, inWidth: 11, outChannels: 40, kernel: 5, stride: 1, pad: 2),
            ConvGeometry(inChannels: 16, inHeight: 13, inWidth: 13, outChannels: 32, kernel: 3, stride: 1, pad: 0),
            ConvGeometry(inChannels: 32, inHeight: 6, inWidth: 20, outChannels: 9, kernel: 3, stride: 1, pad: 1),
            ConvGeometry(inChannels: 16, inHeight: 3, inWidth: 5, outChannels: 40, kernel: 3, stride: 1, pad: 2),
        ]
        for _ in 0..<12 {
            let k = [1, 3, 5][Int(rng.next() % 3)]
            let c = 1 + Int(rng.next() % UInt64(min(40, gemmKC / (k * k))))
            let h = k + Int(rng.next() % 12), w = k + Int(rng.next() % 30)
            geometries.append(ConvGeometry(inChannels: c, inHeight: h, inWidth: w, outChannels: 1 + Int(rng.next() % 70),
                                           kernel: k, stride: 1, pad: Int(rng.next() % UInt64(k / 2 + 1))))
        }
        return geometries
    }

    func testImplicitForwardEqualsIm2colForwardBitForBit() {
        var rng = Xoshiro256(seed: 31, stream: 1)
        let geometries = Self.strideOneGeometries(&rng)
        for g in geometries {
            XCTAssertTrue(g.implicitForwardApplies, "\(g)")
            let B = 1 + Int(rng.next() % 3)
            let x = keep.pointer(Self.values(B * g.inputSize, &rng)), w = keep.pointer(Self.values(g.weightCount, &rng))
            let b = keep.pointer(Self.values(g.outChannels, &rng))
            let scratch = keep.buffer(count: g.scratchCount(chunk: g.chunkExamples(batch: B)))
            for relu in [false, true] {
                let fast = keep.buffer(count: B * g.outputSize), reference = keep.buffer(count: B * g.outputSize)
                fast.buffer.update(repeating: .nan)
                conv2dImplicitForward(output: fast.pointer, input: x, weights: w, bias: b, batch: B, geometry: g, relu: relu,
                                      scratch: scratch.pointer)
                conv2dIm2colForward(output: reference.pointer, input: x, weights: w, bias: b, batch: B, geometry: g, relu: relu,
                                    cols: scratch.pointer)
                XCTAssertNil(Self.firstDifference(fast.array, reference.array), "\(g) B \(B) relu \(relu)")
            }
        }
        // Stride 2 stays on the im2col path.
        XCTAssertFalse(ConvGeometry(inChannels: 16, inHeight: 8, inWidth: 8, outChannels: 32, kernel: 3, stride: 2, pad: 1)
            .implicitForwardApplies)
    }

    /// The implicit input gradient against dcols = dZ W (`sgemm`) and `col2imAdd` into a zeroed dX,
    /// bit for bit; and `conv2dBackward`, whose input gradient takes the implicit path, against
    /// the same reference with finite weights and with an infinite weight (the im2col path then).
    func testImplicitInputGradientEqualsCol2imBitForBit() {
        var rng = Xoshiro256(seed: 37, stream: 1)
        let geometries = Self.strideOneGeometries(&rng)
        for g in geometries {
            XCTAssertTrue(g.implicitInputGradientApplies, "\(g)")
            let B = 1 + Int(rng.next() % 3)
            let x = keep.pointer(Self.values(B * g.inputSize, &rng)), dz = keep.pointer(Self.values(B * g.outputSize, &rng))
            let w = keep.pointer(Self.values(g.weightCount, &rng))
            let scratch = keep.buffer(count: g.scratchCount(chunk: B)), scratch2 = keep.buffer(count: g.scratchCount(chunk: B))
            let dcols = keep.buffer(count: B * g.positions * g.patchSize)
            // The reference: dcols = dZ W, scattered into a zeroed dX.
            func reference() -> [Float] {
                let dx = keep.buffer(count: B * g.inputSize)
                sgemm(transA: false, transB: false, m: B * g.positions, n: g.patchSize, k: g.outChannels, alpha: 1,
                      a: dz, lda: g.outChannels, b: w, ldb: g.patchSize, beta: 0, c: dcols.pointer, ldc: g.patchSize)
                col2imAdd(dx.pointer, dcols.pointer, g, first: 0, count: B)
                return dx.array
            }
            let fast = keep.buffer(count: B * g.inputSize)
            fast.buffer.update(repeating: .nan)
            conv2dImplicitInputGradient(dinput: fast.pointer, doutput: dz, weights: w, batch: B, geometry: g,
                                        scratch: scratch.pointer)
            XCTAssertNil(Self.firstDifference(fast.array, reference()), "\(g) B \(B)")
            for infinite in [false, true] {
                if infinite { w[Int(rng.next() % UInt64(g.weightCount))] = .infinity }
                let dw = keep.buffer(count: g.weightCount), db = keep.buffer(count: g.outChannels)
                fast.buffer.update(repeating: .nan)
                conv2dBackward(doutput: dz, input: x, weights: w, dweights: dw.pointer, dbias: db.pointer, dinput: fast.pointer,
                               batch: B, geometry: g, cols: scratch.pointer, dcols: scratch2.pointer)
                XCTAssertEqual(allFinite(w, count: g.weightCount), !infinite)
                XCTAssertNil(Self.firstDifference(fast.array, reference()), "conv2dBackward \(g) B \(B) infinite weight \(infinite)")
            }
        }
    }

    // MARK: Implicit weight gradient

    /// The implicit weight gradient against im2col + `sgemm` (`conv2dIm2colWeightGradient`), bit
    /// for bit, overwriting and accumulating: the tracked CNN's second layer in its training
    /// chunking (5-example blocks in 2-example chunks) and in chunks deeper than the GEMM's KC (two
    /// depth blocks, the second added to the first), strides 1 and 2, pads 0 to 2, 32 input
    /// channels, output channels 8 to 40, rows that end inside a depth block; and `conv2dBackward`,
    /// whose weight gradient takes the implicit path, against the same reference.
    func testImplicitWeightGradientEqualsIm2colBitForBit() {
        var rng = Xoshiro256(seed: 38, stream: 1)
        let cases: [(ConvGeometry, batch: Int, chunk: Int)] = [
            (ConvGeometry(inChannels: 16, inHeight: 14, inWidth: 14, outChannels: 32, kernel: 3, stride: 1, pad: 1), 5, 2),
            (ConvGeometry(inChannels: 16, inHeight: 14, inWidth: 14, outChannels: 32, kernel: 3, stride: 1, pad: 1), 3, 3),
            (ConvGeometry(inChannels: 16, inHeight: 7, inWidth: 9, outChannels: 8, kernel: 3, stride: 2, pad: 1), 4, 3),
            (ConvGeometry(inChannels: 32, inHeight: 6, inWidth: 5, outChannels: 40, kernel: 3, stride: 1, pad: 2), 3, 2),
            (ConvGeometry(inChannels: 16, inHeight: 13, inWidth: 11, outChannels: 16, kernel: 3, stride: 1, pad: 0), 2, 1),
            (ConvGeometry(inChannels: 48, inHeight: 3, inWidth: 3, outChannels: 24, kernel: 3, stride: 1, pad: 0), 3, 3),
            (ConvGeometry(inChannels: 16, inHeight: 23, inWidth: 23, outChannels: 8, kernel: 3, stride: 1, pad: 1), 2, 2),
        ]
        for (g, B, chunk) in cases {
            XCTAssertTrue(g.implicitWeightGradientApplies && !g.usesDirect, "\(g)")
            let x = keep.pointer(Self.values(B * g.inputSize, &rng)), dz = keep.pointer(Self.values(B * g.outputSize, &rng))
            let start = Self.values(g.weightCount, &rng)
            let scratch = keep.buffer(count: g.scratchCount(chunk: chunk))
            for accumulate in [false, true] {
                let fast = keep.buffer(start), reference = keep.buffer(start)
                if !accumulate { fast.buffer.update(repeating: .nan) }
                conv2dImplicitWeightGradient(dweights: fast.pointer, doutput: dz, input: x, batch: B, geometry: g,
                                             accumulate: accumulate, scratch: scratch.pointer, chunkExamples: chunk)
                conv2dIm2colWeightGradient(dweights: reference.pointer, doutput: dz, input: x, batch: B, geometry: g,
                                           accumulate: accumulate, cols: scratch.pointer, chunkExamples: chunk)
                XCTAssertNil(Self.firstDifference(fast.array, reference.array),
                             "\(g) B \(B) chunk \(chunk) accumulate \(accumulate)")
                let dw = keep.buffer(start), db = keep.buffer(count: g.outChannels), scratch2 = keep.buffer(count: scratch.count)
                conv2dBackward(doutput: dz, input: x, weights: keep.pointer(start), dweights: dw.pointer, dbias: db.pointer,
                               dinput: nil, batch: B, geometry: g, cols: scratch.pointer, dcols: scratch2.pointer,
                               accumulate: accumulate, chunkExamples: chunk)
                XCTAssertNil(Self.firstDifference(dw.array, reference.array), "conv2dBackward \(g) B \(B) accumulate \(accumulate)")
            }
        }
        XCTAssertFalse(ConvGeometry(inChannels: 17, inHeight: 8, inWidth: 8, outChannels: 32, kernel: 3, stride: 1, pad: 1)
            .implicitWeightGradientApplies)
    }

    // MARK: Direct forward convolution

    func testDirectForwardEqualsReferenceBitForBit() {
        var rng = Xoshiro256(seed: 32, stream: 1)
        var geometries: [ConvGeometry] = [
            // The CNN's first layer; output widths 1 to 13 (every mix of the 8-, 4- and 1-position blocks).
            ConvGeometry(inChannels: 1, inHeight: 28, inWidth: 28, outChannels: 16, kernel: 3, stride: 1, pad: 1),
            ConvGeometry(inChannels: 3, inHeight: 9, inWidth: 9, outChannels: 17, kernel: 3, stride: 2, pad: 1),
            ConvGeometry(inChannels: 1, inHeight: 6, inWidth: 6, outChannels: 33, kernel: 5, stride: 1, pad: 0),
        ] + (1...13).map { ConvGeometry(inChannels: 2, inHeight: 3, inWidth: $0 + 2, outChannels: 5, kernel: 3, stride: 1, pad: 0) }
        // The 3 x 3 gray kernel (directForward3x3Gray, 16 channels; 7 take the general loops): output widths 1 to 19, pad 0 and 1.
        + (1...19).map { ConvGeometry(inChannels: 1, inHeight: 4, inWidth: $0 + 2 - 2 * ($0 % 2), outChannels: $0 % 3 == 0 ? 7 : 16,
                                      kernel: 3, stride: 1, pad: $0 % 2) }
        for _ in 0..<10 {
            let k = [1, 3, 5][Int(rng.next() % 3)], c = 1 + Int(rng.next() % UInt64(32 / (k * k)))
            let s = 1 + Int(rng.next() % 2)
            geometries.append(ConvGeometry(inChannels: c, inHeight: k + Int(rng.next() % 10), inWidth: k + Int(rng.next() % 20),
                                           outChannels: 1 + Int(rng.next() % 40), kernel: k, stride: s,
                                           pad: Int(rng.next() % UInt64(k / 2 + 1))))
        }
        for g in geometries {
            XCTAssertTrue(g.usesDirect, "\(g)")
            let B = 1 + Int(rng.next() % 3)
            let x = keep.pointer(Self.values(B * g.inputSize, &rng)), w = keep.pointer(Self.values(g.weightCount, &rng))
            let b = keep.pointer(Self.values(g.outChannels, &rng))
            let scratch = keep.buffer(count: g.directScratchCount)
            for relu in [false, true] {
                let fast = keep.buffer(count: B * g.outputSize), reference = keep.buffer(count: B * g.outputSize)
                fast.buffer.update(repeating: .nan)
                conv2dDirectForward(output: fast.pointer, input: x, weights: w, bias: b, batch: B, geometry: g, relu: relu,
                                    scratch: scratch.pointer)
                conv2dDirectForwardReference(output: reference.pointer, input: x, weights: w, bias: b, batch: B, geometry: g,
                                             relu: relu, scratch: scratch.pointer)
                XCTAssertNil(Self.firstDifference(fast.array, reference.array), "\(g) B \(B) relu \(relu)")
            }
        }
    }

    // MARK: Max-pooling

    /// Forward and backward against the references, with ties (many zeros: pooling after a ReLU),
    /// NaNs, odd sizes and channel counts with and without a 16-lane tail.
    func testMaxPoolEqualsReferenceBitForBit() {
        var rng = Xoshiro256(seed: 33, stream: 1)
        for (H, W, C) in [(28, 28, 16), (14, 14, 32), (5, 7, 16), (4, 3, 17), (3, 3, 1), (2, 2, 48), (7, 6, 5)] {
            let B = 1 + Int(rng.next() % 3)
            var values = Self.values(B * H * W * C, &rng).map { rng.next() % 3 == 0 ? 0 : $0 }
            values[Int(rng.next() % UInt64(values.count))] = .nan
            let x = keep.pointer(values)
            let outCount = B * (H / 2) * (W / 2) * C
            let fast = keep.buffer(count: outCount), reference = keep.buffer(count: outCount)
            fast.buffer.update(repeating: -1)
            maxPool2x2Forward(fast.pointer, x, batch: B, height: H, width: W, channels: C)
            maxPool2x2ForwardReference(reference.pointer, x, batch: B, height: H, width: W, channels: C)
            XCTAssertNil(Self.firstDifference(fast.array, reference.array), "forward \(H)x\(W)x\(C) B \(B)")
            // With the ReLU fused into the loads: the reference pool of the stored ReLU (NaN, -0 -> 0).
            let rectified = keep.pointer(values)
            reluForward(rectified, rectified, count: values.count)
            let fused = keep.buffer(count: outCount), pooledRelu = keep.buffer(count: outCount)
            maxPool2x2Forward(fused.pointer, x, batch: B, height: H, width: W, channels: C, reluInput: true)
            maxPool2x2ForwardReference(pooledRelu.pointer, rectified, batch: B, height: H, width: W, channels: C)
            XCTAssertNil(Self.firstDifference(fused.array, pooledRelu.array), "forward with ReLU \(H)x\(W)x\(C) B \(B)")
            let dout = keep.pointer(Self.values(outCount, &rng))
            let dxFast = keep.buffer(count: values.count), dxReference = keep.buffer(count: values.count)
            dxFast.buffer.update(repeating: .nan)
            maxPool2x2Backward(dxFast.pointer, dout, input: x, output: reference.pointer, batch: B, height: H, width: W, channels: C)
            maxPool2x2BackwardReference(dxReference.pointer, dout, input: x, output: reference.pointer, batch: B, height: H,
                                        width: W, channels: C)
            XCTAssertNil(Self.firstDifference(dxFast.array, dxReference.array), "backward \(H)x\(W)x\(C) B \(B)")
            // With the ReLU mask fused (input a ReLU's output): the reference backward, then `reluBackward`.
            dxFast.buffer.update(repeating: .nan)
            maxPool2x2Backward(dxFast.pointer, dout, input: rectified, output: pooledRelu.pointer, batch: B, height: H, width: W,
                               channels: C, reluMask: true)
            maxPool2x2BackwardReference(dxReference.pointer, dout, input: rectified, output: pooledRelu.pointer, batch: B,
                                        height: H, width: W, channels: C)
            reluBackward(dxReference.pointer, dxReference.pointer, preActivation: rectified, count: values.count)
            XCTAssertNil(Self.firstDifference(dxFast.array, dxReference.array), "backward with ReLU mask \(H)x\(W)x\(C) B \(B)")
        }
    }

    // MARK: Backward of the convolution

    /// The direct weight gradient with its nine accumulators in registers against the reference
    /// (accumulators in memory), overwriting and accumulating.
    func testDirectWeightGradientEqualsReferenceBitForBit() {
        var rng = Xoshiro256(seed: 34, stream: 1)
        let geometries = [
            ConvGeometry(inChannels: 1, inHeight: 28, inWidth: 28, outChannels: 16, kernel: 3, stride: 1, pad: 1),
            ConvGeometry(inChannels: 1, inHeight: 7, inWidth: 9, outChannels: 5, kernel: 3, stride: 2, pad: 1),
            ConvGeometry(inChannels: 1, inHeight: 5, inWidth: 4, outChannels: 1, kernel: 3, stride: 1, pad: 0),
            ConvGeometry(inChannels: 9, inHeight: 3, inWidth: 6, outChannels: 13, kernel: 1, stride: 1, pad: 0),
        ]
        for g in geometries {
            XCTAssertTrue(g.usesDirect && g.patchSize == 9 && g.paddedOutChannels == 16, "\(g)")
            let B = 1 + Int(rng.next() % 3)
            let x = keep.pointer(Self.values(B * g.inputSize, &rng)), dz = keep.pointer(Self.values(B * g.outputSize, &rng))
            let start = Self.values(g.weightCount, &rng)
            let scratch = keep.buffer(count: g.directScratchCount)
            for accumulate in [false, true] {
                let fast = keep.buffer(start), reference = keep.buffer(start)
                conv2dDirectWeightGradient(dweights: fast.pointer, doutput: dz, input: x, batch: B, geometry: g,
                                           accumulate: accumulate, scratch: scratch.pointer)
                conv2dDirectWeightGradientReference(dweights: reference.pointer, doutput: dz, input: x, batch: B, geometry: g,
                                                    accumulate: accumulate, scratch: scratch.pointer)
                XCTAssertNil(Self.firstDifference(fast.array, reference.array), "\(g) B \(B) accumulate \(accumulate)")
            }
        }
    }

    /// The first convolution's backward pass through its ReLU and pool in one loop against the
    /// pool's backward pass with the ReLU mask into a dZ buffer, then `conv2dBackward` (bias and
    /// weight gradients), bit for bit, overwriting and accumulating; the pool's input has ties and
    /// zeros (a ReLU's output) and a NaN.
    func testDirectBackwardThroughPoolEqualsUnfusedBitForBit() {
        var rng = Xoshiro256(seed: 39, stream: 1)
        let geometries = [
            ConvGeometry(inChannels: 1, inHeight: 28, inWidth: 28, outChannels: 16, kernel: 3, stride: 1, pad: 1),
            ConvGeometry(inChannels: 1, inHeight: 6, inWidth: 8, outChannels: 16, kernel: 3, stride: 1, pad: 0),
            ConvGeometry(inChannels: 1, inHeight: 7, inWidth: 7, outChannels: 16, kernel: 3, stride: 2, pad: 1),
            ConvGeometry(inChannels: 9, inHeight: 4, inWidth: 2, outChannels: 16, kernel: 1, stride: 1, pad: 0),
        ]
        for g in geometries {
            XCTAssertTrue(g.directBackwardThroughPoolApplies, "\(g)")
            let B = 1 + Int(rng.next() % 3)
            let (OH, OW) = (g.outHeight, g.outWidth), pooledCount = B * g.outputSize / 4
            let x = keep.pointer(Self.values(B * g.inputSize, &rng))
            var z = Self.values(B * g.outputSize, &rng).map { rng.next() % 3 == 0 ? 0 : $0 }
            z[Int(rng.next() % UInt64(z.count))] = .nan
            let activations = keep.pointer(z)
            reluForward(activations, activations, count: z.count)
            let pooled = keep.buffer(count: pooledCount)
            maxPool2x2ForwardReference(pooled.pointer, activations, batch: B, height: OH, width: OW, channels: 16)
            let dpooled = keep.pointer(Self.values(pooledCount, &rng))
            let startW = Self.values(g.weightCount, &rng), startB = Self.values(16, &rng)
            let scratch = keep.buffer(count: g.scratchCount(chunk: B)), rows = keep.buffer(count: 2 * OW * 16)
            for accumulate in [false, true] {
                let dw = keep.buffer(startW), db = keep.buffer(startB)
                conv2dDirectBackwardThroughPool(dweights: dw.pointer, dbias: db.pointer, dpooled: dpooled, pooled: pooled.pointer,
                                                activations: activations, input: x, batch: B, geometry: g, accumulate: accumulate,
                                                scratch: scratch.pointer, rows: rows.pointer)
                let dz = keep.buffer(count: B * g.outputSize), dwReference = keep.buffer(startW), dbReference = keep.buffer(startB)
                maxPool2x2Backward(dz.pointer, dpooled, input: activations, output: pooled.pointer, batch: B, height: OH, width: OW,
                                   channels: 16, reluMask: true)
                conv2dBackward(doutput: dz.pointer, input: x, weights: keep.pointer(startW), dweights: dwReference.pointer,
                               dbias: dbReference.pointer, dinput: nil, batch: B, geometry: g, cols: scratch.pointer,
                               dcols: keep.buffer(count: scratch.count).pointer, accumulate: accumulate)
                XCTAssertNil(Self.firstDifference(dw.array, dwReference.array), "weights \(g) B \(B) accumulate \(accumulate)")
                XCTAssertNil(Self.firstDifference(db.array, dbReference.array), "bias \(g) B \(B) accumulate \(accumulate)")
            }
        }
        XCTAssertFalse(ConvGeometry(inChannels: 1, inHeight: 9, inWidth: 9, outChannels: 16, kernel: 3, stride: 2, pad: 1)
            .directBackwardThroughPoolApplies)
    }

    func testColumnSumsEqualReferenceBitForBit() {
        var rng = Xoshiro256(seed: 35, stream: 1)
        for (rows, columns) in [(0, 16), (1, 1), (7, 16), (50, 17), (33, 32), (20, 40), (3, 5)] {
            let dout = keep.pointer(Self.values(rows * columns, &rng)), start = Self.values(columns, &rng)
            let fast = keep.buffer(start), reference = keep.buffer(start)
            addColumnSums(fast.pointer, dout, rows: rows, columns: columns)
            addColumnSumsReference(reference.pointer, dout, rows: rows, columns: columns)
            XCTAssertNil(Self.firstDifference(fast.array, reference.array), "\(rows) x \(columns)")
        }
    }
}
