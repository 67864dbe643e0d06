import Foundation
import XCTest
@testable import RegimeCore

/// Shared helpers of the engine tests: golden-file location and array comparisons whose failure
/// message names the first offending index (both values) and the largest difference.
enum EngineTestKit {
    /// `count` draws of N(0, std^2) as Float.
    static func normals(_ count: Int, _ rng: inout Xoshiro256, std: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(rng.nextNormal() * std) }
    }

    /// `Tests/RegimeCoreTests/Golden/<name>`, located relative to this source file (the test
    /// target declares no resources).
    static func goldenURL(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden").appendingPathComponent(name)
    }

    static func loadGolden<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let url = goldenURL(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            // A committed golden file that is missing is a failure, never a skip.
            XCTFail("golden file missing: \(url.path) (run scripts/reference/make_golden.py)")
            throw CocoaError(.fileNoSuchFile)
        }
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    /// How a tolerance scales.
    enum Scale {
        /// Per entry: `|a - b| <= absolute + relative * |b|`.
        case elementwise
        /// Normwise: `|a - b| <= absolute + relative * max_i |b_i|` (small components of a large
        /// vector are allowed the error of the large ones).
        case normwise
    }

    /// Compares `actual` with `expected`. On failure: the first index outside the tolerance with
    /// both values, and the largest difference with its index and both values.
    static func assertClose(
        _ actual: [Double], _ expected: [Double], relative: Double, absolute: Double = 0, scale: Scale = .elementwise,
        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
    ) {
        guard actual.count == expected.count else {
            XCTFail("\(message()): length \(actual.count) != expected \(expected.count)", file: file, line: line)
            return
        }
        let magnitude = expected.reduce(0) { max($0, abs($1)) }
        var firstBad: Int?
        var largest = -1.0, largestAt = -1
        for k in actual.indices {
            let a = actual[k], e = expected[k]
            let diff = a == e ? 0 : (abs(a - e).isNaN ? .infinity : abs(a - e))
            if diff > largest { largest = diff; largestAt = k }
            let bound = absolute + relative * (scale == .normwise ? magnitude : abs(e))
            if !(diff <= bound) && firstBad == nil { firstBad = k }
        }
        if let k = firstBad {
            XCTFail("\(message()): first difference at [\(k)]: \(actual[k]) vs expected \(expected[k]); "
                    + "largest difference \(largest) at [\(largestAt)] (\(actual[largestAt]) vs \(expected[largestAt])); "
                    + "tolerance \(relative) \(scale == .normwise ? "x max|expected| = \(magnitude)" : "relative") + \(absolute)",
                    file: file, line: line)
        }
    }

    static func assertClose(
        _ actual: [Float], _ expected: [Double], relative: Double, absolute: Double = 0, scale: Scale = .elementwise,
        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
    ) {
        assertClose(actual.map(Double.init), expected, relative: relative, absolute: absolute, scale: scale,
                    message(), file: file, line: line)
    }

    /// Largest `|a - b|` over two arrays of equal length.
    static func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    // MARK: The optimizer-trajectory golden files (mlp_, cnn_, vit_optimizers.json share one schema)

    struct GoldenBatch: Decodable { var x: [Double]; var labels: [Int32] }
    struct GoldenSchedule: Decodable {
        var name: String
        var warmup: Int
        var stepSize: Int
        var gamma: Double
        var lrMin: Double
        enum CodingKeys: String, CodingKey { case name, warmup, gamma, stepSize = "step_size", lrMin = "lr_min" }
    }
    struct GoldenOptimizerSettings: Decodable {
        var name: String
        var lr: Double
        var momentum: Double
        var nesterov: Bool
        var weightDecay: Double
        var beta1: Double
        var beta2: Double
        var eps: Double
        var schedule: GoldenSchedule
        var totalIterations: Int
        enum CodingKeys: String, CodingKey {
            case name, lr, momentum, nesterov, beta1, beta2, eps, schedule
            case weightDecay = "weight_decay", totalIterations = "total_iterations"
        }
    }
    struct GoldenStep: Decodable {
        var t: Int
        var lr: Double
        var loss: Double
        var grad: [Double]
        var params: [Double]
        var weightUpdateAbs: Double
        var weightUpdateRel: Double
        var weightUpdateAbsLayers: [Double]
        var weightUpdateRelLayers: [Double]
        var patternChange: Double
        var patternChangeLayers: [Double]
        var patternDiffCounts: [Int]
        var patternChangeInit: Double
        var patternChangeInitLayers: [Double]
        var patternDiffCountsInit: [Int]
        enum CodingKeys: String, CodingKey {
            case t, lr, loss, grad, params
            case weightUpdateAbs = "weight_update_abs", weightUpdateRel = "weight_update_rel"
            case weightUpdateAbsLayers = "weight_update_abs_layers", weightUpdateRelLayers = "weight_update_rel_layers"
            case patternChange = "pattern_change", patternChangeLayers = "pattern_change_layers"
            case patternDiffCounts = "pattern_diff_counts"
            case patternChangeInit = "pattern_change_init", patternChangeInitLayers = "pattern_change_init_layers"
            case patternDiffCountsInit = "pattern_diff_counts_init"
        }
    }
    struct GoldenCase: Decodable {
        var name: String
        var optimizer: GoldenOptimizerSettings
        var steps: [GoldenStep]
    }

    /// Maps the golden optimizer keys to the engine's settings.
    static func engineSettings(_ o: GoldenOptimizerSettings) throws -> (OptimizerSpec, LearningRateSchedule) {
        guard let kind = OptimizerSpec.Kind(rawValue: o.name) else { throw SpecError("unknown optimizer \(o.name)") }
        guard let scheduleKind = LearningRateSchedule.Kind(rawValue: o.schedule.name) else {
            throw SpecError("unknown schedule \(o.schedule.name)")
        }
        let spec = OptimizerSpec(kind: kind, lr: o.lr, momentum: o.momentum, nesterov: o.nesterov,
                                 weightDecay: o.weightDecay, beta1: o.beta1, beta2: o.beta2, eps: o.eps)
        let schedule = LearningRateSchedule(kind: scheduleKind, warmup: o.schedule.warmup,
                                            stepSize: scheduleKind == .step ? o.schedule.stepSize : nil,
                                            gamma: scheduleKind == .step ? o.schedule.gamma : nil,
                                            lrMin: o.schedule.lrMin)
        try spec.validate()
        try schedule.validate(totalSteps: o.totalIterations)
        return (spec, schedule)
    }
}

extension XCTestCase {
    /// A fresh directory under the temporary directory, removed when the test ends.
    func makeTemporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("regime-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
