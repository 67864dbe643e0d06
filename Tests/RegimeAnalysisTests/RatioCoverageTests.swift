import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

/// Coverage of the ratio statistics' intervals by simulation, 10^4 seeded replicates each
/// (Xoshiro256, stream `synthetic`), where the population value is known. With 10^4 replicates a
/// coverage `c` is estimated with standard error `sqrt(c (1-c) / 10^4)` (0.0022 at 0.95), so the
/// tolerances below (1.5 points for the t interval, 3 standard errors elsewhere) fail only on a
/// real error.
final class RatioCoverageTests: XCTestCase {
    static let replicates = 10_000

    /// Three standard errors of an estimated proportion `c` from ``replicates`` draws.
    func simulationError(_ c: Double) -> Double { 3 * (c * (1 - c) / Double(Self.replicates)).squareRoot() }

    /// Lognormal trials: `t_a = 100 exp(0.5 Z1)`, `r = rMedian exp(0.8 Z2)`, `t_w = r t_a`, so
    /// `ln r ~ N(ln rMedian, 0.8^2)` and the population geometric mean and median of `r` are both
    /// `rMedian`.
    func lognormalTrials(_ n: Int, rMedian: Double, _ rng: inout Xoshiro256) -> [(tW: Double, tA: Double)] {
        (0..<n).map { _ in
            let a = 100 * exp(0.5 * rng.nextNormal())
            return (rMedian * exp(0.8 * rng.nextNormal()) * a, a)
        }
    }

    /// The t interval on log r covers the geometric mean with its nominal 95% (exact for
    /// lognormal ratios): measured within 1.5 points at n = 5 and n = 20. At n = 20 the
    /// order-statistic interval of the same samples covers the median with its stated 0.9586.
    func testLogScaleIntervalCoverage() {
        var rng = Xoshiro256(seed: 1301, stream: .synthetic)
        for n in [5, 20] {
            var geometricCovers = 0, medianCovers = 0, positive = 0
            var stated: Double?
            for _ in 0..<Self.replicates {
                let trials = lognormalTrials(n, rMedian: 3, &rng)
                let s = RatioSummary(trials.map { TimingComparison(tW: .time($0.tW), tA: .time($0.tA)) },
                                     runLengths: Array(repeating: 1e12, count: n))
                let g = s.geometricMean
                if g.interval.contains(3) { geometricCovers += 1 }
                if g.interval.low! > 0 { positive += 1 }
                if s.median.interval.contains(3) { medianCovers += 1 }
                stated = s.median.interval.coverage
            }
            let coverage = Double(geometricCovers) / Double(Self.replicates)
            print("log-scale t interval, n = \(n): coverage \(coverage) (nominal 0.95, \(Self.replicates) replicates)")
            XCTAssertEqual(coverage, 0.95, accuracy: 0.015, "log-scale t interval coverage at n = \(n)")
            XCTAssertEqual(positive, Self.replicates, "every lower bound positive")
            if n == 5 {
                XCTAssertNil(stated, "n = 5: no 95% order-statistic interval")
                XCTAssertEqual(medianCovers, 0)
            } else {
                let c = stated!, measured = Double(medianCovers) / Double(Self.replicates)
                print("order-statistic median interval, n = \(n): coverage \(measured) (stated \(c))")
                XCTAssertEqual(measured, c, accuracy: simulationError(c), "n = \(n): continuous data cover with exactly \(c)")
            }
        }
    }

    /// The order-statistic interval covers the median with its stated coverage: exactly for
    /// continuous data (n = 6, 10, 30), at least for data with ties (integers 1...5, median 3).
    func testOrderStatisticIntervalCoverage() {
        var rng = Xoshiro256(seed: 1302, stream: .synthetic)
        for n in [6, 10, 30] {
            var continuous = 0, discrete = 0
            let stated = OrderStatisticInterval(sampleSize: n, level: 0.95)!.coverage
            for _ in 0..<Self.replicates {
                // Standard normal: median 0.
                let m = MedianSummary((0..<n).map { _ in rng.nextNormal() }, level: 0.95)
                if m.interval.contains(0) { continuous += 1 }
                // Uniform on 1...5: P(X <= 3) = P(X >= 3) = 0.6, median 3; ties everywhere.
                let d = MedianSummary((0..<n).map { _ in Double(1 + rng.nextInt(below: 5)) }, level: 0.95)
                if d.interval.contains(3) { discrete += 1 }
            }
            let c = Double(continuous) / Double(Self.replicates), d = Double(discrete) / Double(Self.replicates)
            print("order-statistic interval, n = \(n): stated \(stated), continuous \(c), with ties \(d)")
            XCTAssertEqual(c, stated, accuracy: simulationError(stated), "n = \(n), continuous")
            XCTAssertGreaterThanOrEqual(d, stated - simulationError(stated), "n = \(n), ties: at least the stated coverage")
        }
    }

