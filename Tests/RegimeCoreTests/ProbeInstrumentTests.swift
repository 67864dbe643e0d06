import Foundation
import XCTest
@testable import RegimeCore

/// The geometric instruments (docs/numerics.md): matched lags, stability margins, flip
/// sensitivity, lag distances and the null model, each against a ground truth.
final class ProbeInstrumentTests: XCTestCase {
    static func spec(arch: String = "mlp:32-16-8-10", iterations: Int = 120, recordEvery: Int = 1, seed: UInt64 = 1,
                     evalEvery: Int? = nil) -> TrialSpec {
        TrainerTests.syntheticSpec(arch: arch, optimizer: OptimizerSpec(kind: .adam, lr: 0.01), iterations: iterations,
                                   seed: seed, recordEvery: recordEvery, evalEvery: evalEvery ?? iterations)
    }

    /// The parameters after each step 0...iterations (a copy per step) of an ungated trial.
    static func trajectory(_ spec: TrialSpec) throws -> (trainer: Trainer, states: [[Float]]) {
        let trainer = try Trainer(spec: spec, data: TrainerTests.cache.prepare(spec.dataset))
        var states = [trainer.parameters.array]
        while !trainer.isFinished {
            try trainer.step()
            states.append(trainer.parameters.array)
        }
        return (trainer, states)
    }

    /// The weight update between two states of `network`, cut at its feeding prefixes as the trainer's.
    static func update(_ new: [Float], _ old: [Float], _ network: Network) -> WeightUpdate {
        new.withUnsafeBufferPointer { n in old.withUnsafeBufferPointer { o in
            WeightUpdate(new: n.baseAddress!, old: o.baseAddress!, groups: network.parameterGroups, cuts: network.feedingParameterCounts)
        } }
    }

    // MARK: Matched lags

    /// A row of a `record_every = 10` run measures the weights over the same 10 steps as its
    /// pattern change: it equals the lag-10 columns of the same trial recorded every step, and the
    /// last, shorter row spans iteration[last] - iteration[last - 1] steps.
    func testMatchedLagEqualsLagTenOfDenseRun() throws {
        let sparse = try TrainerTests.train(Self.spec(iterations: 125, recordEvery: 10, evalEvery: 250))
        let (dense, states) = try Self.trajectory(Self.spec(iterations: 125, recordEvery: 1, evalEvery: 250))
        XCTAssertEqual(sparse.parameters.array, dense.parameters.array)
        XCTAssertEqual(sparse.curve.iteration, Array(stride(from: 10, through: 120, by: 10)) + [125])
        let lag = try XCTUnwrap(dense.curve.probe), layerLag = try XCTUnwrap(lag.layerLags)
        for (row, t) in sparse.curve.iteration.enumerated() where t % 10 == 0 {
            XCTAssertEqual(sparse.curve.weightUpdateAbs[row], lag.weightUpdateAbsLag[0][t - 1], "iteration \(t)")
            XCTAssertEqual(sparse.curve.weightUpdateRel[row], lag.weightUpdateRelLag[0][t - 1], "iteration \(t)")
            XCTAssertEqual(sparse.curve.patternChange[row], lag.patternChangeLag[0][t - 1], "iteration \(t)")
            // Per layer: the same identity column by column.
            XCTAssertEqual(sparse.curve.layerWeightUpdateAbs.map { $0[row] }, layerLag.weightUpdateAbs[0].map { $0[t - 1] }, "iteration \(t)")
            XCTAssertEqual(sparse.curve.layerWeightUpdateRel.map { $0[row] }, layerLag.weightUpdateRel[0].map { $0[t - 1] }, "iteration \(t)")
            XCTAssertEqual(sparse.curve.layerPatternChange.map { $0[row] }, layerLag.patternChange[0].map { $0[t - 1] }, "iteration \(t)")
        }
        XCTAssertEqual(layerLag.weightUpdateAbs[0].count, 3, "one column per parameter group")
        XCTAssertEqual(layerLag.patternChange[0].count, 2, "one column per pattern layer")
        // Lag-10 columns are filled exactly at the multiples of 10 (and lag 100 at 100).
        XCTAssertEqual(lag.weightUpdateAbsLag[0].indices.filter { lag.weightUpdateAbsLag[0][$0] != nil }.map { $0 + 1 },
                       Array(stride(from: 10, through: 120, by: 10)))
        XCTAssertEqual(lag.patternChangeLag[1].indices.filter { lag.patternChangeLag[1][$0] != nil }.map { $0 + 1 }, [100])
        // The last row: steps 121...125.
        let last = Self.update(states[125], states[120], sparse.network)
        XCTAssertEqual(sparse.curve.weightUpdateAbs.last, last.abs)
        XCTAssertEqual(sparse.curve.layerWeightUpdateRel.map(\.last!), last.layerRel)
    }

