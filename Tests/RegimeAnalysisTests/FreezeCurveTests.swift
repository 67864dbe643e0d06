import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

/// Freeze curves from groups built with known accuracies.
final class FreezeCurveTests: XCTestCase {
    static func spec(_ optimizer: OptimizerSpec.Kind, _ freezeAt: GateSpec.FreezeAt, seed: UInt64) -> TrialSpec {
        TrialSpec(arch: "mlp:32-8-10", dataset: DatasetSpec(name: "synthetic"), optimizer: OptimizerSpec(kind: optimizer, lr: 1e-3),
                  batchSize: 16, iterations: 500, seed: seed, gates: GateSpec.setting(freezeAt: freezeAt))
    }

    /// Accuracy of seed s at freeze point f: `base_s + effect_f + noise_{s,f}` with known parts,
    /// so every mean, paired difference and interval is known in closed form.
    func testKnownAccuracies() throws {
        let freezePoints: [GateSpec.FreezeAt] = [.never, .auto, .step(300), .step(10)]  // out of order on purpose
        let effect: [String: Double] = ["10": -0.03, "300": -0.005, "auto": -0.001, "never": 0]
        let base: [UInt64: Double] = [1: 0.80, 2: 0.84, 3: 0.82, 4: 0.86, 5: 0.81, 6: 0.83]
        let noise: [Double] = [0.002, -0.001, 0.0, 0.003, -0.002, -0.002]  // per seed, added to frozen groups only
        let detected: [UInt64: Int] = [1: 70, 2: 74, 3: 80, 4: 71, 5: 90, 6: 76]
        var trials: [TrialSpec] = []
        var outcomes: [FreezeCurve.Outcome?] = []
        // A second set (SGD) without a baseline and an ungated Adam group of another size: no curve for the latter.
        for optimizer in [OptimizerSpec.Kind.adam, .sgd] {
            for f in freezePoints where optimizer == .adam || f != .never {
                for seed in UInt64(1)...6 {
                    let spec = Self.spec(optimizer, f, seed: seed)
                    trials.append(spec)
                    let key = f.description
                    let acc = base[seed]! + effect[key]! + (f == .never ? 0 : noise[Int(seed) - 1])
                    let frozenAt: Int? = switch f { case .step(let n): n; case .auto: seed == 6 ? nil : detected[seed]; case .never: nil }
                    // Seed 3 of freeze 300 diverged: excluded from its group and from the pairs.
                    let ok = !(f == .step(300) && seed == 3)
                    outcomes.append(FreezeCurve.Outcome(ok: ok, seed: seed, finalValAccuracy: ok ? acc : nil,
                                                        finalLoss: ok ? 1 - acc : nil, frozenAt: frozenAt, detectedAt: detected[seed]))
                }
            }
        }
        var other = Self.spec(.adam, .never, seed: 1)
        other.iterations = 600
        trials.append(other)
        outcomes.append(FreezeCurve.Outcome(ok: true, seed: 1, finalValAccuracy: 0.9, finalLoss: 0.1, frozenAt: nil, detectedAt: nil))

        let curves = FreezeCurve.make(groups: TrialGroup.make(trials), outcomes: outcomes)
        XCTAssertEqual(curves.count, 2)
        let adam = curves[0]
        XCTAssertEqual(adam.points.map(\.freezeAt), ["10", "300", "auto", "never"])
        XCTAssertFalse(adam.label.contains("freeze"), adam.label)
        XCTAssertEqual(adam.baseline, adam.points[3].groupID)
        XCTAssertEqual(adam.detectedUnfrozen, FreezeCurve.Spread([70, 74, 80, 71, 90, 76]))
        XCTAssertEqual(adam.detectedUnfrozen?.median, 75)

        // Baseline: the mean of base, its t interval by hand.
        let never = adam.points[3]
        let b = (1...6).map { base[UInt64($0)]! }
        XCTAssertEqual(never.valAccuracy.mean!, b.reduce(0, +) / 6, accuracy: 1e-12)
        XCTAssertNil(never.accuracyVsBaseline)
        XCTAssertEqual(never.notFrozen, 6)
        XCTAssertNil(never.frozenAt)

        // Freeze at 10: differences effect + noise, paired over 6 seeds.
        let p10 = adam.points[0]
        let d10 = noise.map { -0.03 + $0 }
        let mean10 = d10.reduce(0, +) / 6
        let sd10 = (d10.map { ($0 - mean10) * ($0 - mean10) }.reduce(0, +) / 5).squareRoot()
        let half10 = 2.570581835636314 * sd10 / 6.0.squareRoot()  // t_{0.975, 5}
        let diff = try XCTUnwrap(p10.accuracyVsBaseline)
        XCTAssertEqual(diff.pairs, 6)
        XCTAssertEqual(diff.mean.mean!, mean10, accuracy: 1e-12)
        XCTAssertEqual(diff.mean.ciLow!, mean10 - half10, accuracy: 1e-9)
        XCTAssertEqual(diff.mean.ciHigh!, mean10 + half10, accuracy: 1e-9)
        XCTAssertEqual(diff.range.low!, d10.min()!, accuracy: 1e-12)
        XCTAssertEqual(diff.range.high!, d10.max()!, accuracy: 1e-12)
        XCTAssertEqual(diff.range.coverage!, 1 - pow(2, -5), accuracy: 1e-12)
        XCTAssertEqual(diff.below, 6)
        XCTAssertEqual(diff.above, 0)
        XCTAssertEqual(p10.lossVsBaseline!.mean.mean!, -mean10, accuracy: 1e-12)
        XCTAssertEqual(p10.frozenAt, FreezeCurve.Spread([10, 10, 10, 10, 10, 10]))

        // Freeze at 300: the diverged seed is out of the group and of the pairs.
        let p300 = adam.points[1]
        XCTAssertEqual(p300.ok, 5)
        XCTAssertEqual(p300.trials, 6)
        XCTAssertEqual(p300.accuracyVsBaseline!.pairs, 5)
        XCTAssertEqual(p300.accuracyVsBaseline!.range.coverage!, 1 - pow(2, -4), accuracy: 1e-12)
        let d300 = [0, 1, 3, 4, 5].map { -0.005 + noise[$0] }
        XCTAssertEqual(p300.accuracyVsBaseline!.mean.mean!, d300.reduce(0, +) / 5, accuracy: 1e-12)

        // Auto: frozen where the detector fired, seed 6 never froze.
        let auto = try XCTUnwrap(adam.auto)
        XCTAssertEqual(auto.frozenAt, FreezeCurve.Spread([70, 74, 80, 71, 90]))
        XCTAssertEqual(auto.notFrozen, 1)

        // SGD: no never-frozen group, so no baseline and no differences.
        let sgd = curves[1]
        XCTAssertNil(sgd.baseline)
        XCTAssertEqual(sgd.points.map(\.freezeAt), ["10", "300", "auto"])
        XCTAssert(sgd.points.allSatisfy { $0.accuracyVsBaseline == nil })

        // Text and JSON.
        let text = adam.table().joined(separator: "\n")
        XCTAssert(text.contains("freeze curve: ") && text.contains("auto") && text.contains("(96.9%)"), text)
        XCTAssert(text.contains("6/0 of 6"), text)
        let json = String(decoding: try JSONCoding.encoder(pretty: true).encode(adam), as: UTF8.self)
        XCTAssert(json.contains("\"accuracy_vs_never\" : null") && json.contains("\"detected_unfrozen\""), json)
        XCTAssertEqual(try JSONCoding.decoder().decode(FreezeCurve.self, from: Data(json.utf8)), adam)
        let csv = FreezeCurve.csv(curves).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(csv.count, 1 + 4 + 3)
        XCTAssert(csv.allSatisfy { $0.count == csv[0].count }, "every row has the header's fields")
        let header = csv[0].map(String.init)
        let row10 = csv[1]
        XCTAssertEqual(String(row10[header.firstIndex(of: "freeze_at")!]), "10")
        XCTAssertEqual(Double(row10[header.firstIndex(of: "accuracy_vs_never_mean")!])!, mean10, accuracy: 1e-12)
        XCTAssertEqual(String(csv[4][header.firstIndex(of: "accuracy_vs_never_mean")!]), "", "the baseline has no difference")
    }

    /// Groups without gates, or only never-frozen ones, make no freeze curve; nor does a single
    /// frozen group alone.
    func testNoCurveWithoutFrozenAndBaselineSet() {
        let plain = (1...3).map { Self.spec(.adam, .never, seed: UInt64($0)) }
        let o = plain.map { FreezeCurve.Outcome(ok: true, seed: $0.seed, finalValAccuracy: 0.8, finalLoss: 0.2, frozenAt: nil, detectedAt: nil) }
        XCTAssert(FreezeCurve.make(groups: TrialGroup.make(plain), outcomes: o).isEmpty)
        let single = (1...3).map { Self.spec(.adam, .step(5), seed: UInt64($0)) }
        XCTAssert(FreezeCurve.make(groups: TrialGroup.make(single), outcomes: o).isEmpty)
    }
}