    /// With about 30% of the largest ratios censored (`t_w > T = 500`), the censoring-aware
    /// interval `[lo_(k), hi_(n+1-k)]` still covers the population median of r (3) with at least
    /// its stated coverage; the interval over the measured trials alone (censored trials
    /// dropped) does not.
    func testCensoringAwareIntervalCoverage() {
        var rng = Xoshiro256(seed: 1303, stream: .synthetic)
        let n = 20, runLength = 500.0
        var aware = 0, dropped = 0, censoredTrials = 0
        var stated = 0.0
        for _ in 0..<Self.replicates {
            let comparisons = lognormalTrials(n, rMedian: 3, &rng).map { t in
                TimingComparison(tW: t.tW > runLength ? .unavailable(.censored) : .time(t.tW),
                                 tA: t.tA > runLength ? .unavailable(.censored) : .time(t.tA))
            }
            let s = RatioSummary(comparisons, runLengths: Array(repeating: runLength, count: n))
            censoredTrials += s.twCensored + s.taCensored + s.bothCensored
            stated = s.medianBounds.interval.coverage!
            if s.medianBounds.interval.contains(3) { aware += 1 }
            if s.median.interval.contains(3) { dropped += 1 }
        }
        let a = Double(aware) / Double(Self.replicates), d = Double(dropped) / Double(Self.replicates)
        let fraction = Double(censoredTrials) / Double(n * Self.replicates)
        print("censoring-aware median interval, n = \(n), \(fraction) of trials censored: coverage \(a) (stated \(stated)); "
              + "censored trials dropped: \(d)")
        XCTAssertGreaterThan(fraction, 0.2, "the simulation censors a real share of the trials")
        XCTAssertGreaterThanOrEqual(a, stated - simulationError(stated), "censoring-aware coverage")
        XCTAssertLessThan(d, 0.95 - 0.05, "dropping censored trials biases the median low and undercovers")
    }

    /// The exact sign test has the size it claims: with t_a and t_w exchangeable (r = 1 in
    /// distribution), n = 20, uncensored, p <= 0.05 happens with probability exactly
    /// P(Bin(20, 1/2) >= 15) = 21700/2^20 = 0.0207; with censoring (T = 400: about 30% of the
    /// times) it stays at most 0.05.
    func testSignTestSize() {
        var rng = Xoshiro256(seed: 1304, stream: .synthetic)
        let n = 20
        for runLength in [1e12, 400] {
            var rejections = 0
            for _ in 0..<Self.replicates {
                let comparisons = (0..<n).map { _ -> TimingComparison in
                    let w = 300 * exp(0.6 * rng.nextNormal()), a = 300 * exp(0.6 * rng.nextNormal())
                    return TimingComparison(tW: w > runLength ? .unavailable(.censored) : .time(w),
                                            tA: a > runLength ? .unavailable(.censored) : .time(a))
                }
                let s = RatioSummary(comparisons, runLengths: Array(repeating: runLength, count: n))
                if s.signTest.pValue <= 0.05 { rejections += 1 }
            }
            let rate = Double(rejections) / Double(Self.replicates)
            print("sign test under H0, n = \(n), T = \(runLength): P(p <= 0.05) = \(rate)")
            if runLength > 1e6 {
                let exact = 21700.0 / 1_048_576
                XCTAssertEqual(rate, exact, accuracy: simulationError(exact), "size without censoring")
            } else {
                XCTAssertLessThanOrEqual(rate, 0.05 + simulationError(0.05), "size with censoring")
            }
        }
    }
}
