import Foundation
import RegimeCore
import XCTest
@testable import Coordinator
@testable import RegimeReport
@testable import RegimeAnalysis
@testable import SweepStore
@testable import RegimeMPI
@testable import Worker

/// The statistics a sweep reduces over MPI must equal a single-process computation.
final class SummaryTests: XCTestCase {
    func curve(_ seed: UInt64, length: Int) -> Curve {
        var rng = Xoshiro256(seed: seed, stream: 99)
        var c = Curve(layerNames: ["fc1", "fc2"], patternLayerNames: ["fc1"])
        for i in 0..<length {
            c.iteration.append(i + 1)
            c.loss.append(2 * exp(-Double(i) / 30) + 0.1 * rng.nextUnitDouble())
            c.lr.append(0.1)
            c.weightUpdateAbs.append(0.01 * rng.nextUnitDouble())
            c.weightUpdateRel.append(1e-3 * exp(-Double(i) / 50) * (1 + 0.2 * rng.nextNormal()))
            c.patternChange.append(0.05 * exp(-Double(i) / 10) * rng.nextUnitDouble())
            c.patternChangeInit.append(min(1, Double(i) / 100))
            c.valAccuracy.append(nil)
        }
        // The geometric instruments' columns: values, with gaps where a column is not measured.
        var probe = ProbeColumns(patternLayerCount: 1, parameterGroupCount: 2)
        func column(every: Int) -> [Double?] { (0..<length).map { i in (i + 1) % every == 0 ? rng.nextUnitDouble() : nil } }
        probe.margin = [column(every: 1), column(every: 1), column(every: 1)]
        probe.flipSensitivity = column(every: 1)
        probe.nullPatternChange = column(every: 3)
        probe.excessFlips = column(every: 3)
        probe.patternChangeLag = [column(every: 10), column(every: 100)]
        probe.weightUpdateAbsLag = [column(every: 10), column(every: 100)]
        probe.weightUpdateRelLag = [column(every: 10), column(every: 100)]
        // Per layer (drawn after the global columns, which keep their values).
        func values() -> [Double] { (0..<length).map { _ in rng.nextUnitDouble() } }
        c.layerWeightUpdateAbs = [values(), values()]
        c.layerWeightUpdateRel = [values(), values()]
        c.layerPatternChange = [values()]
        c.layerPatternChangeInit = [values()]
        probe.layerMargin = [[column(every: 1)], [column(every: 1)], [column(every: 1)]]
        probe.layerFlipSensitivity = [column(every: 1)]
        probe.layerNullPatternChange = [column(every: 3)]
        probe.layerExcessFlips = [column(every: 3)]
        probe.layerLags = LayerLagColumns(patternLayerCount: 1, parameterGroupCount: 2)
        probe.layerLags!.patternChange = [[column(every: 10)], [column(every: 100)]]
        probe.layerLags!.weightUpdateAbs = [[column(every: 10), column(every: 10)], [column(every: 100), column(every: 100)]]
        probe.layerLags!.weightUpdateRel = [[column(every: 10), column(every: 10)], [column(every: 100), column(every: 100)]]
        c.probe = probe
        return c
    }

