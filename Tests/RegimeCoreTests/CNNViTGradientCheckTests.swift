import Foundation
import XCTest
@testable import RegimeCore

/// Finite-difference checks, in Double, of the engine's float32 backward passes: the convolution,
/// max-pool, LayerNorm and attention kernels, and the whole CNN and ViT.
///
/// The references are Double implementations written from docs/architectures.md: the naive
/// kernels (`conv2dNaive`, `maxPool2x2Naive`, `layerNormNaive`, `attentionNaive`, direct loops
/// independent of im2col, GEMM and the fast exp) composed into whole networks below. Central
/// differences with h = 1e-6 have truncation error ~h^2 and round-off ~1e-16/h ~ 1e-10, far below
/// float32 error, so the comparison measures the engine.
///
/// Error measure (as in GradientCheckTests): `max_i |g_i - fd_i| / max(|g_i|, |fd_i|, 1e-3 * max|fd|)`,
/// required < 1e-3 (float32 gradients carry ~1e-6 of the largest terms; a real bug gives errors of
/// order 1). Kernel checks differentiate L = sum(R * f(inputs)) for a random R. Network inputs are
/// redrawn until every ReLU pre-activation and every pooling window's winning margin is >= 1e-3, so
/// neither h nor float32 rounding crosses a kink. The largest error of each check is printed.
final class CNNViTGradientCheckTests: XCTestCase {
    static let step = 1e-6
    static let tolerance = 1e-3
    let keep = PinnedBuffers()

    /// Compares analytic (engine) with numeric (Double FD) gradients; prints and returns the error.
    @discardableResult
    static func compare(_ analytic: [Double], _ numeric: [Double], _ label: String,
                        file: StaticString = #filePath, line: UInt = #line) -> Double {
        XCTAssertEqual(analytic.count, numeric.count, label, file: file, line: line)
        let floor = 1e-3 * (numeric.map(abs).max() ?? 0)
        XCTAssertGreaterThan(floor, 0, "\(label): the gradient is identically zero", file: file, line: line)
        var worst = 0.0, at = 0
        for i in analytic.indices {
            let e = abs(analytic[i] - numeric[i]) / max(abs(analytic[i]), abs(numeric[i]), floor)
            if e > worst { worst = e; at = i }
        }
        if worst >= tolerance {
            XCTFail("\(label): max relative error \(worst) at [\(at)]: analytic \(analytic[at]) vs finite difference \(numeric[at])",
                    file: file, line: line)
            EngineTestKit.assertClose(analytic, numeric, relative: tolerance, absolute: floor * tolerance, label, file: file, line: line)
        }
        print("gradient check \(label): max relative error \(worst)")
        return worst
    }

    /// Central differences of `f` at `x` for the coordinates `indices` (all when nil).
    static func numericGradient(_ x: [Double], indices: [Int]? = nil, _ f: ([Double]) -> Double) -> [Double] {
        var probe = x
        return (indices ?? Array(x.indices)).map { i in
            probe[i] = x[i] + step
            let plus = f(probe)
            probe[i] = x[i] - step
            let minus = f(probe)
            probe[i] = x[i]
            return (plus - minus) / (2 * step)
        }
    }

