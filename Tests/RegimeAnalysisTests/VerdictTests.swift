import Foundation
import RegimeCore
import XCTest
@testable import RegimeAnalysis

/// Synthetic truth for the verdict and the definition table: curves built so that patterns settle
/// exactly 3x earlier than weights give about 3 under every definition and a "yes"; pattern change
/// proportional to the weight update gives about 1 and never a "yes"; both with an Adam-like
/// first-step spike, which the default reference must ignore.
final class VerdictTests: XCTestCase {
    /// `g(t / tau)` with `g(x) = 1 / (1 + x^4)`: flat over the reference window (tau >= 300), then
    /// a decay whose every threshold, area and half-life time scales with tau. Multiplicative
    /// noise `exp(sigma N(0,1))` per point; a spike of 50 at iteration 1.
    static func curve(tau: Double, T: Int, sigma: Double, rng: inout Xoshiro256) -> [Double] {
        (1...T).map { t in
            let x = Double(t) / tau
            let value = 1 / (1 + x * x * x * x) * exp(sigma * rng.nextNormal())
            return t == 1 ? 50 : value
        }
    }

    static func analyses(ratio: Double, proportional: Bool, seeds: Int) -> [TrialAnalysis] {
        let T = 4000
        return (0..<seeds).map { seed in
            var rng = Xoshiro256(seed: UInt64(seed + 1), stream: 77)
            let tauA = 300 * (1 + 0.1 * rng.nextNormal())
            var curve = Curve(layerNames: [], patternLayerNames: [])
            curve.iteration = Array(1...T)
            curve.lr = curve.iteration.map { _ in 0.001 }
            curve.weightUpdateRel = Self.curve(tau: tauA * ratio, T: T, sigma: 0.1, rng: &rng)
            curve.patternChange = proportional
                ? curve.weightUpdateRel.map { 0.3 * $0 * exp(0.1 * rng.nextNormal()) }
                : Self.curve(tau: tauA, T: T, sigma: 0.1, rng: &rng)
            return TrialAnalysis(trialID: "s\(seed)", curve: curve, options: AnalysisOptions())
        }
    }

    func testThreeTimesEarlierGivesThreeAndYes() {
        let analyses = Self.analyses(ratio: 3, proportional: false, seeds: 8)
        let definitions = SweepSummary.definitions(analyses, runLengths: analyses.map { _ in 4000 }, options: AnalysisOptions())
        XCTAssertEqual(definitions.map(\.definition), ["threshold 0.05", "threshold 0.1", "threshold 0.2", "area", "half_life", "knee"])
        for d in definitions where d.definition != "knee" {
            let m = d.ratio.median.median
            XCTAssertNotNil(m, d.definition)
            if let m { XCTAssertEqual(m, 3, accuracy: 0.3, "\(d.definition): median ratio \(m)") }
            XCTAssertEqual(d.call, .yes, "\(d.definition): \(d.ratio.geometricMean) p=\(d.ratio.signTest.pValue)")
            XCTAssertFalse(d.transient, d.definition)
        }
        let verdict = Verdict(definitions, primary: "threshold 0.1")
        XCTAssertEqual(verdict.call, .yes, verdict.line)
        XCTAssertTrue(verdict.line.hasPrefix("yes: "), verdict.line)
    }

    func testProportionalCurvesGiveOneAndNeverYes() {
        let analyses = Self.analyses(ratio: 1, proportional: true, seeds: 8)
        let definitions = SweepSummary.definitions(analyses, runLengths: analyses.map { _ in 4000 }, options: AnalysisOptions())
        for d in definitions where d.definition != "knee" {
            if let m = d.ratio.median.median { XCTAssertEqual(m, 1, accuracy: 0.1, "\(d.definition): median ratio \(m)") }
            XCTAssertNotEqual(d.call, .yes, d.definition)
        }
        let verdict = Verdict(definitions, primary: "threshold 0.1")
        XCTAssertNotEqual(verdict.call, .yes, verdict.line)
        XCTAssertEqual(verdict.call, .no, "the intervals exclude a 1.5x separation: \(verdict.line)")
    }

    /// Three seeds can say neither yes nor no: the sign test cannot reach p < 0.05.
    func testThreeSeedsAreUndecided() {
        let analyses = Self.analyses(ratio: 3, proportional: false, seeds: 3)
        let definitions = SweepSummary.definitions(analyses, runLengths: analyses.map { _ in 4000 }, options: AnalysisOptions())
        XCTAssertTrue(definitions.allSatisfy { $0.call != .yes })
        XCTAssertEqual(Verdict(definitions, primary: "threshold 0.1").call, .undecided)
        XCTAssertTrue(definitions.allSatisfy { $0.ratio.median.interval.low == nil }, "no 95% median interval exists for n = 3")
    }
}
