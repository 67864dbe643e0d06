/// Multi-lag distances (docs/numerics.md, "Lag distances"): the pattern and weight distance
/// between the state at iteration t and at t - k, for k = 10 and 100, globally and per layer.
///
/// Bounded memory: one snapshot per lag (the parameters and the probe patterns of one iteration).
/// At a recorded iteration t that is a multiple of k the distance to the snapshot is measured when
/// the snapshot is of iteration t - k (the initial state for t = k), and the snapshot is then
/// replaced by the state at t. Every other row's lag-k columns are empty. With `record_every` r the
/// columns are therefore filled at the multiples of k when r divides k, and never otherwise.
/// Comparing lag-k with k times the one-step distance separates drift (close to k times) from
/// jitter (flips that undo each other: far below).
public final class LagSnapshot {
    /// The lags of the curve's columns: 10 and 100 steps, a decade apart, so the ratios cover the
    /// noise scale of single steps (10) and of the smoothing window of the decay analysis (25-100).
    public static let lags = [10, 100]

    public let lag: Int
    /// The iteration of the stored state (nil: none yet).
    public private(set) var iteration: Int?
    let parameterCount: Int, exampleCount: Int, unitsPerExample: [Int]
    /// The stored state, allocated by the first `take` (a trainer that never measures the lags
    /// holds none).
    private var state: (parameters: FloatBuffer, patterns: PatternSet)?
    public var parameters: FloatBuffer { storage.parameters }
    public var patterns: PatternSet { storage.patterns }

    public init(lag: Int, parameterCount: Int, exampleCount: Int, unitsPerExample: [Int]) {
        precondition(lag > 0)
        self.lag = lag
        self.parameterCount = parameterCount
        self.exampleCount = exampleCount
        self.unitsPerExample = unitsPerExample
    }

    private var storage: (parameters: FloatBuffer, patterns: PatternSet) {
        if let state { return state }
        let made = (FloatBuffer(count: parameterCount), PatternSet(exampleCount: exampleCount, unitsPerExample: unitsPerExample))
        state = made
        return made
    }

    /// Forgets the stored state and frees it.
    public func release() {
        state = nil
        iteration = nil
    }

    /// One lag's distances, global and per layer (pattern layers for the pattern change,
    /// parameter groups for the weight distances, as the one-step columns).
    public struct Distance: Equatable, Sendable {
        public var patternChange: Double
        public var weightUpdateAbs: Double
        public var weightUpdateRel: Double
        public var layerPatternChange: [Double]
        public var layerWeightUpdateAbs: [Double]
        public var layerWeightUpdateRel: [Double]
    }

    /// Stores the state of iteration t (copies).
    public func take(iteration t: Int, parameters new: FloatBuffer, patterns current: PatternSet) {
        parameters.copy(from: new)
        patterns.copy(from: current)
        iteration = t
    }

    /// Restores a snapshot saved in a checkpoint; false when the shapes do not match.
    public func restore(iteration t: Int?, parameters saved: [Float], patternWords: [[UInt64]]) -> Bool {
        guard t != nil else { release(); return true }
        guard saved.count == parameters.count, patterns.restore(words: patternWords) else { return false }
        parameters.copy(from: saved)
        iteration = t
        return true
    }

    /// At a recorded iteration t: the distance to the state of t - k when t is a multiple of k and
    /// that state is stored (then the snapshot moves to t), else nil (and, at a multiple of k, the
    /// snapshot still moves to t). `cuts`: the network's feeding prefixes, which the one-step
    /// weight update's sums are cut at too (`WeightUpdate`), so that the same states give the same bits.
    public func observe(iteration t: Int, parameters new: FloatBuffer, patterns current: PatternSet,
                        groups: [ParameterGroup], cuts: [Int]) -> Distance? {
        guard t % lag == 0 else { return nil }
        var distance: Distance?
        if iteration == t - lag {
            let update = WeightUpdate(new: new.pointer, old: parameters.pointer, groups: groups, cuts: cuts)
            let change = current.changeFractions(from: patterns)
            distance = Distance(patternChange: change.global, weightUpdateAbs: update.abs, weightUpdateRel: update.rel,
                                layerPatternChange: change.perLayer, layerWeightUpdateAbs: update.layerAbs,
                                layerWeightUpdateRel: update.layerRel)
        }
        take(iteration: t, parameters: new, patterns: current)
        return distance
    }
}