    // MARK: Lag distances

    /// Triangle inequalities on a real trial: the lag-k pattern distance is at most the sum of the
    /// k one-step distances (Hamming distance, same denominator), and the lag-k weight distance at
    /// most the sum of the k one-step norms; both are also exact distances between the states.
    func testLagDistancesObeyTheTriangleInequality() throws {
        let (trainer, states) = try Self.trajectory(Self.spec(iterations: 200))
        let curve = trainer.curve, probe = try XCTUnwrap(curve.probe), layerLags = try XCTUnwrap(probe.layerLags)
        var checked = 0
        for (k, lag) in LagSnapshot.lags.enumerated() {
            for t in stride(from: lag, through: 200, by: lag) {
                let pattern = try XCTUnwrap(probe.patternChangeLag[k][t - 1]), weight = try XCTUnwrap(probe.weightUpdateAbsLag[k][t - 1])
                let steps = (t - lag)..<t
                XCTAssertLessThanOrEqual(pattern, steps.reduce(0) { $0 + curve.patternChange[$1] } + 1e-12, "lag \(lag) at \(t)")
                XCTAssertLessThanOrEqual(weight, steps.reduce(0) { $0 + curve.weightUpdateAbs[$1] } * (1 + 1e-12), "lag \(lag) at \(t)")
                let exact = Self.update(states[t], states[t - lag], trainer.network)
                XCTAssertEqual(weight, exact.abs)
                // Per layer: each pattern layer's and each parameter group's lag distance obeys its own triangle inequality.
                for (l, column) in layerLags.patternChange[k].enumerated() {
                    let layer = try XCTUnwrap(column[t - 1])
                    XCTAssertLessThanOrEqual(layer, steps.reduce(0) { $0 + curve.layerPatternChange[l][$1] } + 1e-12, "layer \(l) lag \(lag) at \(t)")
                }
                for (g, column) in layerLags.weightUpdateAbs[k].enumerated() {
                    let group = try XCTUnwrap(column[t - 1])
                    XCTAssertLessThanOrEqual(group, steps.reduce(0) { $0 + curve.layerWeightUpdateAbs[g][$1] } * (1 + 1e-12), "group \(g) lag \(lag) at \(t)")
                }
                XCTAssertEqual(layerLags.weightUpdateAbs[k].map { $0[t - 1] }, exact.layerAbs)
                XCTAssertEqual(layerLags.weightUpdateRel[k].map { $0[t - 1] }, exact.layerRel)
                checked += 1
            }
            // Strictly below somewhere: flips undo each other, steps are not aligned.
            XCTAssertTrue(stride(from: lag, through: 200, by: lag).contains { t in
                probe.patternChangeLag[k][t - 1]! < ((t - lag)..<t).reduce(0) { $0 + curve.patternChange[$1] } - 1e-12
            }, "lag \(lag)")
        }
        XCTAssertEqual(checked, 22)
    }

