import Foundation

/// Optimizer settings (PyTorch conventions; docs/numerics.md, "Optimizers").
public struct OptimizerSpec: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        case sgd, adam, adamw
    }

    public var kind: Kind
    public var lr: Double
    public var momentum: Double = 0
    public var nesterov: Bool = false
    public var weightDecay: Double = 0
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8

    public init(kind: Kind, lr: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0,
                beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8) {
        self.kind = kind; self.lr = lr; self.momentum = momentum; self.nesterov = nesterov
        self.weightDecay = weightDecay; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
    }

    enum CodingKeys: String, CodingKey {
        case kind = "name", lr, momentum, nesterov, weightDecay = "weight_decay", beta1, beta2, eps
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        lr = try c.decode(Double.self, forKey: .lr)
        momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? 0
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? false
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? 0
        beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? 0.9
        beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? 0.999
        eps = try c.decodeIfPresent(Double.self, forKey: .eps) ?? 1e-8
    }

    /// Keys that mean something for this optimizer, so that a canonical spec leaves out the others.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(lr, forKey: .lr)
        try c.encode(weightDecay, forKey: .weightDecay)
        switch kind {
        case .sgd:
            try c.encode(momentum, forKey: .momentum)
            try c.encode(nesterov, forKey: .nesterov)
        case .adam, .adamw:
            try c.encode(beta1, forKey: .beta1)
            try c.encode(beta2, forKey: .beta2)
            try c.encode(eps, forKey: .eps)
        }
    }

    public func validate() throws {
        guard lr > 0, lr.isFinite else { throw SpecError("optimizer.lr: expected a positive number, got \(lr)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw SpecError("optimizer.weight_decay: expected a number >= 0") }
        switch kind {
        case .sgd:
            guard momentum >= 0, momentum < 1 else { throw SpecError("optimizer.momentum: expected 0 <= momentum < 1, got \(momentum)") }
            if nesterov && momentum == 0 { throw SpecError("optimizer.nesterov: Nesterov momentum needs momentum > 0") }
        case .adam, .adamw:
            guard beta1 >= 0, beta1 < 1 else { throw SpecError("optimizer.beta1: expected 0 <= beta1 < 1") }
            guard beta2 >= 0, beta2 < 1 else { throw SpecError("optimizer.beta2: expected 0 <= beta2 < 1") }
            guard eps > 0 else { throw SpecError("optimizer.eps: expected a positive number") }
        }
    }
}

/// An optimizer over one flat parameter block, with its state in flat buffers of the same layout.
///
/// The update is computed in Float per element, with the scalar hyper-parameters (bias
/// corrections, rate) formed in Double once per step and rounded, as PyTorch's fused CPU kernels do.
public final class Optimizer {
    public let spec: OptimizerSpec
    public let parameterCount: Int
    /// Steps taken so far (Adam's bias correction uses it).
    public private(set) var step = 0
    /// SGD: the momentum buffer. Adam: first moment.
    let first: FloatBuffer
    /// Adam: second moment.
    let second: FloatBuffer

    public init(spec: OptimizerSpec, parameterCount: Int) {
        self.spec = spec
        self.parameterCount = parameterCount
        let needsFirst = spec.kind != .sgd || spec.momentum > 0
        first = FloatBuffer(count: needsFirst ? parameterCount : 0)
        second = FloatBuffer(count: spec.kind == .sgd ? 0 : parameterCount)
    }

    /// The state to checkpoint: step count and moment buffers.
    public var state: (step: Int, first: [Float], second: [Float]) { (step, first.array, second.array) }

    public func restore(step: Int, first values: [Float], second secondValues: [Float]) throws {
        guard values.count == first.count, secondValues.count == second.count else {
            throw SpecError("optimizer state does not match the parameter count")
        }
        self.step = step
        first.copy(from: values)
        second.copy(from: secondValues)
    }

    /// One update of `parameters` from `gradients` at learning rate `lr`. Given `updated`, the block
    /// is updated in consecutive ranges of `ParameterSquares.produceBlock` elements, and `updated`
    /// is called after each with its range (the network packs what it derives from the new values
    /// while they are in cache: `Network.parametersUpdated`); the same bits either way.
    public func update(parameters theta: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, lr: Double,
                       updated: ((Range<Int>) -> Void)? = nil) {
        step += 1
        let factors = factors(lr: lr)
        guard let updated else {
            apply(parameters: theta, gradients: g, factors: factors, range: 0..<parameterCount)
            return
        }
        for start in stride(from: 0, to: parameterCount, by: ParameterSquares.produceBlock) {
            let range = start..<min(start + ParameterSquares.produceBlock, parameterCount)
            apply(parameters: theta, gradients: g, factors: factors, range: range)
            updated(range)
        }
    }

    /// The same update, and the sums of the weight update between the new parameters and `old`
    /// over the pieces `ends` delimits (the last end the block's), taken in the same pass: each
    /// block of parameters is updated just before `ParameterSquares` reads it, so the two blocks
    /// are read once from memory instead of twice. The sums are those of
    /// `ParameterSquares(new:old:ends:)` on the updated block, bit for bit (tested); `old` may be
    /// `.overwritten`, the parameters before this update. With `replacing`, that block holds the
    /// new parameters afterwards (`ParameterSquares`'s `replacing`).
    func update(parameters theta: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, lr: Double,
                measuringAgainst old: ParameterSquares.Old, ends: [Int], replacing: UnsafeMutablePointer<Float>? = nil,
                updated: (Range<Int>) -> Void = { _ in }) -> ParameterSquares {
        precondition(ends.last == parameterCount, "Optimizer: the pieces must cover the parameter block")
        step += 1
        let factors = factors(lr: lr)
        return ParameterSquares(new: theta, old: old, ends: ends, replacing: replacing) { range in
            apply(parameters: theta, gradients: g, factors: factors, range: range)
            updated(range)
        }
    }

    /// The Float factors of one step, computed once per step (not per range of `apply`).
    private struct Factors {
        var rate: Float
        var wd: Float
        /// Adam's bias corrections 1 - beta^step (1 for SGD).
        var correction1: Float
        var correction2: Float
    }

    /// The factors of the current `step` at learning rate `lr`.
    private func factors(lr: Double) -> Factors {
        let adam = spec.kind != .sgd
        return Factors(rate: Float(lr), wd: Float(spec.weightDecay),
                       correction1: adam ? Float(1 - pow(spec.beta1, Double(step))) : 1,
                       correction2: adam ? Float(1 - pow(spec.beta2, Double(step))) : 1)
    }

    /// The update of `parameters[range]` at the current `step` (element by element, so any split
    /// of the block into ranges gives the same bits).
    private func apply(parameters theta: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, factors: Factors,
                       range: Range<Int>) {
        let rate = factors.rate
        let wd = factors.wd
        switch spec.kind {
        case .sgd:
            if spec.momentum == 0 {
                for i in range { theta[i] -= rate * (g[i] + wd * theta[i]) }
            } else {
                let mu = Float(spec.momentum)
                let v = first.pointer
                if spec.nesterov {
                    for i in range {
                        let gi = g[i] + wd * theta[i]
                        v[i] = mu * v[i] + gi
                        theta[i] -= rate * (gi + mu * v[i])
                    }
                } else {
                    for i in range {
                        v[i] = mu * v[i] + (g[i] + wd * theta[i])
                        theta[i] -= rate * v[i]
                    }
                }
            }
        case .adam, .adamw:
            let adam = AdamStep(spec: spec, factors: factors)
            let m = first.pointer, v = second.pointer
            // 16 elements at a time, then the rest one by one: the same operations per element.
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                adam.apply16(theta + i, g + i, m + i, v + i)
                i += 16
            }
            adam.apply(theta: theta, g: g, m: m, v: v, range: i..<range.upperBound)
        }
    }

    /// The element-wise update of every element of `range` one by one (`AdamStep.apply`) for Adam
    /// and AdamW; tests hold `update`'s vector path to it.
    func adamReference(parameters theta: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, lr: Double,
                       range: Range<Int>) {
        step += 1
        AdamStep(spec: spec, factors: factors(lr: lr)).apply(theta: theta, g: g, m: first.pointer, v: second.pointer, range: range)
    }

    /// One Adam or AdamW step's element-wise update, with its Float constants:
    ///     θ ← θ · shrink;  g' = g + l2 θ;  m ← β1 m + (1 - β1) g';  v ← β2 v + ((1 - β2) g') g';
    ///     θ ← θ - (rate m̂) / (sqrt(v̂) + ε),  m̂ = m / c1,  v̂ = v / c2,
    /// with shrink = 1 - rate wd, l2 = 0 for AdamW, shrink = 1, l2 = wd for Adam. Every operation is
    /// a separately rounded IEEE one (Swift does not fuse a * b + c), so the 16-lane form gives each
    /// element the bits of the scalar form. Why both: the scalar loop stayed scalar (its square
    /// root and divisions), and took 48% of an untracked `mlp:784-256-256-10` Adam step.
    private struct AdamStep {
        let rate: Float, b1: Float, b2: Float, eps: Float, c1: Float, c2: Float, l2: Float, shrink: Float

        init(spec: OptimizerSpec, factors: Factors) {
            let decoupled = spec.kind == .adamw
            rate = factors.rate
            (b1, b2, eps) = (Float(spec.beta1), Float(spec.beta2), Float(spec.eps))
            (c1, c2) = (factors.correction1, factors.correction2)
            l2 = decoupled ? 0 : factors.wd
            shrink = decoupled ? 1 - factors.rate * factors.wd : 1
        }

        @inline(__always)
        func apply(theta: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                   v: UnsafeMutablePointer<Float>, range: Range<Int>) {
            for i in range {
                theta[i] *= shrink
                let gi = g[i] + l2 * theta[i]
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                let mHat = m[i] / c1
                let vHat = v[i] / c2
                theta[i] -= rate * mHat / (vHat.squareRoot() + eps)
            }
        }

        @inline(__always)
        func apply16(_ theta: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                     _ v: UnsafeMutablePointer<Float>) {
            let t = load16(theta) * shrink
            let gi = load16(g) + l2 * t
            let mNew = b1 * load16(m) + (1 - b1) * gi
            let vNew = b2 * load16(v) + (1 - b2) * gi * gi
            store16(mNew, m)
            store16(vNew, v)
            let mHat = mNew / c1, vHat = vNew / c2
            store16(t - rate * mHat / (squareRoot16(vHat) + eps), theta)
        }
    }
}

/// A spec that does not describe a valid trial; the message names the key and what was expected.
public struct SpecError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
