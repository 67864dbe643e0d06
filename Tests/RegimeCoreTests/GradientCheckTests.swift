import Foundation
import XCTest
@testable import RegimeCore

/// Finite-difference check of the engine's analytic gradient on small MLPs of awkward widths.
///
/// The loss is re-implemented here in Double, independently of the engine, from
/// docs/numerics.md: `Z_l = H_{l-1} W_l^T + b_l`, `H_l = relu(Z_l)` for l < L,
/// `loss = mean_b(logsumexp(Z_L[b]) - Z_L[b, y_b])`, parameter block W1, b1, ..., WL, bL with W_l
/// of shape (D_l, D_{l-1}) row-major. Central differences of that Double loss, with h = 1e-6, have
/// truncation error ~h^2 * |f'''| ~ 1e-12 and round-off ~1e-16 / h ~ 1e-10: they are exact to
/// ~1e-9 absolute, far below the engine's float32 error, so the comparison measures the engine.
///
/// Error measure: `max_i |g_i - fd_i| / max(|g_i|, |fd_i|, 1e-3 * max_j |fd_j|)`, required
/// `< 1e-3`. Why: the engine computes in float32 (eps 6e-8); a gradient component is a sum of a
/// few dozen products, so its absolute error is ~1e-6 of the largest terms, i.e. ~1e-6 * max|g|.
/// With the floor at 1e-3 * max|g| the relative error of any component is then <= ~1e-3 in the
/// worst case (in practice ~1e-5; the value seen is printed). A real bug (a transposed weight, a
/// missing bias path, a wrong ReLU mask, a missing 1/B) gives errors of order 1.
/// Inputs are redrawn until every hidden pre-activation is at least 1e-2 from the ReLU kink
/// (so neither h nor float32 rounding can flip a unit), and every hidden unit is active on at
/// least one example (so no layer's gradient is trivially zero).
///
/// Gated networks (docs/numerics.md, "Gated training"): the drawn parameters are the gate
/// parameters θ_g (the margins above hold for them, so float32 and Double agree on every gate); the
/// value parameters θ_v = θ_g + N(0, 0.2^2) per entry, whose own ReLU patterns differ from the
/// gates; the loss of θ_v with those fixed gates is smooth, so there is no kink to keep away from.
final class GradientCheckTests: XCTestCase {
    static let tolerance = 1e-3
    static let floorFraction = 1e-3
    static let step = 1e-6
    static let kinkMargin = 1e-2

    // MARK: The independent Double reference

    /// Hidden pre-activations and the mean cross-entropy, in Double; with `gates` (per hidden layer,
    /// B x D_l, open where > 0) the hidden layers are gated instead of ReLU.
    static func referenceLoss(widths: [Int], params: [Double], x: [Double], labels: [Int], batch B: Int,
                              gates: [[Double]]? = nil) -> (loss: Double, hiddenPreActivations: [[Double]])
    {
        var h = x
        var hidden: [[Double]] = []
        var offset = 0
        let L = widths.count - 1
        for l in 1...L {
            let (din, dout) = (widths[l - 1], widths[l])
            let w = offset, b = offset + dout * din
            offset = b + dout
            var z = [Double](repeating: 0, count: B * dout)
            for r in 0..<B {
                for j in 0..<dout {
                    var s = params[b + j]
                    for i in 0..<din { s += h[r * din + i] * params[w + j * din + i] }
                    z[r * dout + j] = s
                }
            }
            if l < L {
                hidden.append(z)
                h = gates.map { zip(z, $0[l - 1]).map { $1 > 0 ? $0 : 0 } } ?? z.map { max($0, 0) }
            } else {
                h = z
            }
        }
        precondition(offset == params.count)
        let K = widths.last!
        var total = 0.0
        for r in 0..<B {
            let row = h[(r * K)..<((r + 1) * K)]
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            total += lse - row[r * K + labels[r]]
        }
        return (total / Double(B), hidden)
    }

    static func parameterCount(_ widths: [Int]) -> Int {
        (1..<widths.count).reduce(0) { $0 + widths[$1] * widths[$1 - 1] + widths[$1] }
    }

