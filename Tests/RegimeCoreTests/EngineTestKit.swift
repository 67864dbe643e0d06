import Foundation
import XCTest
@testable import RegimeCore

/// Shared helpers of the engine tests: golden-file location and array comparisons whose failure
/// message names the first offending index (both values) and the largest difference.
enum EngineTestKit {
    /// `Tests/RegimeCoreTests/Golden/<name>`, located relative to this source file (the test
    /// target declares no resources).
    static func goldenURL(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden").appendingPathComponent(name)
    }

    static func loadGolden<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let url = goldenURL(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("golden file missing: \(url.path) (run scripts/reference/make_golden.py)")
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
}
