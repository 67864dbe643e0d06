import Foundation
import XCTest
@testable import RegimeCore

/// Gated forward/backward passes (docs/numerics.md, "Gated training") beyond the finite-difference
/// checks (GradientCheckTests, CNNViTGradientCheckTests) and the NumPy golden (GatedGoldenTests):
/// gates equal to the network's own patterns give exactly the ReLU network; the gate bits expand
/// as their naive reference; and a one-hidden-layer gated network trained on a least-squares task
/// reaches the closed-form least-squares fit of its fixed features.
final class GatedNetworkTests: XCTestCase {
    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    static func randomParameters(_ network: Network, rng: inout Xoshiro256) -> FloatBuffer {
        let parameters = FloatBuffer(count: network.parameterCount)
        network.initialize(parameters: parameters.pointer, rng: &rng)
        for i in 0..<parameters.count { parameters[i] += Float(rng.nextNormal() * 0.1) }  // biases matter too
        return parameters
    }

    /// θ_v = θ_g: logits and gradients of the gated pass are bit-identical to the ReLU pass; gates
    /// that differ (all open) change the logits.
    func checkBitIdentical(_ arch: String, batch B: Int, seed: UInt64) throws {
        let architecture = try Architecture(parsing: arch)
        let plain = architecture.makeNetwork(), gate = architecture.makeNetwork(), gated = architecture.makeNetwork()
        var rng = Xoshiro256(seed: seed, stream: 60)
        let parameters = Self.randomParameters(plain, rng: &rng)
        let input = FloatBuffer((0..<(B * architecture.inputSize)).map { _ in Float(rng.nextNormal()) })
        let K = architecture.classCount
        let dlogits = FloatBuffer((0..<(B * K)).map { _ in Float(rng.nextNormal()) })
        func run(_ network: Network, gates: GateMasks?) -> (logits: [Float], grad: [Float]) {
            let logits = Array(UnsafeBufferPointer(start: network.forward(parameters: parameters.pointer, input: input.pointer,
                                                                          batch: B, gates: gates), count: B * K))
            let gradients = FloatBuffer(count: network.parameterCount)
            network.backward(parameters: parameters.pointer, input: input.pointer, dlogits: dlogits.pointer, batch: B,
                             gradients: gradients.pointer, gates: gates)
            return (logits, gradients.array)
        }
        let relu = run(plain, gates: nil)
        _ = gate.forward(parameters: parameters.pointer, input: input.pointer, batch: B)
        let sameGates = run(gated, gates: gate.ownGates)
        XCTAssertEqual(Self.bits(sameGates.logits), Self.bits(relu.logits), "\(arch): gated logits with θ_v = θ_g")
        XCTAssertEqual(Self.bits(sameGates.grad), Self.bits(relu.grad), "\(arch): gated gradient with θ_v = θ_g")
        if Self.bits(sameGates.grad) != Self.bits(relu.grad) {
            EngineTestKit.assertClose(sameGates.grad.map(Double.init), relu.grad.map(Double.init), relative: 0, "\(arch) gradient")
        }
        let open = plain.patternLayers.map { FloatBuffer([Float](repeating: 1, count: B * $0.unitsPerExample)) }
        let linear = run(gated, gates: open.map { UnsafePointer($0.pointer) })
        XCTAssertNotEqual(linear.logits, relu.logits, "\(arch): the gates are not used")
        withExtendedLifetime((parameters, input, dlogits, open)) {}
    }

