import Foundation
@testable import RegimeAnalysis
@testable import RegimeCore
import XCTest

/// Settling to the final state (docs/numerics.md, "Settling to the final state"): the snapshot
/// schedule and the distance-to-final curves against the independent NumPy reference
/// (`Golden/settling.json`, written by scripts/reference/make_settling_golden.py from the tiny MLP,
/// CNN and ViT trajectories), and the settling times on planted sequences whose answer is known.
final class SettlingTests: XCTestCase {
    struct Golden: Decodable {
        struct Schedule: Decodable { var total: Int; var iterations: [Int] }
        struct Case: Decodable {
            var name: String
            var iterations: [Int]
            var pattern_distance: [Int]
            var pattern_distance_layers: [[Int]]
            var weight_distance: [Double]
            var weight_distance_layers: [[Double]]
            var settling: [String: TimingComparison]
        }
        struct Model: Decodable { var golden: String; var arch: String; var cases: [Case] }
        var fractions: [Double]
        var schedules: [Schedule]
        var models: [Model]
    }

    /// The trajectory goldens' parts that the settling golden was computed from.
    struct Trajectory: Decodable {
        struct Step: Decodable { var params: [Double] }
        struct Case: Decodable { var name: String; var steps: [Step] }
        var arch: String
        var probe_size: Int
        var init_params: [Double]
        var probe_x: [Double]
        var cases: [Case]
    }

    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func load<T: Decodable>(_ type: T.Type, _ url: URL) throws -> T {
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("golden file missing: \(url.path) (run scripts/reference/make_settling_golden.py)")
            throw CocoaError(.fileNoSuchFile)
        }
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    func golden() throws -> Golden { try Self.load(Golden.self, Self.goldenDirectory.appendingPathComponent("settling.json")) }

    func testScheduleMatchesTheReference() throws {
        let golden = try golden()
        XCTAssertFalse(golden.schedules.isEmpty)
        for schedule in golden.schedules {
            let swift = SettlingSchedule.iterations(total: schedule.total)
            if swift != schedule.iterations {
                let first = zip(swift, schedule.iterations).enumerated().first { $0.element.0 != $0.element.1 }
                XCTFail("T = \(schedule.total): \(swift.count) vs \(schedule.iterations.count) snapshots, first difference \(String(describing: first))")
            }
        }
    }

    func testScheduleIsBoundedAndCoversTheRun() {
        for T in [1, 2, 255, 256, 257, 300, 999, 1500, 3000, 6000, 20000, 1_000_000] {
            let s = SettlingSchedule.iterations(total: T)
            XCTAssertEqual(s.first, 0, "T = \(T)")
            XCTAssertEqual(s.last, T, "T = \(T)")
            XCTAssertEqual(s, s.sorted(), "T = \(T)")
            XCTAssertEqual(Set(s).count, s.count, "T = \(T)")
            XCTAssertGreaterThanOrEqual(s.count - 1, min(T, SettlingSchedule.minimumSnapshots), "T = \(T)")
            XCTAssertLessThanOrEqual(s.count - 1, 2 * SettlingSchedule.minimumSnapshots + 1, "T = \(T): bounded")
            if T > 1 { XCTAssertTrue(s.contains(1), "T = \(T): the log grid starts at 1") }
        }
    }