    /// Planted flip sequences: unit u of example e flips at the steps listed for it, the weights
    /// move by planted amounts; the lag distances are the planted counts and norms exactly.
    func testPlantedFlipSequencesGiveLagDistancesExactly() {
        let examples = 3, units = [70, 5]  // 70 units: two words per example, the second partial
        let groups = [ParameterGroup(name: "a", range: 0..<2), ParameterGroup(name: "b", range: 2..<3)]
        // Flips (step, layer, example, unit); (0, 0, 1, 3) flips at step 2 and back at step 7.
        let flips: [(Int, Int, Int, Int)] = [(2, 0, 1, 3), (7, 0, 1, 3), (4, 0, 2, 69), (5, 1, 0, 4), (9, 0, 0, 64),
                                             (13, 1, 2, 0), (15, 0, 2, 69), (18, 0, 0, 0), (20, 1, 1, 1)]
        var bits = units.map { [Bool](repeating: false, count: examples * $0) }
        var theta: [Float] = [1, 2, 3]
        let lag = LagSnapshot(lag: 10, parameterCount: 3, exampleCount: examples, unitsPerExample: units)
        func state() -> (FloatBuffer, PatternSet) {
            let patterns = PatternSet(exampleCount: examples, unitsPerExample: units)
            for (l, width) in units.enumerated() {
                let z = bits[l].map { $0 ? Float(1) : -1 }
                z.withUnsafeBufferPointer { patterns.store(layer: l, firstExample: 0, rows: examples, preActivations: $0.baseAddress!, width: width) }
            }
            return (FloatBuffer(theta), patterns)
        }
        let (p0, s0) = state()
        lag.take(iteration: 0, parameters: p0, patterns: s0)
        var measured: [Int: LagSnapshot.Distance] = [:]
        for t in 1...20 {
            for (step, l, e, u) in flips where step == t { bits[l][e * units[l] + u].toggle() }
            theta[t % 3] += Float(t)  // exact in Float
            let (p, s) = state()
            if let d = lag.observe(iteration: t, parameters: p, patterns: s, groups: groups, cuts: []) { measured[t] = d }
        }
        XCTAssertEqual(measured.keys.sorted(), [10, 20])
        let pairs = Double(examples * (70 + 5))
        // Steps 1-10: (1,3) flipped twice (no change), (2,69), layer-1 (0,4), (0,64): 3 pairs.
        XCTAssertEqual(measured[10]?.patternChange, 3 / pairs)
        // Steps 11-20: (2,0) layer 1, (2,69) back, (0,0), layer-1 (1,1): 4 pairs.
        XCTAssertEqual(measured[20]?.patternChange, 4 / pairs)
        // Weights: steps 1..10 add t to index t % 3 -> index0: 3+6+9 = 18, index1: 1+4+7+10 = 22, index2: 2+5+8 = 15.
        XCTAssertEqual(measured[10]?.weightUpdateAbs, Double(18 * 18 + 22 * 22 + 15 * 15).squareRoot())
        XCTAssertEqual(measured[10]?.weightUpdateRel, (Double(18 * 18 + 22 * 22 + 15 * 15) / 14).squareRoot())
        // Steps 11..20: index0: 12+15+18 = 45, index1: 13+16+19 = 48, index2: 11+14+17+20 = 62.
        XCTAssertEqual(measured[20]?.weightUpdateAbs, Double(45 * 45 + 48 * 48 + 62 * 62).squareRoot())
        // Per layer: layer 0 has 3 x 70 pairs, layer 1 3 x 5. Steps 1-10: (2,69), (0,64) in layer 0,
        // (0,4) in layer 1. Steps 11-20: (2,69) back, (0,0) in layer 0; (2,0), (1,1) in layer 1.
        XCTAssertEqual(measured[10]?.layerPatternChange, [2.0 / 210, 1.0 / 15])
        XCTAssertEqual(measured[20]?.layerPatternChange, [2.0 / 210, 2.0 / 15])
        // Groups a = indices 0, 1 and b = index 2; θ_0 = (1, 2, 3), θ_10 = (19, 24, 18).
        XCTAssertEqual(measured[10]?.layerWeightUpdateAbs, [Double(18 * 18 + 22 * 22).squareRoot(), 15])
        XCTAssertEqual(measured[10]?.layerWeightUpdateRel, [(Double(18 * 18 + 22 * 22) / 5).squareRoot(), (Double(15 * 15) / 9).squareRoot()])
        XCTAssertEqual(measured[20]?.layerWeightUpdateAbs, [Double(45 * 45 + 48 * 48).squareRoot(), 62])
        XCTAssertEqual(measured[20]?.layerWeightUpdateRel, [(Double(45 * 45 + 48 * 48) / Double(19 * 19 + 24 * 24)).squareRoot(),
                                                            (Double(62 * 62) / Double(18 * 18)).squareRoot()])
    }

    // MARK: Stability margins