    func testGroupCurvesEqualDirectComputation() throws {
        XCTAssertEqual(Array(CurveInstrument.allCases.map(\.rawValue).dropFirst(5)), ProbeColumns.globalNames,
                       "the group curves carry every global column of the geometric instruments")
        let sweep = try SweepFile.load(path: TestSupport.fixtures.appendingPathComponent("tiny.yaml").path)
        let groups = TrialGroup.make(sweep.trials)
        let length = groups[0].iterations.count
        let curves = sweep.trials.indices.map { curve(UInt64($0 + 1), length: length) }
        // Every per-layer instrument column of the curves, in the curve's column order.
        let layerColumns = ["weight_update_abs.fc1", "weight_update_abs.fc2", "weight_update_rel.fc1", "weight_update_rel.fc2",
                            "pattern_change.fc1", "pattern_change_init.fc1", "margin_0.01.fc1", "margin_0.03.fc1", "margin_0.1.fc1",
                            "flip_sensitivity.fc1", "null_pattern_change.fc1", "excess_flips.fc1"]
            + [10, 100].flatMap { k in
                ["pattern_change_lag\(k).fc1", "weight_update_abs_lag\(k).fc1", "weight_update_abs_lag\(k).fc2",
                 "weight_update_rel_lag\(k).fc1", "weight_update_rel_lag\(k).fc2"]
            }
        XCTAssertEqual(GroupCurves.layerColumns(curves), layerColumns)
        let names = CurveInstrument.allCases.map(\.rawValue) + layerColumns
        for group in groups {
            let table = GroupCurves(iterations: group.iterations, curves: group.trialIndices.map { curves[$0] }).table
            XCTAssertEqual(table.header, ["iteration"] + names.flatMap { ["\($0)_n", "\($0)_mean", "\($0)_sd"] })
            // The file round-trips exactly through the one CSV codec.
            XCTAssertEqual(try NumericCSV.parse(table.text(), file: "g.csv"), table)
            for name in names {
                for i in [0, 2, 7, 9, length - 1] {
                    let values = group.trialIndices.map { curves[$0].table.values(name)![i] }.filter(\.isFinite)
                    XCTAssertEqual(table.column("\(name)_n")![i], Double(values.count), "\(name) \(i)")
                    guard values.count > 1 else { continue }
                    let mean = values.reduce(0, +) / Double(values.count)
                    let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
                    XCTAssertEqual(table.column("\(name)_mean")![i]!, mean, accuracy: 1e-12 * max(abs(mean), 1e-300), "\(name) \(i)")
                    XCTAssertEqual(table.column("\(name)_sd")![i]!, sd, accuracy: 1e-9 * max(sd, 1e-300) + 1e-15, "\(name) sd \(i)")
                }
            }
        }
    }

    /// Ground truth for the per-layer columns of the group curves: three curves whose every column
    /// k (in the full header) holds seed x (k + 1) at every row, the first written before the
    /// per-layer lag distances (it has none of their columns). Seeds 1, 2, 3 give mean 2c and sd c
    /// exactly (c = k + 1); the per-layer lags, over seeds 2 and 3, mean 2.5c and sd c / sqrt(2).
    /// Layer names with a dot (a ViT's `block1.ffn`) are per-layer columns too, and the columns
    /// come in the order of the newest curve whichever curve comes first.
    func testGroupCurvesPerLayerColumnsOfKnownValues() throws {
        var template = Curve(layerNames: ["fc1", "fc2"], patternLayerNames: ["block1.ffn"])
        template.probe = ProbeColumns(patternLayerCount: 1, parameterGroupCount: 2)
        let full = template.csvHeader
        let layerLags = Set(try XCTUnwrap(template.probe?.layerLags).csvColumns(layers: ["block1.ffn"], groups: ["fc1", "fc2"]).map(\.0))
        XCTAssertEqual(layerLags.count, 10)
        let rows = 6
        func curve(seed: Double, withLayerLags: Bool) throws -> Curve {
            let header = full.filter { withLayerLags || !layerLags.contains($0) }
            let columns: [[Double?]] = header.map { name in
                switch name {
                case "iteration": return (1...rows).map(Double.init)
                case "val_accuracy": return [Double?](repeating: nil, count: rows)
                default: return Array(repeating: seed * Double(full.firstIndex(of: name)! + 1), count: rows)
                }
            }
            return try Curve(csv: NumericCSV(header: header, columns: columns).text(), file: "seed\(seed).csv")
        }
        let curves = [try curve(seed: 1, withLayerLags: false), try curve(seed: 2, withLayerLags: true), try curve(seed: 3, withLayerLags: true)]
        XCTAssertNil(curves[0].probe?.layerLags)
        let instruments = Set(CurveInstrument.allCases.map(\.rawValue))
        let expected = full.filter { name in
            ["fc1", "fc2", "block1.ffn"].contains { name.hasSuffix("." + $0) && instruments.contains(String(name.dropLast($0.count + 1))) }
        }
        XCTAssertEqual(expected.count, 2 * 2 + 2 * 1 + 6 * 1 + 10, "every per-layer column of the header")
        XCTAssertEqual(GroupCurves.layerColumns(curves), expected)
        let table = GroupCurves(iterations: Array(1...rows), curves: curves).table
        for name in CurveInstrument.allCases.map(\.rawValue) + expected {
            let c = Double(full.firstIndex(of: name)! + 1)
            let old = layerLags.contains(name)
            for i in 0..<rows {
                XCTAssertEqual(table.column("\(name)_n")?[i], old ? 2 : 3, name)
                XCTAssertEqual(table.column("\(name)_mean")?[i], old ? 2.5 * c : 2 * c, name)
                if old {
                    XCTAssertEqual(table.column("\(name)_sd")![i]!, c * 0.5.squareRoot(), accuracy: 1e-15 * c, name)
                } else {
                    XCTAssertEqual(table.column("\(name)_sd")?[i], c, name)
                }
            }
        }
    }

