/// The geometric instruments of a trial, run at each recorded iteration (docs/numerics.md):
/// stability margins (from the recorded probe pass itself), flip sensitivity, the null model at its
/// iterations, and the lag distances; their state is the lag snapshots (checkpointed).
final class ProbeInstruments {
    let margins: MarginMeter
    let feeding: [Int]
    let lags: [LagSnapshot]
    let nullModel: NullModel
    /// Whether rows get margins, flip sensitivity and lag distances (always, except in
    /// `regime bench`, which times the loop without them; their columns are then empty).
    var geometry = true {
        didSet {
            guard !geometry else { return }
            margins.release()
            for lag in lags { lag.release() }
        }
    }

    init(spec: TrialSpec, network: Network, probeCount: Int) {
        let units = network.patternLayers.map(\.unitsPerExample)
        margins = MarginMeter(exampleCount: probeCount, unitsPerExample: units)
        feeding = network.feedingParameterCounts
        lags = LagSnapshot.lags.map {
            LagSnapshot(lag: $0, parameterCount: network.parameterCount, exampleCount: probeCount, unitsPerExample: units)
        }
        nullModel = NullModel(spec: spec.nullModel ?? NullModelSpec(), trialIterations: spec.iterations,
                              recordEvery: spec.recordEvery, parameterCount: network.parameterCount, exampleCount: probeCount,
                              unitsPerExample: units)
    }

    /// Bytes beyond the trainer's own (for the memory estimate): the margin meter, two lag
    /// snapshots (parameters and patterns) and the null model's patterns.
    static func bytes(parameterCount: Int, probeCount: Int, unitsPerExample: [Int]) -> Int {
        let patternBytes = unitsPerExample.reduce(0) { $0 + 8 * probeCount * (($1 + 63) / 64) }
        return MarginMeter.bytes(exampleCount: probeCount, unitsPerExample: unitsPerExample)
            + LagSnapshot.lags.count * (4 * parameterCount + patternBytes)
            + NullModel.bytes(patternBytes: patternBytes)
    }

    /// The lag snapshots start at the initial state.
    func start(parameters: FloatBuffer, patterns: PatternSet) {
        for lag in lags { lag.take(iteration: 0, parameters: parameters, patterns: patterns) }
    }

    /// The recorded probe pass: `pass(meter)` runs it, through the margin meter when one is given
    /// (nil while `geometry` is off); returns the margins, for `record`. The pass may run twice
    /// (`MarginMeter.measure`); it then stores the same patterns again.
    func measure(_ pass: (MarginMeter?) -> Void) -> Margins? {
        guard geometry else { pass(nil); return nil }
        return margins.measure { pass(margins) }
    }

    /// Appends row t: `current`/`currentPatterns` are θ_t and its patterns, `margins` its probe
    /// pass's (`measure`), `previous`/`previousPatterns` the previous recorded state (`previous`
    /// is read only at the null model's iterations; at the others it may already hold θ_t), `update`,
    /// `squares` and `change` the row's weight update, its sums (pieces ending at every feeding
    /// prefix: flip sensitivity's) and pattern change between them. `measure` runs a probe pass of
    /// other parameters (the null model's, built in `scratch`: a parameter block free until the
    /// next backward pass, the trainer's gradients).
    func record(iteration t: Int, seed: UInt64, into columns: inout ProbeColumns, network: Network, scratch: FloatBuffer,
                margins m: Margins?, current: FloatBuffer, currentPatterns: PatternSet, previous: FloatBuffer, previousPatterns: PatternSet,
                update: WeightUpdate, squares: ParameterSquares, change: (global: Double, perLayer: [Double]),
                measure: (UnsafePointer<Float>, PatternSet) -> Void) {
        for d in columns.margin.indices {
            columns.margin[d].append(m?.global[d])
            for l in columns.layerMargin[d].indices { columns.layerMargin[d][l].append(m?.perLayer[d][l]) }
        }
        let flips = geometry ? FlipSensitivity(patternChange: change, squares: squares, feeding: feeding) : nil
        columns.flipSensitivity.append(flips?.global ?? nil)
        for l in columns.layerFlipSensitivity.indices { columns.layerFlipSensitivity[l].append(flips?.perLayer[l] ?? nil) }

        var null: (global: Double, perLayer: [Double])?
        if nullModel.iterations.contains(t) {
            null = nullModel.measure(seed: seed, iteration: t, previous: previous.pointer, groups: network.parameterGroups,
                                     groupNorms: update.layerAbs, previousPatterns: previousPatterns, scratch: scratch,
                                     measure: measure)
        }
        func excess(_ actual: Double, _ chance: Double?) -> Double? { chance.flatMap { $0 > 0 ? actual / $0 : nil } }
        columns.nullPatternChange.append(null?.global)
        columns.excessFlips.append(excess(change.global, null?.global))
        for l in columns.layerNullPatternChange.indices {
            columns.layerNullPatternChange[l].append(null?.perLayer[l])
            columns.layerExcessFlips[l].append(excess(change.perLayer[l], null?.perLayer[l]))
        }

        let distances = lags.map { lag in
            !geometry ? nil : lag.observe(iteration: t, parameters: current, patterns: currentPatterns, groups: network.parameterGroups,
                                        cuts: feeding)
        }
        for (k, d) in distances.enumerated() {
            columns.patternChangeLag[k].append(d?.patternChange)
            columns.weightUpdateAbsLag[k].append(d?.weightUpdateAbs)
            columns.weightUpdateRelLag[k].append(d?.weightUpdateRel)
        }
        columns.layerLags?.append(distances)
    }
}