    /// A probe whose pre-activations are a known grid: `mlp:1-1-2` with w = 1, b = 0 has z = x;
    /// x = k/100 for k = -100...100. s = sqrt(sum k^2 / 201) / 100 = 0.58023 and the margins count
    /// |k| < 0.58023, 1.7407, 5.8023: 1, 3 and 11 of 201 pairs, exactly.
    func testMarginsOnAKnownGrid() throws {
        let network = MLP(widths: [1, 1, 2])
        let parameters: [Float] = [1, 0, 0.5, -0.5, 0, 0]
        let x = (-100...100).map { Float($0) / 100 }
        let meter = MarginMeter(exampleCount: x.count, unitsPerExample: [1])
        // Two chunks, as the trainer's probe pass runs them.
        let m = meter.measure {
            for (first, rows) in [(0, 150), (150, 51)] {
                network.preActivationTap = meter.tap(chunkFirst: first)
                x.withUnsafeBufferPointer { input in
                    parameters.withUnsafeBufferPointer { _ = network.forward(parameters: $0.baseAddress!, input: input.baseAddress! + first, batch: rows) }
                }
            }
        }
        var squares = 0.0
        for v in x { squares += Double(v) * Double(v) }
        let s = (squares / 201).squareRoot()
        XCTAssertEqual(m.rms[0], s, accuracy: 1e-15)
        XCTAssertEqual(m.counts.map { $0[0] }, [1, 3, 11])
        XCTAssertEqual(m.global, [1.0 / 201, 3.0 / 201, 11.0 / 201])
        XCTAssertEqual(m.perLayer.map { $0[0] }, m.global)
        // The Float comparison limit is exact at a boundary: |z| = c itself is not counted.
        XCTAssertEqual(MarginMeter.floatLimit(0.5), 0.5)
        XCTAssertEqual(MarginMeter.floatLimit(Double(Float(0.1)).nextUp), Float(0.1).nextUp)
    }

    /// The tap hands over the real pre-activations in every architecture (negative values
    /// included, where the CNN and ViT store ReLU outputs), the pass with the tap computes the same
    /// logits and patterns as without, z > 0 is the pattern bit, and `PatternSet.tap` stores it.
    func testTapGivesPreActivationsOfTheSamePass() throws {
        for arch in ["mlp:16-12-8-3", "cnn:1x8x8-c4k3-p-c6k3-fc5-3", "vit:1x8x8-p4-d8-h2-l2-3"] {
            let network = try Architecture(parsing: arch).makeNetwork()
            var rng = Xoshiro256(seed: 9)
            let parameters = FloatBuffer(count: network.parameterCount)
            network.initialize(parameters: parameters.pointer, rng: &rng)
            for i in 0..<network.parameterCount where parameters[i] == 0 { parameters.pointer[i] = Float(rng.nextNormal() * 0.1) }
            let batch = 5
            let input = EngineTestKit.normals(batch * network.architecture.inputSize, &rng)
            let units = network.patternLayers.map(\.unitsPerExample)
            let plain = PatternSet(exampleCount: batch, unitsPerExample: units)
            let tapped = PatternSet(exampleCount: batch, unitsPerExample: units)
            // The tapped values, as delivered.
            var tappedZ = units.map { [Float](repeating: .nan, count: batch * $0) }
            let collect: PreActivationTap = { layer, first, rows, z in
                let width = units[layer]
                for k in 0..<(rows * width) { tappedZ[layer][first * width + k] = z[k] }
            }
            let meter = MarginMeter(exampleCount: batch, unitsPerExample: units)
            let logits = input.withUnsafeBufferPointer { x -> [Float] in
                let out = network.forward(parameters: parameters.pointer, input: x.baseAddress!, batch: batch)
                network.recordPatterns(batch: batch, into: plain, firstExample: 0)
                return Array(UnsafeBufferPointer(start: out, count: batch * 3))
            }
            network.preActivationTap = collect
            let tappedLogits = input.withUnsafeBufferPointer { x -> [Float] in
                let out = network.forward(parameters: parameters.pointer, input: x.baseAddress!, batch: batch)
                network.recordPatterns(batch: batch, into: tapped, firstExample: 0)
                return Array(UnsafeBufferPointer(start: out, count: batch * 3))
            }
            network.preActivationTap = nil
            XCTAssertEqual(tappedLogits, logits, arch)
            XCTAssertEqual(tapped.words, plain.words, arch)
            // z > 0 is the bit: store the tapped z as patterns and compare.
            let fromZ = PatternSet(exampleCount: batch, unitsPerExample: units)
            var negative = 0
            for (l, width) in units.enumerated() {
                let z = tappedZ[l]
                negative += z.filter { $0 < 0 }.count
                z.withUnsafeBufferPointer { fromZ.store(layer: l, firstExample: 0, rows: batch, preActivations: $0.baseAddress!, width: width) }
            }
            XCTAssertEqual(fromZ.words, plain.words, arch)
            XCTAssertGreaterThan(negative, 0, "\(arch): pre-activations, not ReLU outputs")
            // PatternSet.tap, as the trainer's probe pass stores patterns (chunk by chunk, the margin
            // tap behind it or not), stores the bits recordPatterns stores after the pass.
            // The margin meter behind it, which needs each layer's examples in order: it gets them
            // (a pass out of order stops it), and its margins are those of the tapped values.
            for withMargins in [false, true] {
                let fromTap = PatternSet(exampleCount: batch, unitsPerExample: units)
                func pass() {
                    for (first, rows) in [(0, 2), (2, 3)] {
                        network.preActivationTap = fromTap.tap(chunkFirst: first, then: withMargins ? meter.tap(chunkFirst: first) : nil)
                        input.withUnsafeBufferPointer {
                            network.forwardPatterns(parameters: parameters.pointer, input: $0.baseAddress! + first * network.architecture.inputSize,
                                                    batch: rows)
                        }
                    }
                    network.preActivationTap = nil
                }
                if withMargins {
                    let m = meter.measure(pass)
                    XCTAssertEqual(m, MarginBandTests.naiveMargins(tappedZ, examples: batch), arch)
                } else {
                    pass()
                }
                XCTAssertEqual(fromTap.words, plain.words, "\(arch): PatternSet.tap, margins \(withMargins)")
            }
        }
    }

