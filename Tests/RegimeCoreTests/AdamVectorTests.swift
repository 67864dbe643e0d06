import XCTest
@testable import RegimeCore

/// Adam's and AdamW's update 16 elements at a time gives every element the bits of the scalar
/// update (`Optimizer.adamReference`): over several steps, block lengths that are not multiples of
/// 16, and values that reach the edges of Float arithmetic (zeros of both signs, tiny and huge
/// gradients, subnormal second moments).
final class AdamVectorTests: XCTestCase {
    func testVectorUpdateHasTheScalarBits() {
        let n = 1003
        var rng = Xoshiro256(seed: 7, stream: 1)
        let specials: [Float] = [0, -0.0, 1e-30, -1e-30, 1e30, -3e30, .leastNonzeroMagnitude, 1, -1]
        for spec in [OptimizerSpec(kind: .adam, lr: 1e-3), OptimizerSpec(kind: .adam, lr: 3e-2, weightDecay: 1e-2, beta2: 0.99),
                     OptimizerSpec(kind: .adamw, lr: 1e-3, weightDecay: 0.1, eps: 1e-6)] {
            let fast = Optimizer(spec: spec, parameterCount: n), reference = Optimizer(spec: spec, parameterCount: n)
            var thetaFast = (0..<n).map { _ in Float(rng.nextNormal()) }
            for (i, x) in specials.enumerated() { thetaFast[3 * i + 1] = x }
            var thetaReference = thetaFast
            for stepIndex in 0..<5 {
                var g = (0..<n).map { _ in Float(rng.nextNormal() * 0.1) }
                for (i, x) in specials.enumerated() { g[(7 * i + stepIndex) % n] = x }
                fast.update(parameters: &thetaFast, gradients: g, lr: spec.lr)
                reference.adamReference(parameters: &thetaReference, gradients: g, lr: spec.lr, range: 0..<n)
                let state = (fast.state, reference.state)
                for (label, a, b) in [("theta", thetaFast, thetaReference), ("m", state.0.first, state.1.first),
                                      ("v", state.0.second, state.1.second)] {
                    if let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) {
                        return XCTFail("\(spec.kind) step \(stepIndex + 1): \(label)[\(i)] = \(a[i]) (vector), \(b[i]) (scalar)")
                    }
                }
            }
            XCTAssertEqual(fast.step, 5)
        }
    }
}
