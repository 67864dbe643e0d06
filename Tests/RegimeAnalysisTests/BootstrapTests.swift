import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

final class BootstrapTests: XCTestCase {
    /// Element-wise equality of optional values; on failure the first differing position and the
    /// largest difference.
    func assertSame(_ a: [Double?], _ b: [Double?], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        guard a != b else { return }
        let k = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
        var largest = 0.0
        for (x, y) in zip(a, b) { if let x, let y { largest = max(largest, abs(x - y)) } }
        XCTFail("\(message): first difference at [\(k)]: \(k < a.count ? "\(String(describing: a[k]))" : "end") vs "
                + "\(k < b.count ? "\(String(describing: b[k]))" : "end"); largest difference \(largest)", file: file, line: line)
    }

    func fields(_ s: BootstrapSummary) -> [Double?] {
        [s.median, s.medianLow, s.medianHigh, s.mean, s.meanLow, s.meanHigh]
    }

    func testMedianMeanQuantile() {
        XCTAssertNil(Bootstrap.median([]))
        XCTAssertEqual(Bootstrap.median([3]), 3)
        XCTAssertEqual(Bootstrap.median([5, 1, 3]), 3)
        XCTAssertEqual(Bootstrap.median([4, 1, 3, 2]), 2.5)
        XCTAssertNil(Bootstrap.mean([]))
        XCTAssertEqual(Bootstrap.mean([1, 2, 6]), 3)
        // Linear interpolation between order statistics (NumPy's default): h = (n-1) p.
        let xs = [1.0, 2, 3, 4]
        XCTAssertEqual(Bootstrap.quantile(sorted: xs, 0), 1)
        XCTAssertEqual(Bootstrap.quantile(sorted: xs, 0.25), 1.75)
        XCTAssertEqual(Bootstrap.quantile(sorted: xs, 0.5), 2.5)
        XCTAssertEqual(Bootstrap.quantile(sorted: xs, 0.975), 3.925, accuracy: 1e-15)
        XCTAssertEqual(Bootstrap.quantile(sorted: xs, 1), 4)
        XCTAssertEqual(Bootstrap.quantile(sorted: [7], 0.3), 7)
    }

    /// The documented draw order: resample b takes n indices `nextInt(below: n)` in sequence
    /// from `Xoshiro256(seed:, stream: .bootstrap, index:)`.
    func testDrawOrderIsAsDocumented() {
        let values = [0.5, 3, -1, 8, 2.25]
        let r = Bootstrap.resampledStatistics(values, seed: 9, index: 4, resamples: 3)
        var rng = Xoshiro256(seed: 9, stream: .bootstrap, index: 4)
        var medians: [Double?] = [], means: [Double?] = []
        for _ in 0..<3 {
            let sample = (0..<values.count).map { _ in values[rng.nextInt(below: values.count)] }
            medians.append(Bootstrap.median(sample))
            means.append(sample.reduce(0, +) / Double(sample.count))
        }
        assertSame(r.medians, medians, "medians")
        // The mean is summed by value (documented order), so compare to rounding.
        for (x, y) in zip(r.means, means) { XCTAssertEqual(x, y!, accuracy: 1e-14 * max(1, abs(x))) }
        XCTAssertEqual(r.means.count, 3)
    }