    // MARK: Flip sensitivity

    /// Planted: two pattern layers fed by the first 2 and 3 parameters; the ratios are the
    /// planted pattern changes over the prefixes' relative updates.
    func testFlipSensitivityDividesByTheFeedingPrefix() {
        let old: [Float] = [3, 4, 12, 5], new: [Float] = [3, 4.5, 12, 9]
        let s = old.withUnsafeBufferPointer { o in new.withUnsafeBufferPointer { n in
            FlipSensitivity(patternChange: (0.3, [0.2, 0.4]), new: n.baseAddress!, old: o.baseAddress!, feeding: [2, 3])
        } }
        // Prefix 2: |d| = 0.5, |old| = 5 -> 0.1. Prefix 3: 0.5 / 13.
        XCTAssertEqual(s.feedingUpdateRel, [0.1, 0.5 / 13])
        XCTAssertEqual(s.perLayer[0]!, 0.2 / 0.1, accuracy: 1e-15)
        XCTAssertEqual(s.perLayer[1]!, 0.4 / (0.5 / 13), accuracy: 1e-14)
        XCTAssertEqual(s.global!, 0.3 / (0.5 / 13), accuracy: 1e-14)
        let still = old.withUnsafeBufferPointer { o in
            FlipSensitivity(patternChange: (0, [0, 0]), new: o.baseAddress!, old: o.baseAddress!, feeding: [2, 3])
        }
        XCTAssertNil(still.global, "no update: undefined, not 0/0")
        XCTAssertEqual(MLP(widths: [4, 3, 2, 2]).feedingParameterCounts, [15, 23])
        let vit = try! Architecture(parsing: "vit:1x8x8-p4-d8-h2-l1-3").makeNetwork() as! VisionTransformer
        XCTAssertEqual(vit.feedingParameterCounts, [vit.blocks[0].f1B + 32])
    }

    // MARK: Null model

    /// The probe pass the null model takes: `network` over the `rows` examples of `probe`.
    static func probePass(_ network: Network, _ probe: [Float], rows: Int) -> (UnsafePointer<Float>, PatternSet) -> Void {
        { parameters, set in
            probe.withUnsafeBufferPointer { _ = network.forward(parameters: parameters, input: $0.baseAddress!, batch: rows) }
            network.recordPatterns(batch: rows, into: set, firstExample: 0)
        }
    }