    /// Swift's distances (patterns by the engine's forward pass and PatternSet, weights by
    /// WeightUpdate) on the reference trajectories, and the settling times read off them, against
    /// the reference: pattern distances exactly, weight distances to 1e-6 of their initial value
    /// (the reference is float64, the engine holds the parameters as Float), times and ratios exactly.
    func testGoldenTrajectoriesMatchTheReference() throws {
        let golden = try golden()
        XCTAssertEqual(golden.models.map(\.arch).map { $0.prefix(3) }, ["mlp", "cnn", "vit"])
        var compared = 0
        for model in golden.models {
            let trajectory = try Self.load(Trajectory.self, Self.goldenDirectory.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("RegimeCoreTests/Golden").appendingPathComponent(model.golden))
            let network = try Architecture(parsing: model.arch).makeNetwork()
            let units = network.patternLayers.map(\.unitsPerExample)
            let P = trajectory.probe_size
            let probe = FloatBuffer(trajectory.probe_x.map(Float.init))
            XCTAssertEqual(trajectory.cases.map(\.name), model.cases.map(\.name))
            for (path, expected) in zip(trajectory.cases, model.cases) {
                let name = "\(model.arch) \(expected.name)"
                let thetas = [trajectory.init_params] + path.steps.map(\.params)
                let T = thetas.count - 1
                XCTAssertEqual(SettlingSchedule.iterations(total: T), expected.iterations, name)
                func patterns(_ theta: FloatBuffer) -> PatternSet {
                    let set = PatternSet(exampleCount: P, unitsPerExample: units)
                    _ = network.forward(parameters: theta.pointer, input: probe.pointer, batch: P)
                    network.recordPatterns(batch: P, into: set, firstExample: 0)
                    return set
                }
                let final = FloatBuffer(thetas[T].map(Float.init))
                let finalPatterns = patterns(final)
                var curve = SettlingCurve(layerNames: network.parameterGroups.map(\.name),
                                          patternLayerNames: network.patternLayers.map(\.name))
                for s in expected.iterations {
                    let theta = FloatBuffer(thetas[s].map(Float.init))
                    let set = patterns(theta)
                    curve.append(iteration: s, differingPairs: units.indices.map { set.differingPairs(layer: $0, from: finalPatterns) },
                                 weight: WeightUpdate(new: theta.pointer, old: final.pointer, groups: network.parameterGroups))
                }
                XCTAssertEqual(curve.patternDistance, expected.pattern_distance.map(Double.init), "\(name) pattern distance")
                XCTAssertEqual(curve.layerPatternDistance, transpose(expected.pattern_distance_layers, count: units.count).map { $0.map(Double.init) },
                               "\(name) pattern distance per layer")
                assertClose(curve.weightDistance, expected.weight_distance, "\(name) weight distance")
                for (l, column) in transpose(expected.weight_distance_layers, count: network.parameterGroups.count).enumerated() {
                    assertClose(curve.layerWeightDistance[l], column, "\(name) weight distance of group \(l)")
                }
                let times = SettlingTimes.comparisons(curve, fractions: golden.fractions)
                for q in golden.fractions {
                    XCTAssertEqual(times[SettlingTimes.key(q)], expected.settling[SettlingTimes.key(q)], "\(name) q = \(q)")
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, (8 + 3 + 3) * 6)
    }

    func transpose<T>(_ rows: [[T]], count: Int) -> [[T]] { (0..<count).map { k in rows.map { $0[k] } } }

    /// Within 1e-6 of the distance at initialisation (the column's first value): the engine's
    /// Float copy of θ is off the float64 reference by about 3e-8 per component, which is 1e-6 of
    /// the small last-step distances but far less of the distance scale of the curve.
    func assertClose(_ a: [Double], _ b: [Double], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, label, file: file, line: line)
        let scale = b.first ?? 0
        for (i, (x, y)) in zip(a, b).enumerated() where abs(x - y) > 1e-6 * scale {
            XCTFail("\(label): first difference at row \(i): swift \(x), reference \(y)", file: file, line: line)
            return
        }
    }

    // MARK: Ground truth

    /// Planted flips: every probe (example, unit) pair takes its final value at a planted
    /// iteration τ and has the opposite value before it; the weights approach θ_T on a straight
    /// line, θ_s = θ_T + (T − s)·v. The pattern distance at s is #{τ > s} and the weight distance
    /// (T − s)·||v||, so t_a(q) is the first snapshot with #{τ > s} <= q·N and t_w(q) the first
    /// snapshot s >= (1 − q)·T. T = 997 (prime) keeps q·T off the grid, so no comparison is a tie.
    func testPlantedFlipsAndWeightsGiveExactSettlingTimes() throws {
        let T = 997, examples = 12
        let units = [40, 23]
        var rng = Xoshiro256(seed: 99, stream: .initialization)
        let finalBits = units.map { u in (0..<(examples * u)).map { _ in rng.next() & 1 == 1 } }
        // Settling iterations of the pairs: most by 0.6 T, a tail up to 0.9 T.
        let tau = units.map { u in (0..<(examples * u)).map { _ in 1 + Int(rng.next() % UInt64(rng.next() & 7 == 0 ? 897 : 600)) } }
        let N = Double(units.reduce(0, +) * examples)
        func patterns(at s: Int) -> PatternSet {
            let set = PatternSet(exampleCount: examples, unitsPerExample: units)
            for (l, u) in units.enumerated() {
                var z = [Float](repeating: 0, count: examples * u)
                for k in z.indices { z[k] = (finalBits[l][k] == (tau[l][k] <= s)) ? 1 : -1 }
                z.withUnsafeBufferPointer { set.store(layer: l, firstExample: 0, rows: examples, preActivations: $0.baseAddress!, width: u) }
            }
            return set
        }
        let groups = [ParameterGroup(name: "a", range: 0..<30), ParameterGroup(name: "b", range: 30..<50)]
        let v: [Float] = (0..<50).map { Float(($0 % 7) - 3) / 8 }
        let final = FloatBuffer((0..<50).map { Float($0) / 4 })
        let finalPatterns = patterns(at: T)
        var curve = SettlingCurve(layerNames: groups.map(\.name), patternLayerNames: ["p1", "p2"])
        let snapshots = SettlingSchedule.iterations(total: T)
        for s in snapshots {
            let theta = FloatBuffer((0..<50).map { final[$0] + Float(T - s) * v[$0] })
            let set = patterns(at: s)
            curve.append(iteration: s, differingPairs: units.indices.map { set.differingPairs(layer: $0, from: finalPatterns) },
                         weight: WeightUpdate(new: theta.pointer, old: final.pointer, groups: groups))
        }
        for (k, s) in snapshots.enumerated() {
            XCTAssertEqual(curve.patternDistance[k], Double(tau.joined().filter { $0 > s }.count), "pattern distance at \(s)")
        }
        for q in [0.5, 0.2, 0.1, 0.05, 0.01] {
            let times = SettlingTimes.comparisons(curve, fractions: [q])[SettlingTimes.key(q)]!
            let expectedA = snapshots.first { s in Double(tau.joined().filter { $0 > s }.count) <= q * N }!
            let expectedW = snapshots.first { s in Double(T - s) <= q * Double(T) }!
            XCTAssertEqual(times.tA, expectedA == T ? .unavailable(.censored) : .time(Double(expectedA)), "t_a(\(q))")
            XCTAssertEqual(times.tW, expectedW == T ? .unavailable(.censored) : .time(Double(expectedW)), "t_w(\(q))")
            if case .time(let a) = times.tA, case .time(let w) = times.tW { XCTAssertEqual(times.ratio, .time(w / a)) }
        }
    }

    /// The rule on an explicit sequence: a later excursion above the bound moves the time past it,
    /// the bound is inclusive, only the end itself is censored, nothing to settle is not_applicable.
    func testRuleOnAnExplicitSequence() {
        let its = [0, 10, 20, 30, 40, 50, 60]
        let d: [Double] = [100, 60, 5, 8, 20, 3, 0]
        func t(_ q: Double, _ values: [Double] = d, _ iterations: [Int] = its) -> TimeEstimate {
            SettlingTimes.time(iterations: iterations, distances: values, fraction: q)
        }
        XCTAssertEqual(t(0.7), .time(10))
        XCTAssertEqual(t(0.5), .time(20))
        XCTAssertEqual(t(0.2), .time(20))   // 20 <= 0.2 * 100: the bound is inclusive
        XCTAssertEqual(t(0.1), .time(50))   // 5 at 20 is within, but 20 at 40 is not: settled after it
        XCTAssertEqual(t(0.01), .unavailable(.censored))  // only the end itself
        XCTAssertEqual(t(0.5, [0, 0, 0, 0, 0, 0, 0]), .unavailable(.notApplicable))
        XCTAssertEqual(t(0.5, d, [1, 10, 20, 30, 40, 50, 60]), .unavailable(.notApplicable))
        let c = TimingComparison(tW: t(0.1), tA: t(0.5))
        XCTAssertEqual(c.ratio, .time(2.5))
    }

    func testSettlingCurveCSVRoundTripsAndRefusesBadFiles() throws {
        var curve = SettlingCurve(layerNames: ["fc1", "fc2"], patternLayerNames: ["fc1"])
        let groups = [ParameterGroup(name: "fc1", range: 0..<2), ParameterGroup(name: "fc2", range: 2..<3)]
        let final = FloatBuffer([0.1, 0.2, 0.3])
        for (t, x) in [(0, Float(1.5)), (7, 0.7), (9, 0.3)] {
            let theta = FloatBuffer([x, 0.2, 0.3 + x])
            curve.append(iteration: t, differingPairs: [t == 9 ? 0 : 17 - t], weight: WeightUpdate(new: theta.pointer, old: final.pointer, groups: groups))
        }
        let text = curve.csv()
        XCTAssertTrue(text.hasPrefix("iteration,pattern_distance,weight_distance,pattern_distance.fc1,weight_distance.fc1,weight_distance.fc2\n0,17.0,"), text)
        XCTAssertEqual(try SettlingCurve(csv: text, file: "s.csv"), curve)
        let bad = text.replacingOccurrences(of: "\n7,", with: "\n0,")
        XCTAssertThrowsError(try SettlingCurve(csv: bad, file: "s.csv")) { XCTAssertTrue("\($0)".hasPrefix("s.csv: line 3:"), "\($0)") }
        let negative = text.replacingOccurrences(of: "\n7,10.0,", with: "\n7,-1.0,")
        XCTAssertThrowsError(try SettlingCurve(csv: negative, file: "s.csv")) { XCTAssertTrue("\($0)".contains("pattern_distance"), "\($0)") }
    }

    // MARK: Options and the definition table

    func testOptionsDefaultValidateAndDecode() throws {
        XCTAssertEqual(AnalysisOptions().settling, [0.5, 0.2, 0.1, 0.05])
        XCTAssertEqual(try JSONDecoder().decode(AnalysisOptions.self, from: Data("{}".utf8)).settling, [0.5, 0.2, 0.1, 0.05])
        for bad in [[], [0.5, 1.5], [0.0], [0.1, 0.1], [Double.nan]] {
            var options = AnalysisOptions()
            options.settling = bad
            XCTAssertThrowsError(try options.validate(), "\(bad)") { XCTAssertEqual(($0 as? AnalysisOptionsError)?.key, "settling") }
        }
    }

    /// Trials with settling curves add one definition per q, with the ratio statistics of every
    /// other definition and never "transient" (no reference window); trials without add none.
    func testSettlingJoinsTheDefinitionTable() throws {
        var options = AnalysisOptions(smoothing: 1, normalization: .earlyPeak(window: 50, skip: 0))
        options.settling = [0.5, 0.1]
        let groups = [ParameterGroup(name: "fc1", range: 0..<1)]
        let final = FloatBuffer([0])
        var analyses: [TrialAnalysis] = []
        for seed in 1...6 {
            var curve = Curve(layerNames: ["fc1"], patternLayerNames: ["fc1"])
            for t in 1...200 {
                curve.iteration.append(t); curve.loss.append(1); curve.lr.append(0.1)
                curve.weightUpdateAbs.append(exp(-Double(t) / 50)); curve.weightUpdateRel.append(exp(-Double(t) / 50))
                curve.patternChange.append(exp(-Double(t) / 20)); curve.patternChangeInit.append(0); curve.valAccuracy.append(nil)
                curve.layerWeightUpdateAbs[0].append(0); curve.layerWeightUpdateRel[0].append(0)
                curve.layerPatternChange[0].append(0); curve.layerPatternChangeInit[0].append(0)
            }
            // Patterns settle 3 + seed/10 times earlier than weights: distances e^{-t/τ}.
            var settling = SettlingCurve(layerNames: ["fc1"], patternLayerNames: ["fc1"])
            for t in SettlingSchedule.iterations(total: 200) {
                let theta = FloatBuffer([Float(t == 200 ? 0 : exp(-Double(t) / 40))])
                let pairs = t == 200 ? 0 : Int((1000 * exp(-Double(t) * (3 + Double(seed) / 10) / 40)).rounded())
                settling.append(iteration: t, differingPairs: [pairs], weight: WeightUpdate(new: theta.pointer, old: final.pointer, groups: groups))
            }
            analyses.append(TrialAnalysis(trialID: "s\(seed)", curve: curve, settling: settling, options: options))
        }
        let table = SweepSummary.definitions(analyses, runLengths: analyses.map { _ in 200 }, options: options)
        let settlingRows = table.filter { $0.definition.hasPrefix("settling ") }
        XCTAssertEqual(settlingRows.map(\.definition), ["settling 0.5", "settling 0.1"])
        for row in settlingRows {
            XCTAssertFalse(row.transient)
            XCTAssertEqual(row.ratio.bothMeasured, 6)
            let median = try XCTUnwrap(row.ratio.median.median)
            XCTAssertGreaterThan(median, 2.5, row.definition)
            XCTAssertLessThan(median, 4, row.definition)
            XCTAssertEqual(row.call, .yes, row.definition)
        }
        let without = analyses.map { TrialAnalysis(trialID: $0.trialID, timing: $0.timing, timingLRNormalized: $0.timingLRNormalized) }
        XCTAssertFalse(SweepSummary.definitions(without, runLengths: without.map { _ in 200 }, options: options)
            .contains { $0.definition.hasPrefix("settling") })
    }
}