    // MARK: Problem generation

    struct Problem {
        var widths: [Int]
        var batch: Int
        var params: [Float]
        var x: [Float]
        var labels: [Int32]
        var minMargin: Double
    }

    /// Draws float32 parameters (He-normal weights, N(0, 0.1^2) biases), inputs N(0, 1) and labels,
    /// redrawing until the problem is away from every ReLU kink and no hidden unit is dead.
    static func makeProblem(widths: [Int], batch B: Int, seed: UInt64) -> Problem {
        var rng = Xoshiro256(seed: seed, stream: 99)
        for _ in 0..<10_000 {
            var params: [Float] = []
            for l in 1..<widths.count {
                let std = (2.0 / Double(widths[l - 1])).squareRoot()
                params += (0..<(widths[l] * widths[l - 1])).map { _ in Float(rng.nextNormal() * std) }
                params += (0..<widths[l]).map { _ in Float(rng.nextNormal() * 0.1) }
            }
            let x = (0..<(B * widths[0])).map { _ in Float(rng.nextNormal()) }
            let labels = (0..<B).map { _ in Int32(rng.nextInt(below: widths.last!)) }
            let (_, hidden) = referenceLoss(widths: widths, params: params.map(Double.init), x: x.map(Double.init),
                                            labels: labels.map(Int.init), batch: B)
            let margin = hidden.flatMap { $0 }.map(abs).min() ?? .infinity
            guard margin >= kinkMargin else { continue }
            var everyUnitLives = true
            for (index, z) in hidden.enumerated() {
                let width = widths[index + 1]
                for j in 0..<width where !(0..<B).contains(where: { z[$0 * width + j] > 0 }) { everyUnitLives = false }
            }
            guard everyUnitLives else { continue }
            return Problem(widths: widths, batch: B, params: params, x: x, labels: labels, minMargin: margin)
        }
        fatalError("no problem away from the ReLU kinks for \(widths)")
    }

    // MARK: The check

    /// Returns the error measure; asserts it is below the tolerance and that the losses agree.
    @discardableResult
    func check(widths: [Int], batch B: Int, seed: UInt64, gated: Bool = false, file: StaticString = #filePath, line: UInt = #line) -> Double {
        let problem = Self.makeProblem(widths: widths, batch: B, seed: seed)
        let label = "mlp:\(widths.map(String.init).joined(separator: "-")) B=\(B) seed \(seed)" + (gated ? " gated" : "")
        let mlp = MLP(widths: widths)
        XCTAssertEqual(mlp.parameterCount, Self.parameterCount(widths), label, file: file, line: line)
        let K = widths.last!
        let x = problem.x.map(Double.init), y = problem.labels.map(Int.init)

        // Gated: θ_g is the drawn problem, θ_v a perturbation of it; the gates are θ_g's patterns.
        var params = problem.params
        var gateBits: [[Double]]?
        let gateNetwork = MLP(widths: widths)
        let gateParameters = FloatBuffer(problem.params)
        if gated {
            var rng = Xoshiro256(seed: seed, stream: 98)
            params = params.map { $0 + Float(rng.nextNormal() * 0.2) }
            let hidden = Self.referenceLoss(widths: widths, params: problem.params.map(Double.init), x: x, labels: y, batch: B)
                .hiddenPreActivations
            gateBits = hidden.map { $0.map { $0 > 0 ? 1 : 0 } }
            let own = Self.referenceLoss(widths: widths, params: params.map(Double.init), x: x, labels: y, batch: B).hiddenPreActivations
            XCTAssertNotEqual(own.map { $0.map { $0 > 0 ? 1.0 : 0 } }, gateBits, "\(label): θ_v's own patterns equal the gates", file: file, line: line)
        }

        // Engine: Float analytic gradient.
        let parameters = FloatBuffer(params)
        let input = FloatBuffer(problem.x)
        let dlogits = FloatBuffer(count: B * K)
        let gradients = FloatBuffer(count: mlp.parameterCount)
        if gated { _ = gateNetwork.forward(parameters: gateParameters.pointer, input: input.pointer, batch: B) }
        let masks = gated ? gateNetwork.ownGates : nil
        let logits = mlp.forward(parameters: parameters.pointer, input: input.pointer, batch: B, gates: masks)
        let engineLoss = problem.labels.withUnsafeBufferPointer {
            softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: B, classes: K, dlogits: dlogits.pointer)
        }
        mlp.backward(parameters: parameters.pointer, input: input.pointer, dlogits: dlogits.pointer, batch: B,
                     gradients: gradients.pointer, gates: masks)
        let analytic = gradients.array.map(Double.init)
        withExtendedLifetime((gateNetwork, gateParameters, input)) {}

