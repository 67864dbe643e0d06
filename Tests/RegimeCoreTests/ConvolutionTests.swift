import Foundation
import XCTest
@testable import RegimeCore

/// The CNN kernels (im2col and direct convolution, max-pool) against their naive Double references.
///
/// Forward tolerances are normwise `1e-5 * max|b|` (float32 sums of at most a few hundred terms:
/// error ~1e-6 of the largest; the fast exp's error is ~2 ulp).
final class ConvolutionTests: XCTestCase {
    typealias Kit = EngineTestKit
    /// Keeps the test's input buffers alive while kernels use their raw pointers.
    let keep = PinnedBuffers()

    // MARK: Convolution

    static let geometries: [(String, ConvGeometry)] = [
        ("3x3 same stride 1", ConvGeometry(inChannels: 3, inHeight: 7, inWidth: 6, outChannels: 4, kernel: 3, stride: 1, pad: 1)),
        ("5x5 same stride 2", ConvGeometry(inChannels: 2, inHeight: 9, inWidth: 8, outChannels: 5, kernel: 5, stride: 2, pad: 2)),
        ("3x3 valid stride 2", ConvGeometry(inChannels: 2, inHeight: 8, inWidth: 7, outChannels: 3, kernel: 3, stride: 2, pad: 0)),
        ("5x5 valid stride 1", ConvGeometry(inChannels: 1, inHeight: 6, inWidth: 7, outChannels: 2, kernel: 5, stride: 1, pad: 0)),
        ("1x1 stride 1", ConvGeometry(inChannels: 17, inHeight: 3, inWidth: 3, outChannels: 18, kernel: 1, stride: 1, pad: 0)),
        ("3x3 same, 1 channel, 19 wide", ConvGeometry(inChannels: 1, inHeight: 5, inWidth: 19, outChannels: 17, kernel: 3, stride: 1, pad: 1)),
    ]

    /// Every geometry through both paths: im2col + GEMM and direct.
    static var bothPaths: [(String, ConvGeometry)] {
        geometries.flatMap { name, g -> [(String, ConvGeometry)] in
            var gemm = g, direct = g
            gemm.usesDirect = false
            direct.usesDirect = true
            return [(name + " (im2col)", gemm), (name + " (direct)", direct)]
        }
    }

    /// Every path against the naive Double convolution: im2col (every chunking), direct, and implicit
    /// where it applies (3 of the 6 geometries: stride 1).
    func testConvolutionForwardMatchesNaiveForEveryChunking() {
        var rng = Xoshiro256(seed: 11, stream: 1)
        for (name, g) in Self.bothPaths {
            let B = 3
            let x = Kit.normals(B * g.inputSize, &rng), w = Kit.normals(g.weightCount, &rng), b = Kit.normals(g.outChannels, &rng)
            let expected = conv2dNaive(input: x.map(Double.init), weights: w.map(Double.init), bias: b.map(Double.init), batch: B, geometry: g)
            XCTAssertEqual(g.outHeight * g.outWidth * g.outChannels * B, expected.count)
            typealias Run = (_ out: UnsafeMutablePointer<Float>, _ relu: Bool) -> Void
            var runs: [(String, Run)] = []
            let (xp, wp, bp) = (keep.pointer(x), keep.pointer(w), keep.pointer(b))
            if g.usesDirect {
                let cols = keep.buffer(count: g.directScratchCount)
                runs.append(("", { conv2dDirectForward(output: $0, input: xp, weights: wp, bias: bp, batch: B, geometry: g,
                                                      relu: $1, scratch: cols.pointer) }))
            } else {
                for chunk in [1, 2, 3] {
                    let cols = keep.buffer(count: g.scratchCount(chunk: chunk))
                    runs.append((" chunk \(chunk)", { conv2dIm2colForward(output: $0, input: xp, weights: wp, bias: bp, batch: B,
                                                                          geometry: g, relu: $1, cols: cols.pointer, chunkExamples: chunk) }))
                }
                if g.implicitForwardApplies {
                    let scratch = keep.buffer(count: g.implicitScratchCount)
                    runs.append((" implicit", { conv2dImplicitForward(output: $0, input: xp, weights: wp, bias: bp, batch: B,
                                                                      geometry: g, relu: $1, scratch: scratch.pointer) }))
                }
            }
            for (label, run) in runs {
                let out = keep.buffer(count: B * g.outputSize)
                run(out.pointer, false)
                Kit.assertClose(out.array, expected, relative: 1e-5, scale: .normwise, "\(name)\(label)")
                run(out.pointer, true)
                Kit.assertClose(out.array, expected.map { max($0, 0) }, relative: 1e-5, scale: .normwise, "\(name)\(label) relu")
            }
        }
    }

