import Foundation
import XCTest
@testable import RegimeCore

/// The geometric instruments against the independent float64 NumPy reference
/// (`scripts/reference/instruments.py`, `Golden/instruments.json`) on a tiny MLP, CNN and ViT:
/// margin counts, pattern-change counts and lag pattern changes exactly (the reference chose its
/// seeds so that no pre-activation lies within 2e-5 s_l of 0 or of a threshold, 20x the float32
/// error of these small networks); s_l to 1e-5 relative (float32 pre-activations); the feeding
/// prefixes' relative updates, the flip sensitivities and the lag weight distances to 1e-12
/// relative (the same float32 parameters, summed in Double in another order), globally and per
/// pattern layer / parameter group.
final class InstrumentGoldenTests: XCTestCase {
    struct File: Decodable { var cases: [Case] }
    struct Case: Decodable {
        var arch: String
        var probe_size: Int
        var lag: Int
        var pairs: [Int]
        var feeding: [Int]
        var probe_x: [Double]
        var states: [[Double]]
        var margins: [MarginRecord]
        var steps: [Step]
        var lags: [Lag]
    }
    struct MarginRecord: Decodable { var t: Int; var rms: [Double]; var counts: [[Int]] }
    struct Step: Decodable {
        var t: Int
        var pattern_diff_counts: [Int]
        var feeding_update_rel: [Double]
        var flip_sensitivity: [Double]
        var flip_sensitivity_global: Double
    }
    struct Lag: Decodable {
        var t: Int
        var pattern_diff_counts: [Int]
        var pattern_change: Double
        var weight_update_abs: Double
        var weight_update_rel: Double
        var layer_pattern_change: [Double]
        var layer_weight_update_abs: [Double]
        var layer_weight_update_rel: [Double]
    }

    func testInstrumentsMatchTheReference() throws {
        let file = try EngineTestKit.loadGolden(File.self, "instruments.json")
        XCTAssertEqual(file.cases.map { $0.arch.prefix(3) }, ["mlp", "cnn", "vit"])
        for c in file.cases {
            let network = try Architecture(parsing: c.arch).makeNetwork()
            let units = network.patternLayers.map(\.unitsPerExample)
            let P = c.probe_size
            XCTAssertEqual(units.map { $0 * P }, c.pairs, c.arch)
            XCTAssertEqual(network.feedingParameterCounts, c.feeding, "\(c.arch): the parameters that feed each pattern layer")
            let probe = c.probe_x.map(Float.init)
            let states = c.states.map { FloatBuffer($0.map(Float.init)) }
            var patterns: [PatternSet] = [], margins: [Margins] = []
            // One meter over the states, as in a trial: the first pass runs twice, the later ones
            // count in the bands the previous one set, where they hold.
            let meter = MarginMeter(exampleCount: P, unitsPerExample: units)
            for state in states {
                let set = PatternSet(exampleCount: P, unitsPerExample: units)
                margins.append(meter.measure {
                    network.preActivationTap = meter.tap(chunkFirst: 0)
                    probe.withUnsafeBufferPointer { _ = network.forward(parameters: state.pointer, input: $0.baseAddress!, batch: P) }
                    network.preActivationTap = nil
                })
                network.recordPatterns(batch: P, into: set, firstExample: 0)
                patterns.append(set)
            }
            for record in c.margins {
                let m = margins[record.t]
                XCTAssertEqual(m.counts, record.counts, "\(c.arch) t=\(record.t): margin counts per delta and layer")
                EngineTestKit.assertClose(m.rms, record.rms, relative: 1e-5, absolute: 0, "\(c.arch) t=\(record.t) rms")
                XCTAssertEqual(m.global, record.counts.map { Double($0.reduce(0, +)) / Double(c.pairs.reduce(0, +)) })
            }
            for step in c.steps {
                let (new, old) = (states[step.t], states[step.t - 1])
                let counts = units.indices.map { patterns[step.t].differingPairs(layer: $0, from: patterns[step.t - 1]) }
                XCTAssertEqual(counts, step.pattern_diff_counts, "\(c.arch) step \(step.t): flips per layer")
                let s = FlipSensitivity(patternChange: patterns[step.t].changeFractions(from: patterns[step.t - 1]),
                                        new: new.pointer, old: old.pointer, feeding: network.feedingParameterCounts)
                EngineTestKit.assertClose(s.feedingUpdateRel, step.feeding_update_rel, relative: 1e-12, absolute: 0,
                                          "\(c.arch) step \(step.t) feeding update")
                EngineTestKit.assertClose(s.perLayer.map { $0! }, step.flip_sensitivity, relative: 1e-12, absolute: 0,
                                          "\(c.arch) step \(step.t) flip sensitivity")
                XCTAssertEqual(s.global!, step.flip_sensitivity_global, accuracy: 1e-12 * step.flip_sensitivity_global, c.arch)
            }
            let lag = LagSnapshot(lag: c.lag, parameterCount: network.parameterCount, exampleCount: P, unitsPerExample: units)
            lag.take(iteration: 0, parameters: states[0], patterns: patterns[0])
            var measured: [Int: LagSnapshot.Distance] = [:]
            for t in 1..<states.count {
                if let d = lag.observe(iteration: t, parameters: states[t], patterns: patterns[t], groups: network.parameterGroups,
                                          cuts: network.feedingParameterCounts) {
                    measured[t] = d
                }
            }
            XCTAssertEqual(measured.keys.sorted(), c.lags.map(\.t), c.arch)
            for record in c.lags {
                let d = try XCTUnwrap(measured[record.t])
                XCTAssertEqual(d.patternChange, record.pattern_change, "\(c.arch) lag at \(record.t)")
                XCTAssertEqual(d.weightUpdateAbs, record.weight_update_abs, accuracy: 1e-12 * record.weight_update_abs, c.arch)
                XCTAssertEqual(d.weightUpdateRel, record.weight_update_rel, accuracy: 1e-12 * record.weight_update_rel, c.arch)
                // Per layer: the pattern fractions exactly (counts over pairs), the group distances to 1e-12.
                XCTAssertEqual(d.layerPatternChange, record.layer_pattern_change, "\(c.arch) lag at \(record.t) per layer")
                XCTAssertEqual(d.layerPatternChange, zip(record.pattern_diff_counts, c.pairs).map { Double($0) / Double($1) })
                EngineTestKit.assertClose(d.layerWeightUpdateAbs, record.layer_weight_update_abs, relative: 1e-12, absolute: 0,
                                          "\(c.arch) lag at \(record.t) per group abs")
                EngineTestKit.assertClose(d.layerWeightUpdateRel, record.layer_weight_update_rel, relative: 1e-12, absolute: 0,
                                          "\(c.arch) lag at \(record.t) per group rel")
            }
        }
    }
}
