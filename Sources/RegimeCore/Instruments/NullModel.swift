import Foundation

/// The `null_model` trial setting: at how many recorded iterations the null model runs and how many
/// random directions it averages (docs/numerics.md, "Null model").
///
/// Identity: the defaults (64 points, 4 draws) are no setting at all (``setting(points:draws:)``
/// returns nil and the spec encodes nothing), so adding the null model renamed no trial.
public struct NullModelSpec: Codable, Hashable, Sendable {
    /// Recorded iterations measured, at most: 64 points give the curve of excess flips a point per
    /// 1.5% of the run on average (denser early, below) at a bounded cost of points x draws probe passes.
    public static let defaultPoints = 64
    /// Random directions per point: the mean of 4 has half the sampling sd of one draw; the
    /// spread between the draws (the same pattern change's sd) is far below the change itself on
    /// a 512-example probe (tested: excess flips of a Gaussian update within 3 standard errors of 1).
    public static let defaultDraws = 4

    public var points: Int
    public var draws: Int

    public init(points: Int = NullModelSpec.defaultPoints, draws: Int = NullModelSpec.defaultDraws) {
        self.points = points
        self.draws = draws
    }

    /// nil when both are the defaults (the same trial as no setting).
    public static func setting(points: Int = defaultPoints, draws: Int = defaultDraws) -> NullModelSpec? {
        points == defaultPoints && draws == defaultDraws ? nil : NullModelSpec(points: points, draws: draws)
    }

    /// The error names the key. `points: 0` switches the null model off.
    public func validate() throws {
        guard points >= 0 else { throw SpecError("null_model.points: expected 0 (off) or a positive integer, got \(points)") }
        guard draws > 0 else { throw SpecError("null_model.draws: expected a positive integer, got \(draws)") }
    }

    /// The recorded iterations at which the null model runs, for a trial of `iterations` steps
    /// recorded every `recordEvery`: with R recorded rows (row j at iteration (j+1)·recordEvery,
    /// the last at `iterations`) and N = `points`, the rows `floor((R-1) i^2 / (N-1)^2)` for
    /// i = 0..N-1, without repeats (all rows when R <= N; the last row for N = 1). Quadratic
    /// spacing puts about a third of the points in the first tenth of the run, where patterns move
    /// fastest, and still covers the end; integer arithmetic makes it exact on every machine.
    public func iterations(total iterations: Int, recordEvery: Int) -> [Int] {
        guard points > 0 else { return [] }
        let full = iterations / recordEvery
        let rowCount = full + (iterations % recordEvery == 0 ? 0 : 1)
        func iteration(ofRow j: Int) -> Int { j < full ? (j + 1) * recordEvery : iterations }
        if rowCount <= points { return (0..<rowCount).map(iteration(ofRow:)) }
        if points == 1 { return [iterations] }
        let last = rowCount - 1, n = points - 1
        var rows: [Int] = []
        for i in 0...n {
            let (high, low) = last.multipliedFullWidth(by: i * i)
            let row = (n * n).dividingFullWidth((high, low)).quotient
            if rows.last != row { rows.append(row) }
        }
        return rows.map(iteration(ofRow:))
    }
}

/// The null model (docs/numerics.md, "Null model"): how many flips an update of the same size per
/// layer, in a random direction, would cause.
///
/// At a null-model iteration t with previous recorded state θ_p (patterns π_p): for each draw
/// i = 1..m, every parameter group g gets an isotropic Gaussian direction n_g (one N(0, 1) per
/// parameter, drawn as Floats by `Xoshiro256.fillStandardNormal`) scaled to the norm of the actual update of that group,
/// `θ' = θ_p + n_g ||θ_t - θ_p||_g / ||n_g||`; the probe patterns of θ' are compared with π_p.
/// `null_pattern_change` is the mean of the m pattern changes (global and per layer). Draw i of
/// iteration t comes from the stream (trial seed, `nullModel`, t), drawn group by group in block
/// order, so the result depends on the spec and seed alone.
public final class NullModel {
    public let spec: NullModelSpec
    public let iterations: Set<Int>
    public let patterns: PatternSet

    public init(spec: NullModelSpec, trialIterations: Int, recordEvery: Int, parameterCount: Int, exampleCount: Int,
                unitsPerExample: [Int]) {
        self.spec = spec
        iterations = Set(spec.iterations(total: trialIterations, recordEvery: recordEvery))
        patterns = PatternSet(exampleCount: iterations.isEmpty ? 0 : exampleCount, unitsPerExample: unitsPerExample)
    }

    /// Bytes the model holds (for the memory estimate): one pattern set. The perturbed parameters
    /// live in the caller's scratch block (the trainer's gradient block, free between a step's
    /// update and the next backward pass, which overwrites it).
    public static func bytes(patternBytes: Int) -> Int { patternBytes }

    /// The mean pattern change of `spec.draws` random updates of θ_p (`previous`) with the per-group
    /// norms `groupNorms`, against the patterns `previousPatterns` of θ_p. `measure` runs the probe
    /// pass of the parameters it is given into the pattern set it is given. `scratch` holds a
    /// parameter block (overwritten).
    public func measure(seed: UInt64, iteration t: Int, previous: UnsafePointer<Float>, groups: [ParameterGroup],
                        groupNorms: [Double], previousPatterns: PatternSet, scratch: FloatBuffer,
                        measure: (UnsafePointer<Float>, PatternSet) -> Void) -> (global: Double, perLayer: [Double]) {
        var rng = Xoshiro256(seed: seed, stream: .nullModel, index: UInt64(t))
        var global = 0.0
        var perLayer = [Double](repeating: 0, count: previousPatterns.unitsPerExample.count)
        precondition(scratch.count >= (groups.last?.range.upperBound ?? 0))
        let p = scratch.pointer
        for _ in 0..<spec.draws {
            for (group, norm) in zip(groups, groupNorms) {
                rng.fillStandardNormal(p + group.range.lowerBound, count: group.range.count)
                let squares = MarginMeter.sumOfSquares(p + group.range.lowerBound, count: group.range.count)
                Self.step(p, from: previous, range: group.range, scale: squares > 0 ? norm / squares.squareRoot() : 0)
            }
            measure(UnsafePointer(p), patterns)
            let change = patterns.changeFractions(from: previousPatterns)
            global += change.global
            for l in perLayer.indices { perLayer[l] += change.perLayer[l] }
        }
        let m = Double(spec.draws)
        return (global / m, perLayer.map { $0 / m })
    }

    /// p[i] = Float(previous[i] + p[i] * scale) over `range`, in Double, 4 at a time.
    static func step(_ p: UnsafeMutablePointer<Float>, from previous: UnsafePointer<Float>, range: Range<Int>, scale: Double) {
        var i = range.lowerBound
        let s = SIMD4<Double>(repeating: scale)
        while i + 4 <= range.upperBound {
            let x = loadWidened4(p + i), y = loadWidened4(previous + i)
            let v = y + x * s
            UnsafeMutableRawPointer(p + i).storeBytes(of: SIMD4<Float>(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3])),
                                                      as: SIMD4<Float>.self)
            i += 4
        }
        while i < range.upperBound { p[i] = Float(Double(previous[i]) + Double(p[i]) * scale); i += 1 }
    }
}
