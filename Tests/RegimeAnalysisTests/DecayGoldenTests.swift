import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

/// Checks the decay detector against `Golden/decay_curves.json`, written by the independent
/// NumPy reference (`scripts/reference/make_golden.py`; schema and tolerances in
/// `scripts/reference/README.md`). The file is located relative to this source file, since the
/// test target declares no resources.
///
/// Tolerances (from that README): smoothed values and peak relative 1e-12 (the reference uses a
/// correctly rounded mean, this code a compensated running sum); threshold times, `auc90` and
/// nulls exact (the generator keeps every decision at least 1e-5 relative away from a tie).
final class DecayGoldenTests: XCTestCase {
    typealias DecayOptions = DecayTestKit.DecayOptions
    typealias DecayDetector = DecayTestKit.DecayDetector

    struct Golden: Decodable {
        struct Curve: Decodable {
            struct Expected: Decodable {
                var smoothed: [Double]
                var peak: Double?
                var thresholdTimes: [Int?]
                var auc90: Int?
                enum CodingKeys: String, CodingKey {
                    case smoothed, peak, auc90
                    case thresholdTimes = "threshold_times"
                }
            }
            var name: String
            var options: DecayOptions
            var iterations: [Int]
            var values: [Double]
            var expected: Expected
        }
        struct Ratio: Decodable {
            var w: String
            var a: String
            var thresholds: [Double]
            var tW: [Int?]
            var tA: [Int?]
            var ratio: [Double?]
            enum CodingKeys: String, CodingKey {
                case w, a, thresholds, ratio
                case tW = "t_w"
                case tA = "t_a"
            }
        }
        var thresholds: [Double]
        var curves: [Curve]
        var ratios: [Ratio]
    }

    static let goldenURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .appendingPathComponent("Golden")
        .appendingPathComponent("decay_curves.json")

    func loadGolden() throws -> Golden {
        guard FileManager.default.fileExists(atPath: Self.goldenURL.path) else {
            XCTFail("golden file missing: \(Self.goldenURL.path) (run scripts/reference/make_golden.py)")
            throw CocoaError(.fileNoSuchFile)
        }
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: Self.goldenURL))
    }

    func testCurvesMatchNumPyReference() throws {
        let golden = try loadGolden()
        XCTAssertFalse(golden.curves.isEmpty)
        for curve in golden.curves {
            XCTAssertNoThrow(try curve.options.analysisOptions.validate(), curve.name)
            // The rule removes the points before peak_skip before smoothing; the reference's
            // `smoothed` is that of the kept points.
            let kept = curve.iterations.indices.filter { curve.iterations[$0] >= curve.options.peakSkip }
            let smoothed = DecayRules.smooth(kept.map { curve.values[$0] }, window: curve.options.smoothing)
            DecayTestKit.assertClose(smoothed, curve.expected.smoothed, relative: 1e-12, absolute: 1e-300, "\(curve.name) smoothed")

            let result = DecayDetector.analyze(iterations: curve.iterations, values: curve.values, options: curve.options)
            switch (result.peak, curve.expected.peak) {
            case let (p?, e?):
                XCTAssertEqual(p, e, accuracy: 1e-12 * abs(e), "\(curve.name) peak")
            case (nil, nil):
                break
            default:
                XCTFail("\(curve.name) peak \(String(describing: result.peak)) vs expected \(String(describing: curve.expected.peak))")
            }
            DecayTestKit.assertTimes(result.thresholdTimes, curve.expected.thresholdTimes, "\(curve.name) threshold times")
            XCTAssertEqual(result.areaTime, curve.expected.auc90, "\(curve.name) auc90")
        }
    }

    func testRatiosMatchNumPyReference() throws {
        let golden = try loadGolden()
        let byName = Dictionary(uniqueKeysWithValues: golden.curves.map { ($0.name, $0) })
        XCTAssertFalse(golden.ratios.isEmpty)
        for pair in golden.ratios {
            let label = "\(pair.w)/\(pair.a)"
            guard let w = byName[pair.w], let a = byName[pair.a] else {
                XCTFail("\(label): unknown curve name")
                continue
            }
            XCTAssertEqual(w.options.thresholds, pair.thresholds, label)
            XCTAssertEqual(a.options.thresholds, pair.thresholds, label)
            let dw = DecayDetector.analyze(iterations: w.iterations, values: w.values, options: w.options)
            let da = DecayDetector.analyze(iterations: a.iterations, values: a.values, options: a.options)
            let rows = zip(dw.thresholdTimes, da.thresholdTimes).map { w, a in
                TimingComparison(tW: w.map { .time(Double($0)) } ?? .unavailable(.censored),
                                 tA: a.map { .time(Double($0)) } ?? .unavailable(.censored))
            }
            DecayTestKit.assertTimes(rows.map { $0.tW.value.map { Int($0) } }, pair.tW, "\(label) t_w")
            DecayTestKit.assertTimes(rows.map { $0.tA.value.map { Int($0) } }, pair.tA, "\(label) t_a")
            for (k, (row, expected)) in zip(rows, pair.ratio).enumerated() {
                switch (row.ratio.value, expected) {
                case let (r?, e?):
                    XCTAssertEqual(r, e, accuracy: 1e-12 * abs(e), "\(label) ratio[\(k)]")
                case (nil, nil):
                    break
                default:
                    XCTFail("\(label) ratio[\(k)] \(row.ratio) vs expected \(String(describing: expected))")
                }
            }
        }
    }
}
