import Foundation
import RegimeCore
import XCTest
@testable import Coordinator

/// The statistics a sweep reduces over MPI must equal a single-process computation.
final class SummaryTests: XCTestCase {
    func curve(_ seed: UInt64, length: Int) -> Curve {
        var rng = Xoshiro256(seed: seed, stream: 99)
        var c = Curve(layerNames: ["fc1"], patternLayerNames: ["fc1"])
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
        return c
    }

    func testReducedMomentsEqualSingleProcessAndDoNotDependOnPartition() throws {
        let sweep = try SweepFile.load(path: TestSupport.fixtures.appendingPathComponent("tiny.yaml").path)
        let groups = TrialGroup.make(sweep.trials)
        let length = groups[0].iterations.count
        let curves = sweep.trials.indices.map { curve(UInt64($0 + 1), length: length) }

        var single = CurveMoments(groups: groups)
        for (i, c) in curves.enumerated() { single.add(trial: i, curve: c) }

        // Three "ranks" holding different trials, reduced by summing their words (MPI_SUM).
        for partition in [[[0, 3], [1, 4], [2, 5]], [[5, 4, 3, 2, 1, 0]], [[2], [0, 1, 5], [3, 4]]] {
            var ranks = partition.map { _ in CurveMoments(groups: groups) }
            for (r, trials) in partition.enumerated() { for t in trials { ranks[r].add(trial: t, curve: curves[t]) } }
            var words = [Int64](repeating: 0, count: ranks[0].words.count)
            for r in ranks { for (i, w) in r.words.enumerated() { words[i] += w } }
            var reduced = CurveMoments(groups: groups)
            reduced.replaceWords(words)
            XCTAssertEqual(reduced.words, single.words, "partition \(partition)")
        }

        // Mean and sd agree with a direct Double computation.
        for (g, group) in groups.enumerated() {
            for (k, instrument) in CurveInstrument.allCases.enumerated() {
                for i in [0, 7, length - 1] {
                    let values = group.trialIndices.map { curves[$0].column(instrument.rawValue)![i] }
                    let mean = values.reduce(0, +) / Double(values.count)
                    let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
                    let m = single.moments[g][k]
                    XCTAssertEqual(m.count(at: i), values.count)
                    XCTAssertEqual(m.mean(at: i)!, mean, accuracy: 1e-12 * max(abs(mean), 1e-300), "\(instrument) \(i)")
                    XCTAssertEqual(m.standardDeviation(at: i)!, sd, accuracy: 1e-7 * max(sd, 1e-300) + 1e-15, "\(instrument) sd \(i)")
                }
            }
        }
    }

    func testSummaryCountsCensoredAndFailedTrials() throws {
        let sweep = try SweepFile.load(path: TestSupport.fixtures.appendingPathComponent("tiny.yaml").path)
        let groups = TrialGroup.make(sweep.trials)
        func entry(_ index: Int, status: TrialResult.Status, tW: Int?, tA: Int?, accuracy: Double?) -> JournalEntry {
            let spec = sweep.trials[index]
            let comparisons = spec.decay.thresholds.map { _ in DecayComparison(tW: tW, tA: tA) }
            let decay = DecaySummary(thresholds: spec.decay.thresholds, byThreshold: comparisons,
                                     areaFraction: 0.9, area: DecayComparison(tW: tW, tA: tA))
            return JournalEntry(result: TrialResult(trialID: spec.trialID, params: spec, status: status, iterations: 120,
                                                    finalLoss: 0.5, finalValAccuracy: accuracy, wallSeconds: 1,
                                                    decay: status == .ok ? decay : nil, error: status == .ok ? nil : "x"),
                                rank: 0, host: "h")
        }
        // Group 0: trials 0, 2, 4. One censored t_w, one diverged.
        let entries = [entry(0, status: .ok, tW: 100, tA: 40, accuracy: 0.8),
                       entry(2, status: .ok, tW: nil, tA: 50, accuracy: 0.7),
                       entry(4, status: .diverged, tW: nil, tA: nil, accuracy: nil),
                       entry(1, status: .ok, tW: 60, tA: 30, accuracy: 0.9),
                       entry(3, status: .ok, tW: 80, tA: 20, accuracy: 0.6)]
        let summary = SweepSummary.make(sweep: sweep, groups: groups, entries: entries)
        XCTAssertEqual(summary.finished, 5)
        XCTAssertEqual(summary.diverged, 1)
        let g0 = summary.groups[0]
        XCTAssertEqual(g0.ok, 2)
        XCTAssertEqual(g0.diverged, 1)
        let m = g0.decay["0.1"]!
        XCTAssertEqual(m.tW.n, 1)
        XCTAssertEqual(m.tW.censored, 1)
        XCTAssertEqual(m.tA.n, 2)
        XCTAssertEqual(m.tA.mean, 45)
        XCTAssertEqual(m.ratio.n, 1)
        XCTAssertEqual(m.ratio.mean, 2.5)
        XCTAssertEqual(m.ordering.measured, 1)
        let g1 = summary.groups[1].decay["0.1"]!
        XCTAssertEqual(g1.tW.mean, 70)
        XCTAssertEqual(g1.tA.mean, 25)
        XCTAssertEqual(g1.ratio.mean, 3)
        // Student t, df 1: 12.7062047 * sd / sqrt(2); sd of (60, 80) = 14.142...
        XCTAssertEqual(g1.tW.ciHigh!, 70 + 12.7062047361747 * 10, accuracy: 1e-6)
        XCTAssertEqual(summary.taBeforeTw["0.1"]!.measured, 3)
        XCTAssertEqual(summary.taBeforeTw["0.1"]!.taBeforeTw, 3)
        // The order of journal lines does not matter.
        let shuffled = SweepSummary.make(sweep: sweep, groups: groups, entries: entries.reversed())
        XCTAssertEqual(try JSONFormatBridge.encode(shuffled), try JSONFormatBridge.encode(summary))
    }
}

import Worker
enum JSONFormatBridge {
    static func encode(_ s: SweepSummary) throws -> Data { try JSONFormat.pretty(s) }
}