    /// im2col and col2im are adjoint: <im2col(x), c> = <x, col2im(c)> (Double sums of Float data).
    func testIm2colAndCol2imAreAdjoint() {
        var rng = Xoshiro256(seed: 12, stream: 1)
        for (name, g) in Self.geometries {
            let B = 2
            let x = Kit.normals(B * g.inputSize, &rng)
            let c = Kit.normals(B * g.positions * g.patchSize, &rng)
            let cols = keep.buffer(count: c.count)
            im2col(cols.pointer, keep.pointer(x), g, first: 0, count: B)
            let dx = keep.buffer(count: x.count)
            col2imAdd(dx.pointer, keep.pointer(c), g, first: 0, count: B)
            let left = zip(cols.array, c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let right = zip(x, dx.array).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)), name)
        }
    }

    /// Backward results do not depend on the chunking beyond rounding.
    func testConvolutionBackwardIsConsistentAcrossChunkings() {
        var rng = Xoshiro256(seed: 13, stream: 1)
        var g = Self.geometries[1].1
        let B = 3
        let x = keep.buffer(Kit.normals(B * g.inputSize, &rng)), w = keep.buffer(Kit.normals(g.weightCount, &rng))
        let dz = keep.buffer(Kit.normals(B * g.outputSize, &rng))
        var results: [[Float]] = []
        for (chunk, direct) in [(1, false), (3, false), (2, true)] {
            g.usesDirect = direct
            let dw = keep.buffer(count: g.weightCount), db = keep.buffer(count: g.outChannels), dx = keep.buffer(count: x.count)
            dw.buffer.update(repeating: .nan); dx.buffer.update(repeating: .nan)
            let cols = keep.buffer(count: g.scratchCount(chunk: chunk)), dcols = keep.buffer(count: cols.count)
            conv2dBackward(doutput: dz.pointer, input: x.pointer, weights: w.pointer, dweights: dw.pointer, dbias: db.pointer,
                           dinput: dx.pointer, batch: B, geometry: g, cols: cols.pointer, dcols: dcols.pointer, chunkExamples: chunk)
            results.append(dw.array + db.array + dx.array)
        }
        Kit.assertClose(results[0], results[1].map(Double.init), relative: 1e-5, scale: .normwise, "chunk 1 vs 3")
        Kit.assertClose(results[2], results[1].map(Double.init), relative: 1e-5, scale: .normwise, "direct vs im2col")
    }

    func testChannelsLastTransposes() {
        let shape = ImageShape(channels: 2, height: 2, width: 3)
        let x: [Float] = (0..<12).map(Float.init)  // c-major: c0 = 0...5, c1 = 6...11
        let out = keep.buffer(count: 12)
        channelsLast(out.pointer, keep.pointer(x), batch: 1, shape: shape)
        XCTAssertEqual(out.array, [0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11])
    }

    // MARK: Pooling

    func testMaxPoolMatchesNaiveAndRoutesGradientToTheFirstMaximum() {
        var rng = Xoshiro256(seed: 14, stream: 1)
        for (H, W, C) in [(4, 4, 3), (5, 7, 2), (2, 3, 17), (3, 2, 32)] {
            let B = 2
            let x = Kit.normals(B * H * W * C, &rng)
            let out = keep.buffer(count: B * (H / 2) * (W / 2) * C)
            maxPool2x2Forward(out.pointer, keep.pointer(x), batch: B, height: H, width: W, channels: C)
            XCTAssertEqual(out.array.map(Double.init), maxPool2x2Naive(x.map(Double.init), batch: B, height: H, width: W, channels: C))
        }
        // Ties: (0,1) and (1,0) equal; the gradient goes to (0,1) only (scalar and 16-lane paths).
        for C in [1, 16] {
            let x: [Float] = [1, 3, 3, 2].flatMap { [Float](repeating: $0, count: C) }
            let input = keep.pointer(x)
            let out = keep.buffer(count: C)
            maxPool2x2Forward(out.pointer, input, batch: 1, height: 2, width: 2, channels: C)
            XCTAssertEqual(out.array, [Float](repeating: 3, count: C))
            let dx = keep.buffer(count: 4 * C)
            dx.buffer.update(repeating: .nan)
            maxPool2x2Backward(dx.pointer, keep.pointer([Float](repeating: 5, count: C)), input: input, output: out.pointer,
                               batch: 1, height: 2, width: 2, channels: C)
            XCTAssertEqual(dx.array, [0, 5, 0, 0].flatMap { [Float](repeating: $0, count: C) }, "C=\(C)")
        }
    }

}
