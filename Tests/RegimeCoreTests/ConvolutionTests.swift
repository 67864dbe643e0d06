import Foundation
import XCTest
@testable import RegimeCore

/// The CNN/ViT kernels (im2col convolution, max-pool, LayerNorm, attention, exp) against their naive
/// Double references, and the `cnn:` / `vit:` arch grammar.
///
/// Forward tolerances are normwise `1e-5 * max|b|` (float32 sums of at most a few hundred terms:
/// error ~1e-6 of the largest; the fast exp's error is ~2 ulp).
final class ConvolutionTests: XCTestCase {
    typealias Kit = EngineTestKit
    /// Keeps the test's input buffers alive while kernels use their raw pointers.
    let keep = PinnedBuffers()

    static func normals(_ count: Int, _ rng: inout Xoshiro256, std: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(rng.nextNormal() * std) }
    }

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

    func testConvolutionForwardMatchesNaiveForEveryChunking() {
        var rng = Xoshiro256(seed: 11, stream: 1)
        for (name, g) in Self.bothPaths {
            let B = 3
            let x = Self.normals(B * g.inputSize, &rng), w = Self.normals(g.weightCount, &rng), b = Self.normals(g.outChannels, &rng)
            let expected = conv2dNaive(input: x.map(Double.init), weights: w.map(Double.init), bias: b.map(Double.init), batch: B, geometry: g)
            XCTAssertEqual(g.outHeight * g.outWidth * g.outChannels * B, expected.count)
            for chunk in [1, 2, 3] {
                let out = keep.buffer(count: B * g.outputSize)
                let cols = keep.buffer(count: g.scratchCount(chunk: chunk))
                conv2dForward(output: out.pointer, input: keep.pointer(x), weights: keep.pointer(w),
                              bias: keep.pointer(b), batch: B, geometry: g, relu: false, cols: cols.pointer, chunkExamples: chunk)
                Kit.assertClose(out.array, expected, relative: 1e-5, scale: .normwise, "\(name) chunk \(chunk)")
                conv2dForward(output: out.pointer, input: keep.pointer(x), weights: keep.pointer(w),
                              bias: keep.pointer(b), batch: B, geometry: g, relu: true, cols: cols.pointer, chunkExamples: chunk)
                Kit.assertClose(out.array, expected.map { max($0, 0) }, relative: 1e-5, scale: .normwise, "\(name) chunk \(chunk) relu")
            }
        }
    }

    /// im2col and col2im are adjoint: <im2col(x), c> = <x, col2im(c)> (Double sums of Float data).
    func testIm2colAndCol2imAreAdjoint() {
        var rng = Xoshiro256(seed: 12, stream: 1)
        for (name, g) in Self.geometries {
            let B = 2
            let x = Self.normals(B * g.inputSize, &rng)
            let c = Self.normals(B * g.positions * g.patchSize, &rng)
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
        let x = keep.buffer(Self.normals(B * g.inputSize, &rng)), w = keep.buffer(Self.normals(g.weightCount, &rng))
        let dz = keep.buffer(Self.normals(B * g.outputSize, &rng))
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
            let x = Self.normals(B * H * W * C, &rng)
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

    // MARK: LayerNorm, attention, exp

    func testLayerNormForwardMatchesNaive() {
        var rng = Xoshiro256(seed: 15, stream: 1)
        for N in [1, 4, 16, 37, 64] {
            let rows = 5
            let x = Self.normals(rows * N, &rng, std: 3).map { $0 + 2 }
            let gamma = Self.normals(N, &rng), beta = Self.normals(N, &rng)
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
            let qkv = Self.normals(B * T * 3 * D, &rng, std: 1.5)
            let shape = AttentionShape(tokens: T, dim: D, heads: H)
            let out = keep.buffer(count: B * T * D), probs = keep.buffer(count: B * shape.probsPerExample)
            let scratch = keep.buffer(count: shape.scratchCount)
            attentionForward(out: out.pointer, probs: probs.pointer, qkv: keep.pointer(qkv), batch: B, shape: shape,
                             scratch: scratch.pointer)
            let expected = attentionNaive(qkv: qkv.map(Double.init), batch: B, tokens: T, dim: D, heads: H)
            Kit.assertClose(out.array, expected, relative: 1e-5, scale: .normwise, "attention T=\(T) D=\(D) H=\(H)")
            // Every probability row sums to 1.
            let Tp = shape.paddedTokens
            for r in 0..<(B * H * T) {
                let sum = (0..<T).reduce(0.0) { $0 + Double(probs[r * Tp + $1]) }
                XCTAssertEqual(sum, 1, accuracy: 1e-5)
                XCTAssertTrue((T..<Tp).allSatisfy { probs[r * Tp + $0] == 0 }, "padding columns are 0")
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

    // MARK: Arch grammar

    func testArchitecturesParseAndRoundTrip() throws {
        let cases: [(String, Int, Int)] = [
            ("cnn:1x28x28-c16k3-c32k3s2-p-fc128-10", 784, 10),
            ("cnn:3x32x32-c32k5-p-c64k3s2v-fc256-fc64-10", 3072, 10),
            ("cnn:1x28x28-p-10", 784, 10),
            ("vit:1x28x28-p7-d64-h4-l2-10", 784, 10),
            ("vit:3x32x32-p4-d96-h3-l3-cls-10", 3072, 10),
            ("mlp:784-256-10", 784, 10),
        ]
        for (text, inputs, classes) in cases {
            let architecture = try Architecture(parsing: text)
            XCTAssertEqual(architecture.description, text)
            XCTAssertEqual(try Architecture(parsing: architecture.description), architecture)
            XCTAssertEqual(architecture.inputSize, inputs, text)
            XCTAssertEqual(architecture.classCount, classes, text)
        }
        // Explicit defaults are accepted and canonicalised.
        XCTAssertEqual(try Architecture(parsing: "cnn:1x8x8-c4k3s1-10").description, "cnn:1x8x8-c4k3-10")
        guard case .cnn(let spec) = try Architecture(parsing: "cnn:1x28x28-c16k3-c32k3s2-p-fc128-10") else { return XCTFail() }
        XCTAssertEqual(spec.shapes.map(\.description), ["16x28x28", "32x14x14", "32x7x7", "128x1x1"])
        let network = CNN(spec: spec)
        XCTAssertEqual(network.patternLayers.map(\.unitsPerExample), [16 * 784, 32 * 196, 128])
        XCTAssertEqual(network.parameterGroups.map(\.name), ["conv1", "conv2", "fc1", "fc2"])
        XCTAssertEqual(network.parameterCount, (16 * 9 + 16) + (32 * 144 + 32) + (1568 * 128 + 128) + (128 * 10 + 10))
        guard case .vit(let vit) = try Architecture(parsing: "vit:1x28x28-p7-d64-h4-l2-cls-10") else { return XCTFail() }
        XCTAssertEqual(vit.tokenCount, 17)
        let transformer = VisionTransformer(spec: vit)
        XCTAssertEqual(transformer.patternLayers.map(\.unitsPerExample), [17 * 256, 17 * 256])
        XCTAssertEqual(transformer.parameterGroups.map(\.name), ["embed", "block1.attn", "block1.ffn", "block2.attn", "block2.ffn", "head"])
        let perBlock = (2 * 64 + 3 * 64 * 64 + 64 * 64 + 64) + (2 * 64 + 256 * 64 + 256 + 64 * 256 + 64)
        XCTAssertEqual(transformer.parameterCount, (64 * 49 + 64 + 64 + 17 * 64) + 2 * perBlock + (2 * 64 + 10 * 64 + 10))
    }

    func testBadArchitecturesGiveOneLineErrorsNamingTheArch() {
        let bad: [(String, String)] = [
            ("cnn:28x28-c16k3-10", "CxHxW"),
            ("cnn:1x28x28-c16k4-10", "odd kernel"),
            ("cnn:1x28x28-c16-10", "c<channels>k<kernel>"),
            ("cnn:1x28x28-fc10-c16k3-10", "cannot follow a fully-connected"),
            ("cnn:1x28x28-fc10-p-10", "cannot follow a fully-connected"),
            ("cnn:1x3x3-c4k5v-10", "larger than"),
            ("cnn:1x2x2-p-p-10", "at least 2x2"),
            ("cnn:1x28x28-q-10", "unknown layer"),
            ("cnn:1x28x28-c16k3-1", "classes"),
            ("cnn:1x28x28", "expected 'cnn:"),
            ("vit:1x28x28-p5-d64-h4-l2-10", "must divide"),
            ("vit:1x28x28-p7-d64-h5-l2-10", "divisible"),
            ("vit:1x28x28-p7-d64-h4-10", "expected 'vit:"),
            ("vit:1x28x28-p7-d64-h4-l2-mean-10", "expected 'vit:"),
            ("vit:1x28x28-p7-x64-h4-l2-10", "field 'x64'"),
            ("rnn:10-10", "unknown architecture"),
        ]
        for (text, fragment) in bad {
            XCTAssertThrowsError(try Architecture(parsing: text), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains("'\(text)'"), "\(text): the error names the arch: \(message)")
                XCTAssertTrue(message.contains(fragment), "\(text): expected '\(fragment)' in: \(message)")
                XCTAssertFalse(message.contains("\n"), "\(text): one line")
            }
        }
    }

    /// TrialSpec.validate checks the input size and classes against the data set.
    func testTrialSpecValidatesShapesAgainstTheDataSet() throws {
        func spec(_ arch: String, _ data: String) -> TrialSpec {
            TrialSpec(arch: arch, dataset: DatasetSpec(name: data), optimizer: OptimizerSpec(kind: .sgd, lr: 0.1),
                      batchSize: 8, iterations: 10, seed: 1)
        }
        XCTAssertNoThrow(try spec("cnn:1x28x28-c8k3-p-10", "fashion-mnist").validate())
        XCTAssertNoThrow(try spec("cnn:3x32x32-c8k3-p-10", "cifar10").validate())
        XCTAssertNoThrow(try spec("vit:3x32x32-p4-d32-h2-l1-10", "cifar10").validate())
        XCTAssertThrowsError(try spec("cnn:3x32x32-c8k3-p-10", "fashion-mnist").validate())
        XCTAssertThrowsError(try spec("vit:1x28x28-p7-d32-h2-l1-10", "cifar10").validate())
    }
}

/// Float buffers that stay allocated as long as this object lives: a test holds one, so the raw
/// pointers it hands to the kernels never outlive their storage (a temporary `FloatBuffer(x).pointer`
/// may be freed right after the pointer is read).
final class PinnedBuffers {
    private var buffers: [FloatBuffer] = []
    func pointer(_ values: [Float]) -> UnsafeMutablePointer<Float> { buffer(values).pointer }
    func buffer(_ values: [Float]) -> FloatBuffer {
        let buffer = FloatBuffer(values)
        buffers.append(buffer)
        return buffer
    }
    func buffer(count: Int) -> FloatBuffer {
        let buffer = FloatBuffer(count: count)
        buffers.append(buffer)
        return buffer
    }
}