    func testReproducibleAndSeedDependent() {
        var rng = Xoshiro256(seed: 3, stream: .synthetic)
        let values: [Double?] = (0..<15).map { _ in 2 + rng.nextNormal() }
        let a = BootstrapSummary(values, seed: 77)
        let b = BootstrapSummary(values, seed: 77)
        assertSame(fields(a), fields(b), "same seed")
        XCTAssertEqual(a, b)
        let c = BootstrapSummary(values, seed: 78)
        XCTAssertNotEqual(fields(a), fields(c), "another seed draws other resamples")
        let d = BootstrapSummary(values, seed: 77, index: 1)
        XCTAssertNotEqual(fields(a), fields(d), "another index is another stream")
        XCTAssertEqual(a.median, c.median, "the point estimate does not depend on the seed")
        // The standalone intervals come from the same resamples as the summary.
        let xs = values.map { $0! }
        let m = Bootstrap.percentileInterval(xs, statistic: .median, seed: 77)!
        let mean = Bootstrap.percentileInterval(xs, statistic: .mean, seed: 77)!
        assertSame([m.low, m.high, mean.low, mean.high], [a.medianLow, a.medianHigh, a.meanLow, a.meanHigh], "standalone")
        // Ordered, inside the sample range, around the point estimates.
        let lo = xs.min()!, hi = xs.max()!
        for (l, p, h) in [(a.medianLow!, a.median!, a.medianHigh!), (a.meanLow!, a.mean!, a.meanHigh!)] {
            XCTAssert(lo <= l && l <= p && p <= h && h <= hi, "\(lo) <= \(l) <= \(p) <= \(h) <= \(hi)")
        }
    }

    func testSmallAndMissingSamples() {
        let empty = BootstrapSummary([], seed: 1)
        XCTAssertEqual(empty.n, 0)
        assertSame(fields(empty), [nil, nil, nil, nil, nil, nil], "n = 0")
        let one = BootstrapSummary([nil, 4.5, .nan, .infinity], seed: 1)
        XCTAssertEqual(one.n, 1)
        XCTAssertEqual(one.missing, 3)
        assertSame(fields(one), [4.5, nil, nil, 4.5, nil, nil], "n = 1")
        XCTAssertNil(Bootstrap.percentileInterval([4.5], statistic: .median, seed: 1))
        let same = BootstrapSummary([2, 2, 2, 2], seed: 1)
        assertSame(fields(same), [2, 2, 2, 2, 2, 2], "constant sample")
        let two = BootstrapSummary([1, 3], seed: 5)
        XCTAssertEqual(two.medianLow, 1)
        XCTAssertEqual(two.medianHigh, 3)
    }

    func testJSONWritesNulls() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(BootstrapSummary([7], seed: 1)), as: UTF8.self)
        XCTAssertEqual(text, #"{"mean":7,"mean_ci_high":null,"mean_ci_low":null,"median":7,"median_ci_high":null,"#
                       + #""median_ci_low":null,"missing":0,"n":1}"#)
        let full = BootstrapSummary([1, 2, 3, 4, 10], seed: 2)
        XCTAssertEqual(try JSONDecoder().decode(BootstrapSummary.self, from: encoder.encode(full)), full)
    }

    /// Coverage sanity: 200 normal samples of n = 30 (mean = median = 5); the 95% percentile
    /// intervals should cover the truth about 93-96% of the time (the percentile interval of the
    /// mean is known to run slightly narrow at this n). Accepted: [0.90, 0.985]. Seeded, so the
    /// outcome is fixed.
    func testCoverageOnNormalSamples() {
        let samples = 200, n = 30
        var coveredMedian = 0, coveredMean = 0
        for k in 0..<samples {
            var rng = Xoshiro256(seed: UInt64(k), stream: .synthetic)
            let xs: [Double?] = (0..<n).map { _ in 5 + 2 * rng.nextNormal() }
            let s = BootstrapSummary(xs, seed: UInt64(1000 + k))
            if s.medianLow! <= 5 && 5 <= s.medianHigh! { coveredMedian += 1 }
            if s.meanLow! <= 5 && 5 <= s.meanHigh! { coveredMean += 1 }
        }
        let median = Double(coveredMedian) / Double(samples), mean = Double(coveredMean) / Double(samples)
        print("BootstrapTests measured: coverage of 95% intervals over \(samples) normal samples of n = \(n): "
              + "median \(median), mean \(mean)")
        XCTAssert((0.90...0.985).contains(median), "median coverage \(median)")
        XCTAssert((0.90...0.985).contains(mean), "mean coverage \(mean)")
    }
}