    static func normals(_ count: Int, _ rng: inout Xoshiro256, std: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(rng.nextNormal() * std) }
    }

    static func dot(_ a: [Double], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * Double($1.1) } }

    // MARK: Kernels

    func testConvolutionBackward() {
        var rng = Xoshiro256(seed: 21, stream: 1)
        for (name, g) in ConvolutionTests.bothPaths.prefix(8) {
            let B = 2
            let x = Self.normals(B * g.inputSize, &rng), w = Self.normals(g.weightCount, &rng), b = Self.normals(g.outChannels, &rng)
            let r = Self.normals(B * g.outputSize, &rng)
            let dw = keep.buffer(count: w.count), db = keep.buffer(count: b.count), dx = keep.buffer(count: x.count)
            let cols = keep.buffer(count: g.scratchCount(chunk: 1)), dcols = keep.buffer(count: cols.count)
            conv2dBackward(doutput: keep.pointer(r), input: keep.pointer(x), weights: keep.pointer(w),
                           dweights: dw.pointer, dbias: db.pointer, dinput: dx.pointer, batch: B, geometry: g,
                           cols: cols.pointer, dcols: dcols.pointer, chunkExamples: 1)
            let (xd, wd, bd) = (x.map(Double.init), w.map(Double.init), b.map(Double.init))
            let loss = { (x: [Double], w: [Double], b: [Double]) in
                Self.dot(conv2dNaive(input: x, weights: w, bias: b, batch: B, geometry: g), r)
            }
            Self.compare(dw.array.map(Double.init), Self.numericGradient(wd) { loss(xd, $0, bd) }, "conv \(name) dW")
            Self.compare(db.array.map(Double.init), Self.numericGradient(bd) { loss(xd, wd, $0) }, "conv \(name) db")
            Self.compare(dx.array.map(Double.init), Self.numericGradient(xd) { loss($0, wd, bd) }, "conv \(name) dx")
        }
    }

    func testMaxPoolBackward() {
        var rng = Xoshiro256(seed: 22, stream: 1)
        for (B, H, W, C) in [(2, 5, 6, 3), (1, 4, 3, 18)] {  // odd sizes; a 16-lane block and a tail
            // Distinct values, well separated: no window is near a tie.
            var values = (0..<(B * H * W * C)).map { Float($0) * 0.01 }
            rng.shuffle(&values)
            let r = Self.normals(B * (H / 2) * (W / 2) * C, &rng)
            let out = keep.buffer(count: r.count)
            let x = keep.pointer(values)
            maxPool2x2Forward(out.pointer, x, batch: B, height: H, width: W, channels: C)
            let dx = keep.buffer(count: values.count)
            dx.buffer.update(repeating: .nan)  // every entry is written
            maxPool2x2Backward(dx.pointer, keep.pointer(r), input: x, output: out.pointer, batch: B, height: H, width: W, channels: C)
            let numeric = Self.numericGradient(values.map(Double.init)) {
                Self.dot(maxPool2x2Naive($0, batch: B, height: H, width: W, channels: C), r)
            }
            Self.compare(dx.array.map(Double.init), numeric, "max-pool \(H)x\(W)x\(C) dx")
        }
    }

    func testLayerNormBackward() {
        var rng = Xoshiro256(seed: 23, stream: 1)
        for N in [3, 16, 37] {
            let rows = 4
            let x = Self.normals(rows * N, &rng, std: 2), gamma = Self.normals(N, &rng).map { $0 * 0.3 + 1 }
            let beta = Self.normals(N, &rng), r = Self.normals(rows * N, &rng)
            let y = keep.buffer(count: x.count), mean = keep.buffer(count: rows), rstd = keep.buffer(count: rows)
            layerNormForward(y.pointer, mean: mean.pointer, rstd: rstd.pointer, keep.pointer(x), gamma: keep.pointer(gamma),
                             beta: keep.pointer(beta), rows: rows, width: N)
            let base = Self.normals(x.count, &rng)  // accumulate mode adds to what is there
            let dx = keep.buffer(base), dgamma = keep.buffer(count: N), dbeta = keep.buffer(count: N), scratch = keep.buffer(count: N)
            layerNormBackward(dx: dx.pointer, accumulate: true, dgamma: dgamma.pointer, dbeta: dbeta.pointer, dy: keep.pointer(r),
                              x: keep.pointer(x), mean: mean.pointer, rstd: rstd.pointer, gamma: keep.pointer(gamma),
                              rows: rows, width: N, scratch: scratch.pointer)
            let (xd, gd, bd) = (x.map(Double.init), gamma.map(Double.init), beta.map(Double.init))
            let loss = { (x: [Double], g: [Double], b: [Double]) in Self.dot(layerNormNaive(x, gamma: g, beta: b, rows: rows, width: N), r) }
            let dxOnly = zip(dx.array, base).map { Double($0) - Double($1) }
            Self.compare(dxOnly, Self.numericGradient(xd) { loss($0, gd, bd) }, "LayerNorm N=\(N) dx")
            Self.compare(dgamma.array.map(Double.init), Self.numericGradient(gd) { loss(xd, $0, bd) }, "LayerNorm N=\(N) dgamma")
            Self.compare(dbeta.array.map(Double.init), Self.numericGradient(bd) { loss(xd, gd, $0) }, "LayerNorm N=\(N) dbeta")
        }
    }

    func testAttentionBackward() {
        var rng = Xoshiro256(seed: 24, stream: 1)
        for (T, D, H, B) in [(3, 4, 2, 2), (5, 6, 3, 2), (17, 4, 2, 1)] {
            let qkv = Self.normals(B * T * 3 * D, &rng, std: 1.2), r = Self.normals(B * T * D, &rng)
            let shape = AttentionShape(tokens: T, dim: D, heads: H)
            let out = keep.buffer(count: B * T * D), probs = keep.buffer(count: B * shape.probsPerExample)
            let scratch = keep.buffer(count: shape.scratchCount), dqkv = keep.buffer(count: qkv.count)
            attentionForward(out: out.pointer, probs: probs.pointer, qkv: keep.pointer(qkv), batch: B, shape: shape,
                             scratch: scratch.pointer)
            dqkv.buffer.update(repeating: .nan)
            attentionBackward(dqkv: dqkv.pointer, dout: keep.pointer(r), qkv: keep.pointer(qkv), probs: probs.pointer,
                              batch: B, shape: shape, scratch: scratch.pointer)
            let numeric = Self.numericGradient(qkv.map(Double.init)) {
                Self.dot(attentionNaive(qkv: $0, batch: B, tokens: T, dim: D, heads: H), r)
            }
            Self.compare(dqkv.array.map(Double.init), numeric, "attention T=\(T) D=\(D) H=\(H) dqkv")
        }
    }

    // MARK: Whole networks

    static func crossEntropy(_ logits: [Double], _ labels: [Int], classes K: Int) -> Double {
        var total = 0.0
        for (b, y) in labels.enumerated() {
            let row = logits[(b * K)..<((b + 1) * K)]
            let m = row.max()!
            total += m + log(row.reduce(0) { $0 + exp($1 - m) }) - row[b * K + y]
        }
        return total / Double(labels.count)
    }

    static func linear(_ h: [Double], _ p: [Double], weights w: Int, bias b: Int, rows: Int, inputs: Int, outputs: Int) -> [Double] {
        var z = [Double](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for j in 0..<outputs {
                var s = p[b + j]
                for i in 0..<inputs { s += h[r * inputs + i] * p[w + j * inputs + i] }
                z[r * outputs + j] = s
            }
        }
        return z
    }

    /// A reference network: loss, the smallest distance to a kink, and the pre-activations of the
    /// pattern layers (each B x units); gated by `gates` (open where > 0) when given.
    typealias Reference = (_ params: [Double], _ x: [Double], _ labels: [Int], _ gates: [[Double]]?)
        -> (loss: Double, margin: Double, preActivations: [[Double]])

    /// The CNN in Double (docs/architectures.md). Gated: a kink is a pooling window whose winner is
    /// near the runner-up (a tie of closed units' exact zeros is not one: neither depends on the
    /// parameters); the pre-activations have none.
    static func cnnReference(_ spec: CNNSpec, params p: [Double], x: [Double], labels: [Int], gates: [[Double]]? = nil)
        -> (loss: Double, margin: Double, preActivations: [[Double]])
    {
        let B = labels.count
        var s = spec.input
        var h = [Double](repeating: 0, count: x.count)  // (C, H, W) -> (H, W, C)
        for b in 0..<B {
            for c in 0..<s.channels {
                for q in 0..<(s.height * s.width) { h[b * s.count + q * s.channels + c] = x[b * s.count + c * s.height * s.width + q] }
            }
        }
        var offset = 0, margin = Double.infinity
        var features = s.count
        var pre: [[Double]] = []
        func activate(_ z: [Double]) -> [Double] {
            pre.append(z)
            guard let gates else {
                margin = min(margin, z.map(abs).min()!)
                return z.map { max($0, 0) }
            }
            return zip(z, gates[pre.count - 1]).map { $1 > 0 ? $0 : 0 }
        }
        for layer in spec.layers {
            switch layer {
            case .conv(let c, let k, let stride, let same):
                let g = ConvGeometry(inChannels: s.channels, inHeight: s.height, inWidth: s.width, outChannels: c, kernel: k,
                                     stride: stride, pad: same ? k / 2 : 0)
                let w = Array(p[offset..<(offset + g.weightCount)]), bias = Array(p[(offset + g.weightCount)..<(offset + g.weightCount + c)])
                offset += g.weightCount + c
                h = activate(conv2dNaive(input: h, weights: w, bias: bias, batch: B, geometry: g))
                s = ImageShape(channels: c, height: g.outHeight, width: g.outWidth)
            case .maxPool:
                for b in 0..<B {
                    for oh in 0..<(s.height / 2) {
                        for ow in 0..<(s.width / 2) {
                            for c in 0..<s.channels {
                                let v = [(0, 0), (0, 1), (1, 0), (1, 1)].map { h[((b * s.height + 2 * oh + $0.0) * s.width + 2 * ow + $0.1) * s.channels + c] }
                                    .sorted()
                                if gates == nil {
                                    if v[3] > 0 { margin = min(margin, v[3] - v[2]) }
                                } else {
                                    if v[3] == v[2] && v[3] != 0 { margin = 0 }
                                    if let next = v.last(where: { $0 < v[3] }) { margin = min(margin, v[3] - next) }
                                }
                            }
                        }
                    }
                }
                h = maxPool2x2Naive(h, batch: B, height: s.height, width: s.width, channels: s.channels)
                s = ImageShape(channels: s.channels, height: s.height / 2, width: s.width / 2)
            case .dense(let units):
                h = activate(linear(h, p, weights: offset, bias: offset + units * s.count, rows: B, inputs: s.count, outputs: units))
                offset += units * s.count + units
                s = ImageShape(channels: units, height: 1, width: 1)
            }
            features = s.count
        }
        let K = spec.classes
        let logits = linear(h, p, weights: offset, bias: offset + K * features, rows: B, inputs: features, outputs: K)
        precondition(offset + K * features + K == p.count, "reference layout")
        return (crossEntropy(logits, labels, classes: K), margin, pre)
    }

    /// The ViT in Double (docs/architectures.md): loss, the smallest |feed-forward pre-activation|
    /// (none when gated) and the feed-forward pre-activations.
    static func vitReference(_ spec: ViTSpec, params p: [Double], x: [Double], labels: [Int], gates: [[Double]]? = nil)
        -> (loss: Double, margin: Double, preActivations: [[Double]])
    {
        let B = labels.count, D = spec.dim, F = 4 * D, T = spec.tokenCount, Np = spec.patchCount, P = spec.patch
        let (C, Hh, Ww) = (spec.input.channels, spec.input.height, spec.input.width)
        let patchSize = C * P * P
        var offset = 0
        func take(_ n: Int) -> Int { defer { offset += n }; return offset }
        var patches = [Double](repeating: 0, count: B * Np * patchSize)
        for b in 0..<B {
            for n in 0..<Np {
                let (i, j) = (n / (Ww / P), n % (Ww / P))
                for c in 0..<C {
                    for dy in 0..<P {
                        for dx in 0..<P {
                            patches[(b * Np + n) * patchSize + (c * P + dy) * P + dx] = x[b * C * Hh * Ww + (c * Hh + i * P + dy) * Ww + j * P + dx]
                        }
                    }
                }
            }
        }
        let we = take(D * patchSize), be = take(D)
        let cls = spec.classToken ? take(D) : -1
        let pos = take(T * D)
        let e = linear(patches, p, weights: we, bias: be, rows: B * Np, inputs: patchSize, outputs: D)
        var h = [Double](repeating: 0, count: B * T * D)
        let first = spec.classToken ? 1 : 0
        for b in 0..<B {
            for t in 0..<T {
                for i in 0..<D {
                    let v = t < first ? p[cls + i] : e[(b * Np + t - first) * D + i]
                    h[(b * T + t) * D + i] = v + p[pos + t * D + i]
                }
            }
        }
        let zeroBias = [Double](repeating: 0, count: 3 * D)
        var margin = Double.infinity
        var pre: [[Double]] = []
        let R = B * T
        for l in 0..<spec.depth {
            let g1 = take(D), b1 = take(D), wqkv = take(3 * D * D), wo = take(D * D), bo = take(D)
            let g2 = take(D), b2 = take(D), w1 = take(F * D), bf1 = take(F), w2 = take(D * F), bf2 = take(D)
            let a = layerNormNaive(h, gamma: Array(p[g1..<(g1 + D)]), beta: Array(p[b1..<(b1 + D)]), rows: R, width: D)
            let qkv = linear(a, p + zeroBias, weights: wqkv, bias: p.count, rows: R, inputs: D, outputs: 3 * D)
            let o = attentionNaive(qkv: qkv, batch: B, tokens: T, dim: D, heads: spec.heads)
            let proj = linear(o, p, weights: wo, bias: bo, rows: R, inputs: D, outputs: D)
            let x1 = zip(h, proj).map(+)
            let bn = layerNormNaive(x1, gamma: Array(p[g2..<(g2 + D)]), beta: Array(p[b2..<(b2 + D)]), rows: R, width: D)
            let z = linear(bn, p, weights: w1, bias: bf1, rows: R, inputs: D, outputs: F)
            pre.append(z)
            let hidden: [Double]
            if let gates {
                hidden = zip(z, gates[l]).map { $1 > 0 ? $0 : 0 }
            } else {
                margin = min(margin, z.map(abs).min()!)
                hidden = z.map { max($0, 0) }
            }
            let ffn = linear(hidden, p, weights: w2, bias: bf2, rows: R, inputs: F, outputs: D)
            h = zip(x1, ffn).map(+)
        }
        let gf = take(D), bf = take(D), wh = take(spec.classes * D), bh = take(spec.classes)
        precondition(offset == p.count, "reference layout")
        let f = layerNormNaive(h, gamma: Array(p[gf..<(gf + D)]), beta: Array(p[bf..<(bf + D)]), rows: R, width: D)
        var pooled = [Double](repeating: 0, count: B * D)
        for b in 0..<B {
            for i in 0..<D {
                pooled[b * D + i] = spec.classToken ? f[b * T * D + i] : (0..<T).reduce(0.0) { $0 + f[(b * T + $1) * D + i] } / Double(T)
            }
        }
        let logits = linear(pooled, p, weights: wh, bias: bh, rows: B, inputs: D, outputs: spec.classes)
        return (crossEntropy(logits, labels, classes: spec.classes), margin, pre)
    }

    /// Draws parameters (He-normal matrices, N(0, 0.1^2) vectors, LayerNorm gammas 1 + N(0, 0.1^2))
    /// and inputs until the Double reference is >= 1e-3 from every kink; checks the engine's gradient.
    /// Gated: the drawn parameters are θ_g (>= 1e-3 from every kink, so float32 and Double agree on
    /// the gates), θ_v = θ_g + N(0, 0.1^2) per entry, and the gated loss of θ_v must be >= 1e-3 from
    /// every pooling tie.
    func checkNetwork(_ arch: String, batch B: Int, seed: UInt64, gated: Bool = false,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let architecture = try Architecture(parsing: arch)
        let network = architecture.makeNetwork(), gateNetwork = architecture.makeNetwork()
        var rng = Xoshiro256(seed: seed, stream: 77)
        // Per-parameter draw scale: network init gives the He/Xavier matrices and the 1s of gamma;
        // perturb every parameter so that biases, betas and positional embeddings matter.
        let reference: Reference
        switch architecture {
        case .cnn(let spec): reference = { Self.cnnReference(spec, params: $0, x: $1, labels: $2, gates: $3) }
        case .vit(let spec): reference = { Self.vitReference(spec, params: $0, x: $1, labels: $2, gates: $3) }
        case .mlp: return XCTFail("not a CNN or ViT", file: file, line: line)
        }
        let initial = keep.buffer(count: network.parameterCount)
        for attempt in 0..<1000 {
            var initRNG = Xoshiro256(seed: seed &+ UInt64(attempt) << 20, stream: 78)
            network.initialize(parameters: initial.pointer, rng: &initRNG)
            let params = initial.array.map { Float(Double($0) * 1.2 + rng.nextNormal() * 0.1) }
            let x = Self.normals(B * architecture.inputSize, &rng)
            let labels = (0..<B).map { _ in rng.nextInt(below: architecture.classCount) }
            let xd = x.map(Double.init)
            let gateRun = reference(params.map(Double.init), xd, labels, nil)
            guard gateRun.margin >= 1e-3 else { continue }
            var gateBits: [[Double]]?
            var masks: GateMasks?
            var value = params
            if gated {
                gateBits = gateRun.preActivations.map { $0.map { $0 > 0 ? 1 : 0 } }
                value = params.map { $0 + Float(rng.nextNormal() * 0.1) }
                let own = reference(value.map(Double.init), xd, labels, nil).preActivations.map { $0.map { $0 > 0 ? 1.0 : 0 } }
                guard own != gateBits else { continue }
                _ = gateNetwork.forward(parameters: keep.buffer(params).pointer, input: keep.pointer(x), batch: B)
                masks = gateNetwork.ownGates
            }
            let theta = value.map(Double.init)
            let (referenceLoss, margin, _) = reference(theta, xd, labels, gateBits)
            guard margin >= 1e-3 else { continue }

            let parameters = keep.buffer(value)
            let result = ArchitectureGolden.evaluate(network, parameters: parameters, x: xd, labels: labels.map(Int32.init), gates: masks)
            XCTAssertEqual(result.loss, referenceLoss, accuracy: 1e-5 * max(1, abs(referenceLoss)), "\(arch) loss", file: file, line: line)
            let numeric = Self.numericGradient(theta) { reference($0, xd, labels, gateBits).loss }
            Self.compare(result.grad.map(Double.init), numeric,
                         "\(arch) B=\(B)\(gated ? " gated" : "") (attempt \(attempt), margin \(min(margin, gateRun.margin)))",
                         file: file, line: line)
            // Every parameter group receives gradient.
            for group in network.parameterGroups {
                XCTAssertTrue(numeric[group.range].contains { $0 != 0 }, "\(arch): group \(group.name) has no gradient", file: file, line: line)
            }
            return
        }
        XCTFail("\(arch): no draw away from the kinks", file: file, line: line)
    }

    func testWholeCNN() throws {
        try checkNetwork("cnn:2x7x7-c3k3-p-c4k3s2-fc5-3", batch: 3, seed: 1)
        try checkNetwork("cnn:1x9x8-c2k5s2-c3k3v-p-4", batch: 2, seed: 2)
        try checkNetwork("cnn:3x6x6-p-c4k3-fc3-fc4-2", batch: 2, seed: 3)
        try checkNetwork("cnn:2x3x4-fc5-3", batch: 3, seed: 6)  // no convolution: flatten of the (h, w, c) input
    }

    func testWholeTransformer() throws {
        try checkNetwork("vit:1x4x4-p2-d4-h2-l2-3", batch: 3, seed: 4)
        try checkNetwork("vit:2x6x4-p2-d6-h3-l1-cls-3", batch: 2, seed: 5)
    }

    func testGatedCNN() throws {
        try checkNetwork("cnn:2x7x7-c3k3-p-c4k3s2-fc5-3", batch: 3, seed: 1, gated: true)
        try checkNetwork("cnn:1x9x8-c2k5s2-c3k3v-p-4", batch: 2, seed: 2, gated: true)
        try checkNetwork("cnn:3x6x6-p-c4k3-fc3-fc4-2", batch: 2, seed: 3, gated: true)
    }

    func testGatedTransformer() throws {
        try checkNetwork("vit:1x4x4-p2-d4-h2-l2-3", batch: 3, seed: 4, gated: true)
        try checkNetwork("vit:2x6x4-p2-d6-h3-l1-cls-3", batch: 2, seed: 5, gated: true)
    }
}