    func testSummaryCountsCensoredAndFailedTrials() throws {
        let sweep = try SweepFile.load(path: TestSupport.fixtures.appendingPathComponent("tiny.yaml").path)
        let groups = TrialGroup.make(sweep.trials)
        var results = [TrialResult?](repeating: nil, count: sweep.trials.count)
        var analyses = [TrialAnalysis?](repeating: nil, count: sweep.trials.count)
        func record(_ index: Int, status: TrialResult.Status, tW: Int?, tA: Int?, accuracy: Double?) {
            let spec = sweep.trials[index]
            results[index] = TrialResult(trialID: spec.trialID, params: spec, status: status, iterations: 120, finalLoss: 0.5,
                                         finalValAccuracy: accuracy, wallSeconds: 1, error: status == .ok ? nil : "x")
            guard status == .ok else { return }
            var analysis = TrialAnalysis(trialID: spec.trialID, curve: curve(UInt64(index), length: 40), options: sweep.analysis)
            func time(_ t: Int?) -> TimeEstimate { t.map { .time(Double($0)) } ?? .unavailable(.censored) }
            for key in analysis.decay.keys { analysis.decay[key] = TimingComparison(tW: time(tW), tA: time(tA)) }
            analyses[index] = analysis
        }
        // Group 0: trials 0, 2, 4. One censored t_w, one diverged.
        record(0, status: .ok, tW: 100, tA: 40, accuracy: 0.8)
        record(2, status: .ok, tW: nil, tA: 50, accuracy: 0.7)
        record(4, status: .diverged, tW: nil, tA: nil, accuracy: nil)
        record(1, status: .ok, tW: 60, tA: 30, accuracy: 0.9)
        record(3, status: .ok, tW: 80, tA: 20, accuracy: 0.6)
        let summary = SweepSummary.make(name: sweep.name, trials: sweep.trials, groups: groups, results: results,
                                        analyses: analyses, options: sweep.analysis)
        XCTAssertEqual(summary.finished, 5)
        XCTAssertEqual(summary.diverged, 1)
        XCTAssertEqual(summary.analysis, sweep.analysis)
        let g0 = summary.groups[0]
        XCTAssertEqual(g0.ok, 2)
        XCTAssertEqual(g0.diverged, 1)
        let m = g0.decay["0.1"]!
        XCTAssertEqual(m.tW.n, 1)
        XCTAssertEqual(m.tW.censored, 1)
        XCTAssertEqual(m.tA.n, 2)
        XCTAssertEqual(m.tA.mean, 45)
        let d0 = try XCTUnwrap(g0.definition(forDecayKey: "0.1")).ratio
        XCTAssertEqual(d0.bothMeasured, 1)
        XCTAssertEqual(d0.twCensored, 1)
        XCTAssertEqual(d0.median.median, 2.5)
        // The censored trial's ratio is at least T/t_a = 120/50: the lower ends are 2.5 and 2.4.
        XCTAssertEqual(try XCTUnwrap(d0.medianBounds.medianLow), 2.45, accuracy: 1e-12)
        XCTAssertNil(d0.medianBounds.medianHigh.flatMap { $0.isFinite ? $0 : nil }, "the upper bound is unbounded")
        // The censored t_w counts as later than the measured t_a.
        XCTAssertEqual(m.ordering.decided, 2)
        XCTAssertEqual(m.ordering.taFirst, 2)
        let g1 = summary.groups[1].decay["0.1"]!
        XCTAssertEqual(g1.tW.mean, 70)
        XCTAssertEqual(g1.tA.mean, 25)
        let d1 = try XCTUnwrap(summary.groups[1].definition(forDecayKey: "0.1")).ratio
        XCTAssertEqual(d1.geometricMean.geometricMean!, (2.0 * 4.0).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(summary.groups[1].verdict.call, .undecided, "two seeds decide nothing")
        // Student t, df 1: 12.7062047 * sd / sqrt(2); sd of (60, 80) = 14.142...
        XCTAssertEqual(g1.tW.ciHigh!, 70 + 12.7062047361747 * 10, accuracy: 1e-6)
        XCTAssertEqual(summary.taBeforeTw["0.1"]!.decided, 4)
        XCTAssertEqual(summary.taBeforeTw["0.1"]!.taFirst, 4)
    }
}