    /// Rescaling each layer's W_l by c_l > 0 and b_l by c_1...c_l keeps every pattern (ReLU is
    /// positively homogeneous): pattern change 0, while the null model of an update of that size
    /// per layer flips units.
    func testPositiveRescalingFlipsNothingButItsNullModelDoes() throws {
        let network = MLP(widths: [6, 10, 8, 3])
        var rng = Xoshiro256(seed: 4)
        let old = FloatBuffer(count: network.parameterCount)
        network.initialize(parameters: old.pointer, rng: &rng)
        for i in 0..<old.count { old.pointer[i] += Float(rng.nextNormal() * 0.05) }
        let c: [Float] = [2, 0.5, 4]  // powers of two: the rescaled Floats are exact
        let new = FloatBuffer(count: network.parameterCount)
        var cumulative: Float = 1
        for (l, group) in network.parameterGroups.enumerated() {
            cumulative *= c[l]
            let biases = (group.range.upperBound - network.widths[l + 1])..<group.range.upperBound
            for i in group.range { new.pointer[i] = old[i] * (biases.contains(i) ? cumulative : c[l]) }
        }
        let probe = EngineTestKit.normals(64 * 6, &rng)
        let units = network.patternLayers.map(\.unitsPerExample)
        let patterns = Self.probePass(network, probe, rows: 64)
        let before = PatternSet(exampleCount: 64, unitsPerExample: units), after = PatternSet(exampleCount: 64, unitsPerExample: units)
        patterns(old.pointer, before)
        patterns(new.pointer, after)
        XCTAssertEqual(after.changeFractions(from: before).global, 0)
        let update = WeightUpdate(new: new.pointer, old: old.pointer, groups: network.parameterGroups)
        XCTAssertGreaterThan(update.rel, 0.5)
        let null = NullModel(spec: NullModelSpec(), trialIterations: 1, recordEvery: 1, parameterCount: network.parameterCount,
                             exampleCount: 64, unitsPerExample: units)
        let chance = null.measure(seed: 1, iteration: 1, previous: old.pointer, groups: network.parameterGroups,
                                  groupNorms: update.layerAbs, previousPatterns: before, scratch: FloatBuffer(count: network.parameterCount), measure: patterns)
        XCTAssertGreaterThan(chance.global, 0.05)
        XCTAssertTrue(chance.perLayer.allSatisfy { $0 > 0 })
    }