    func testGatedPassWithOwnGatesIsBitIdenticalToReLU() throws {
        try checkBitIdentical("mlp:20-33-17-5", batch: 9, seed: 1)
        try checkBitIdentical("mlp:784-256-256-10", batch: 16, seed: 2)
        // Direct and im2col convolutions, stride 2, valid padding, pools, fully-connected layers,
        // and (28x28, 40 examples) several spatial blocks.
        try checkBitIdentical("cnn:1x12x12-c4k3-p-c8k3s2-fc16-10", batch: 7, seed: 3)
        try checkBitIdentical("cnn:3x8x8-c4k3v-c6k5-p-fc5-7", batch: 5, seed: 4)
        try checkBitIdentical("cnn:1x28x28-c16k3-p-c32k3-p-fc32-10", batch: 40, seed: 5)
        try checkBitIdentical("vit:1x8x8-p4-d8-h2-l2-3", batch: 6, seed: 6)
        try checkBitIdentical("vit:2x6x6-p3-d6-h3-l1-cls-4", batch: 3, seed: 7)
    }

    func testGateBitsExpandAsTheNaiveReference() {
        var rng = Xoshiro256(seed: 11, stream: 60)
        let units = [1, 63, 64, 65, 130, 200]
        let patterns = PatternSet(exampleCount: 3, unitsPerExample: units)
        for (layer, width) in units.enumerated() {
            let z = FloatBuffer((0..<(3 * width)).map { _ in Float(rng.nextNormal()) })
            patterns.store(layer: layer, firstExample: 0, rows: 3, preActivations: z.pointer, width: width)
            for example in 0..<3 {
                let fast = FloatBuffer(count: width), naive = FloatBuffer(count: width)
                fast.buffer.update(repeating: .nan)
                patterns.expand(layer: layer, example: example, into: fast.pointer)
                patterns.expandNaive(layer: layer, example: example, into: naive.pointer)
                XCTAssertEqual(fast.array, naive.array, "layer of \(width) units, example \(example)")
                XCTAssertEqual(fast.array, (0..<width).map { z[example * width + $0] > 0 ? 1 : 0 })
            }
        }
    }

    // MARK: Least squares with fixed gates

    /// The fitted values of the least-squares problem `min ||Psi beta - y||` (the projection of y on
    /// the column space of Psi), by modified Gram-Schmidt with one re-orthogonalisation, in Double.
    /// Columns that are (numerically) in the span of earlier ones are dropped, so a rank-deficient
    /// Psi still has its unique fitted values. Returns them and the rank.
    static func leastSquaresFit(columns: [[Double]], y: [Double]) -> (fitted: [Double], rank: Int) {
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        var basis: [[Double]] = []
        for column in columns {
            var v = column
            for _ in 0..<2 {
                for q in basis {
                    let c = dot(q, v)
                    v = zip(v, q).map { $0 - c * $1 }
                }
            }
            let norm = dot(v, v).squareRoot()
            guard norm > 1e-10 * max(dot(column, column).squareRoot(), 1e-300) else { continue }
            basis.append(v.map { $0 / norm })
        }
        var fitted = [Double](repeating: 0, count: y.count)
        for q in basis {
            let c = dot(q, y)
            fitted = zip(fitted, q).map { $0 + c * $1 }
        }
        return (fitted, basis.count)
    }