        // Reference: Double central differences.
        let theta = params.map(Double.init)
        let referenceLoss = Self.referenceLoss(widths: widths, params: theta, x: x, labels: y, batch: B, gates: gateBits).loss
        XCTAssertEqual(engineLoss, referenceLoss, accuracy: 1e-5 * max(1, abs(referenceLoss)), "\(label) loss", file: file, line: line)
        var numeric = [Double](repeating: 0, count: theta.count)
        var probe = theta
        for i in theta.indices {
            probe[i] = theta[i] + Self.step
            let plus = Self.referenceLoss(widths: widths, params: probe, x: x, labels: y, batch: B, gates: gateBits).loss
            probe[i] = theta[i] - Self.step
            let minus = Self.referenceLoss(widths: widths, params: probe, x: x, labels: y, batch: B, gates: gateBits).loss
            probe[i] = theta[i]
            numeric[i] = (plus - minus) / (2 * Self.step)
        }

        let floor = Self.floorFraction * numeric.map(abs).max()!
        var worst = 0.0, worstAt = 0
        for i in theta.indices {
            let error = abs(analytic[i] - numeric[i]) / max(abs(analytic[i]), abs(numeric[i]), floor)
            if error > worst { worst = error; worstAt = i }
        }
        XCTAssertGreaterThan(floor, 0, "\(label): the gradient is identically zero", file: file, line: line)
        if worst >= Self.tolerance {
            XCTFail("\(label): max relative error \(worst) at parameter [\(worstAt)]: analytic \(analytic[worstAt]) vs "
                    + "finite difference \(numeric[worstAt]) (tolerance \(Self.tolerance))", file: file, line: line)
            EngineTestKit.assertClose(analytic, numeric, relative: Self.tolerance, absolute: floor * Self.tolerance,
                                      label, file: file, line: line)
        }
        print("gradient check \(label): max relative error \(worst), min |Z| \(problem.minMargin)")
        return worst
    }

    func testThreeHiddenLayers_5_7_6_3() { check(widths: [5, 7, 6, 3], batch: 4, seed: 1) }

    func testWidthOneHiddenLayer_3_1_4() { check(widths: [3, 1, 4], batch: 6, seed: 2) }

    func testNoHiddenLayer_9_2() { check(widths: [9, 2], batch: 3, seed: 3) }

    func testSingleExampleBatch_4_3_5_2() { check(widths: [4, 3, 5, 2], batch: 1, seed: 4) }

    func testDeepNarrow_2_3_2_3_2_3() { check(widths: [2, 3, 2, 3, 2, 3], batch: 5, seed: 5) }

    func testWiderThanAWord_3_65_7() { check(widths: [3, 65, 7], batch: 8, seed: 6) }

    func testSeveralSeeds_6_5_4_3() {
        for seed: UInt64 in 10..<14 { check(widths: [6, 5, 4, 3], batch: 7, seed: seed) }
    }

    func testGatedNetworks() {
        check(widths: [5, 7, 6, 3], batch: 4, seed: 1, gated: true)
        check(widths: [3, 65, 7], batch: 8, seed: 6, gated: true)
        check(widths: [2, 3, 2, 3, 2, 3], batch: 5, seed: 5, gated: true)
        for seed: UInt64 in 10..<13 { check(widths: [6, 5, 4, 3], batch: 7, seed: seed, gated: true) }
    }
}