    /// An update that is itself an isotropic Gaussian per layer (the null hypothesis) gives excess
    /// flips of 1 within the sampling error: over 40 such updates, the mean actual change and the
    /// mean null change differ by less than 3 standard errors of the difference.
    func testNullModelOfAGaussianUpdateGivesExcessOne() throws {
        let network = MLP(widths: [8, 32, 16, 3])
        var rng = Xoshiro256(seed: 11)
        let old = FloatBuffer(count: network.parameterCount)
        network.initialize(parameters: old.pointer, rng: &rng)
        let probe = EngineTestKit.normals(128 * 8, &rng)
        let units = network.patternLayers.map(\.unitsPerExample)
        let patterns = Self.probePass(network, probe, rows: 128)
        let before = PatternSet(exampleCount: 128, unitsPerExample: units), after = PatternSet(exampleCount: 128, unitsPerExample: units)
        patterns(old.pointer, before)
        let norms = network.parameterGroups.map { 0.05 * Double($0.range.count).squareRoot() }
        let null = NullModel(spec: NullModelSpec(points: 1, draws: 4), trialIterations: 1, recordEvery: 1,
                             parameterCount: network.parameterCount, exampleCount: 128, unitsPerExample: units)
        var actual: [Double] = [], chance: [Double] = []
        let new = FloatBuffer(count: network.parameterCount)
        for trial in 0..<40 {
            // The "actual" update: a Gaussian direction per group with the same norms, from another stream.
            var draw = Xoshiro256(seed: 1000 + UInt64(trial))
            for (group, norm) in zip(network.parameterGroups, norms) {
                let g = group.range.map { _ in draw.nextNormal() }
                let length = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for (i, x) in zip(group.range, g) { new.pointer[i] = Float(Double(old[i]) + x * norm / length) }
            }
            patterns(new.pointer, after)
            actual.append(after.changeFractions(from: before).global)
            chance.append(null.measure(seed: 7, iteration: trial + 1, previous: old.pointer, groups: network.parameterGroups,
                                       groupNorms: norms, previousPatterns: before, scratch: FloatBuffer(count: network.parameterCount), measure: patterns).global)
        }
        func meanAndVariance(_ x: [Double]) -> (Double, Double) {
            let m = x.reduce(0, +) / Double(x.count)
            return (m, x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1))
        }
        let (ma, va) = meanAndVariance(actual), (mc, vc) = meanAndVariance(chance)
        let se = (va / 40 + vc / 40).squareRoot()
        XCTAssertGreaterThan(ma, 0.01, "the updates flip units")
        XCTAssertLessThan(abs(ma - mc), 3 * se, "excess flips \(ma / mc), mean actual \(ma), mean null \(mc), se \(se)")
        XCTAssertEqual(ma / mc, 1, accuracy: 0.1)
    }

    /// The null-model iterations: at most N, distinct, increasing, the first and last recorded
    /// iterations included, quadratic spacing (dense early); all rows of a short run.
    func testNullModelIterations() throws {
        let spec = NullModelSpec()
        let its = spec.iterations(total: 3000, recordEvery: 1)
        XCTAssertEqual(its.first, 1)
        XCTAssertEqual(its.last, 3000)
        XCTAssertEqual(its, its.sorted())
        XCTAssertEqual(Set(its).count, its.count)
        XCTAssertLessThanOrEqual(its.count, 64)
        XCTAssertGreaterThan(its.count, 56)
        XCTAssertGreaterThan(its.filter { $0 <= 300 }.count, 15, "about a third in the first tenth")
        XCTAssertEqual(spec.iterations(total: 25, recordEvery: 10), [10, 20, 25])
        XCTAssertEqual(NullModelSpec(points: 1).iterations(total: 100, recordEvery: 1), [100])
        XCTAssertEqual(NullModelSpec(points: 0).iterations(total: 100, recordEvery: 1), [])
        let sparse = NullModelSpec(points: 5).iterations(total: 1005, recordEvery: 10)
        XCTAssertEqual(sparse, [10, 70, 260, 570, 1005])
    }

    /// The default setting does not enter the canonical spec (ids unchanged); another does.
    func testNullModelSettingIdentity() throws {
        var spec = Self.spec()
        let id = spec.trialID
        XCTAssertFalse(spec.canonicalJSON.contains("null_model"))
        spec.nullModel = NullModelSpec()
        XCTAssertEqual(spec.trialID, id, "the defaults spelled out are no setting")
        spec.nullModel = NullModelSpec(points: 8, draws: 2)
        XCTAssertTrue(spec.canonicalJSON.contains(#""null_model":{"draws":2,"points":8}"#), spec.canonicalJSON)
        XCTAssertNotEqual(spec.trialID, id)
        let decoded = try JSONDecoder().decode(TrialSpec.self, from: Data(spec.canonicalJSON.utf8))
        XCTAssertEqual(decoded.nullModel, spec.nullModel)
        spec.nullModel = NullModelSpec(points: 8, draws: 0)
        XCTAssertThrowsError(try spec.validate()) { XCTAssertTrue("\($0)".contains("null_model.draws"), "\($0)") }
    }

    /// In a trial: the null model runs at its iterations only, excess flips there are the pattern
    /// change over the null change, and the result does not depend on anything but spec and seed
    /// (two trainers agree).
    func testNullModelInATrial() throws {
        var spec = Self.spec(iterations: 60)
        spec.nullModel = NullModelSpec(points: 6, draws: 2)
        let a = try TrainerTests.train(spec), b = try TrainerTests.train(spec, cache: DatasetCache())
        XCTAssertEqual(a.curve, b.curve)
        let probe = try XCTUnwrap(a.curve.probe)
        let expected = spec.nullModel!.iterations(total: 60, recordEvery: 1)
        XCTAssertEqual(a.curve.iteration.indices.filter { probe.nullPatternChange[$0] != nil }.map { a.curve.iteration[$0] }, expected)
        for (row, null) in probe.nullPatternChange.enumerated() {
            guard let null else { XCTAssertNil(probe.excessFlips[row]); continue }
            XCTAssertGreaterThan(null, 0)
            XCTAssertEqual(probe.excessFlips[row], a.curve.patternChange[row] / null)
        }
        // Margins are fractions, ordered by δ.
        for row in 0..<a.curve.count {
            XCTAssertLessThanOrEqual(probe.margin[0][row]!, probe.margin[1][row]!)
            XCTAssertLessThanOrEqual(probe.margin[1][row]!, probe.margin[2][row]!)
            XCTAssertGreaterThan(probe.margin[2][row]!, 0)
        }
    }
}