    /// A gated network `f(x) = sum_j w2_j g_j(x) (W1_j x + b1_j) + b2` with fixed gates g_j(x) is
    /// linear in the features `[g_j(x) x, g_j(x)]_j` and 1, and every coefficient vector is
    /// reachable, so its least-squares optimum is the projection of y on those features, whatever
    /// the factorisation. Trained by the engine (gated forward/backward, Adam 0.02 with a cosine
    /// schedule, 20,000 full-batch steps, starting at θ_v = θ_g) on y = sin(x1) + x2 x3 + noise,
    /// it must reach that projection: fitted values within 1e-4 (relative, normwise) and the mean
    /// squared error within 1e-5 (relative) of the optimum. Measured: 1.5e-7 and 4e-7 (float32).
    func testOneHiddenLayerGatedNetworkReachesTheLeastSquaresFit() {
        let (n, d, m) = (48, 3, 6)
        let network = MLP(widths: [d, m, 1]), gate = MLP(widths: [d, m, 1])
        var rng = Xoshiro256(seed: 5, stream: 61)
        let parameters = FloatBuffer(count: network.parameterCount)
        network.initialize(parameters: parameters.pointer, rng: &rng)
        for j in 0..<m { parameters[d * m + j] = Float(rng.nextNormal() * 0.5) }  // b1: gates that vary over the examples
        let x = (0..<(n * d)).map { _ in Float(rng.nextNormal()) }
        let y = (0..<n).map { i -> Double in
            sin(Double(x[i * d])) + Double(x[i * d + 1]) * Double(x[i * d + 2]) + 0.1 * rng.nextNormal()
        }
        let input = FloatBuffer(x)
        let gateParameters = FloatBuffer(count: parameters.count)
        gateParameters.copy(from: parameters)
        _ = gate.forward(parameters: gateParameters.pointer, input: input.pointer, batch: n)
        let masks = gate.ownGates
        let g = (0..<(n * m)).map { masks[0][$0] > 0 ? 1.0 : 0 }
        let counts = (0..<m).map { j in (0..<n).reduce(0) { $0 + Int(g[$1 * m + j]) } }
        XCTAssertTrue(counts.contains { $0 > 0 && $0 < n }, "some gate must vary over the examples: \(counts)")

        // Closed form: the features and their least-squares fit.
        var columns: [[Double]] = []
        for j in 0..<m {
            for k in 0..<d { columns.append((0..<n).map { g[$0 * m + j] * Double(x[$0 * d + k]) }) }
            columns.append((0..<n).map { g[$0 * m + j] })
        }
        columns.append([Double](repeating: 1, count: n))
        let (optimum, rank) = Self.leastSquaresFit(columns: columns, y: y)
        let optimalError = zip(optimum, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(n)

        // The engine: squared loss 1/(2n) sum (f - y)^2, so d(loss)/d(f) = (f - y) / n.
        let steps = 20_000
        let optimizer = Optimizer(spec: OptimizerSpec(kind: .adam, lr: 0.02), parameterCount: network.parameterCount)
        let schedule = LearningRateSchedule(kind: .cosine)
        let dlogits = FloatBuffer(count: n), gradients = FloatBuffer(count: network.parameterCount)
        var fitted = [Double](repeating: 0, count: n)
        for t in 1...steps {
            let f = network.forward(parameters: parameters.pointer, input: input.pointer, batch: n, gates: masks)
            for i in 0..<n {
                fitted[i] = Double(f[i])
                dlogits[i] = Float((fitted[i] - y[i]) / Double(n))
            }
            network.backward(parameters: parameters.pointer, input: input.pointer, dlogits: dlogits.pointer, batch: n,
                             gradients: gradients.pointer, gates: masks)
            optimizer.update(parameters: parameters.pointer, gradients: gradients.pointer,
                             lr: schedule.rate(step: t, totalSteps: steps, baseRate: 0.02))
        }
        let f = network.forward(parameters: parameters.pointer, input: input.pointer, batch: n, gates: masks)
        fitted = (0..<n).map { Double(f[$0]) }
        let error = zip(fitted, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(n)
        let distance = EngineTestKit.maxAbsDifference(fitted, optimum) / optimum.map(abs).max()!
        print("gated least squares: \(columns.count) features of rank \(rank), gate counts \(counts); mean squared error "
              + "\(error) vs optimum \(optimalError); fitted values within \(distance) (normwise) of the closed form")
        XCTAssertLessThan(distance, 1e-4)
        XCTAssertLessThan(abs(error - optimalError), 1e-5 * optimalError)
        // The fit is the gated network's: the ReLU network with the same parameters predicts otherwise.
        let relu = network.forward(parameters: parameters.pointer, input: input.pointer, batch: n)
        XCTAssertGreaterThan(EngineTestKit.maxAbsDifference((0..<n).map { Double(relu[$0]) }, optimum), 1e-2)
        withExtendedLifetime((gate, gateParameters, input, dlogits, gradients)) {}
    }
}
