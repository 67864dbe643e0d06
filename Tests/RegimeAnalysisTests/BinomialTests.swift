import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

/// The exact binomial tails against exact rational sums (Python `fractions.Fraction` over
/// `math.comb`, rounded once to double), and the order-statistic ranks against the binomial
/// table.
final class BinomialTests: XCTestCase {
    /// Small n at p = 1/2: every value is k / 2^n.
    func testSmallTailsAreExactFractions() {
        let actual = [
            Binomial.cdf(1, trials: 10, probability: 0.5), Binomial.cdf(2, trials: 10, probability: 0.5),
            Binomial.survival(atLeast: 8, trials: 10, probability: 0.5), Binomial.survival(atLeast: 10, trials: 10, probability: 0.5),
            Binomial.survival(atLeast: 9, trials: 10, probability: 0.5), Binomial.cdf(5, trials: 20, probability: 0.5),
            Binomial.survival(atLeast: 15, trials: 20, probability: 0.5), Binomial.cdf(0, trials: 1, probability: 0.5),
            Binomial.cdf(3, trials: 7, probability: 0.25), exp(Binomial.logPMF(2, trials: 10, probability: 0.5)),
        ]
        // numerator / 2^n (the Bin(7, 1/4) value is 3807/4096, exact in binary).
        let fractions: [(Double, Double)] = [
            (11, 1024), (56, 1024), (56, 1024), (1, 1024), (11, 1024), (21700, 1_048_576), (21700, 1_048_576), (1, 2),
            (3807, 4096), (45, 1024),
        ]
        let expected = fractions.map { $0.0 / $0.1 }
        DecayTestKit.assertClose(actual, expected, relative: 1e-13, "binomial tails")
    }

    /// n in the thousands, p = 1/2 and p = 0.3; tails that underflow a double compared in log space.
    func testLargeTailsAgainstExactSums() {
        let actual = [
            Binomial.cdf(450, trials: 1000, probability: 0.5),
            Binomial.cdf(850, trials: 3000, probability: 0.3),
            Binomial.survival(atLeast: 950, trials: 3000, probability: 0.3),
        ]
        let expected = [0.0008652680424881588, 0.02384676879321429, 0.02472302089087188]
        DecayTestKit.assertClose(actual, expected, relative: 1e-12, "large-n tails")
        // P(Bin(5000, 1/2) >= 4000) ~ e^-968 and P(Bin(4000, 1/2) <= 100) ~ e^-2308: 0 as doubles.
        let logs = [Binomial.logSurvival(atLeast: 4000, trials: 5000, probability: 0.5),
                    Binomial.logCDF(100, trials: 4000, probability: 0.5)]
        DecayTestKit.assertClose(logs, [-967.6976568108116, -2308.145062629219], relative: 1e-13, "log tails")
        XCTAssertEqual(Binomial.survival(atLeast: 4000, trials: 5000, probability: 0.5), 0)
    }

    /// `P(X <= k) = I_{1-p}(n-k, k+1)`: the tail sum against the incomplete beta of ``StudentT``
    /// (an independent algorithm: a continued fraction, not a sum of terms).
    func testTailMatchesIncompleteBeta() {
        var actual: [Double] = [], expected: [Double] = []
        for (n, p) in [(7, 0.5), (40, 0.5), (40, 0.13), (250, 0.7), (1999, 0.5)] {
            for k in stride(from: 0, to: n, by: max(1, n / 9)) {
                actual.append(Binomial.cdf(k, trials: n, probability: p))
                expected.append(StudentT.regularizedIncompleteBeta(
                    a: Double(n - k), b: Double(k + 1), x: 1 - p, oneMinusX: p))
            }
        }
        DecayTestKit.assertClose(actual, expected, relative: 1e-11, absolute: 1e-300, "cdf vs I_{1-p}(n-k, k+1)")
    }

    func testEdges() {
        XCTAssertEqual(Binomial.cdf(-1, trials: 5, probability: 0.5), 0)
        XCTAssertEqual(Binomial.cdf(5, trials: 5, probability: 0.5), 1)
        XCTAssertEqual(Binomial.survival(atLeast: 0, trials: 5, probability: 0.5), 1)
        XCTAssertEqual(Binomial.survival(atLeast: 6, trials: 5, probability: 0.5), 0)
        XCTAssertEqual(Binomial.survival(atLeast: 0, trials: 0, probability: 0.5), 1)
        XCTAssertEqual(Binomial.cdf(0, trials: 4, probability: 0), 1)
        XCTAssertEqual(Binomial.survival(atLeast: 1, trials: 4, probability: 0), 0)
        XCTAssertEqual(Binomial.survival(atLeast: 4, trials: 4, probability: 1), 1)
        XCTAssertEqual(Binomial.cdf(3, trials: 4, probability: 1), 0)
        // The two tails add to one.
        for k in 0...12 {
            let sum = Binomial.cdf(k - 1, trials: 12, probability: 0.35) + Binomial.survival(atLeast: k, trials: 12, probability: 0.35)
            XCTAssertEqual(sum, 1, accuracy: 1e-14, "k = \(k)")
        }
    }

    /// The 95% order-statistic interval of the median for n = 1...30: ranks (k, n+1-k) and the
    /// exact coverage 1 - 2 P(Bin(n, 1/2) <= k-1) as numerator / 2^(n-1), from the binomial
    /// table (exact rational arithmetic). n <= 5: none.
    func testOrderStatisticRanksMatchTheBinomialTable() {
        // n: (k, coverage numerator, log2 denominator)
        let table: [Int: (Int, Double, Double)] = [
            6: (1, 31, 5), 7: (1, 63, 6), 8: (1, 127, 7), 9: (2, 123, 7), 10: (2, 501, 9), 11: (2, 253, 8),
            12: (3, 1969, 11), 13: (3, 1001, 10), 14: (3, 4043, 12), 15: (4, 247, 8), 16: (4, 32071, 15),
            17: (5, 31161, 15), 18: (5, 7939, 13), 19: (5, 64277, 16), 20: (6, 125_647, 17), 21: (6, 127_585, 17),
            22: (6, 2_061_709, 21), 23: (7, 4_048_805, 22), 24: (7, 8_198_557, 23), 25: (8, 8_025_505, 23),
            26: (8, 509_105, 19), 27: (8, 8_227_905, 23), 28: (9, 129_426_405, 27), 29: (9, 261_960_915, 28),
            30: (10, 513_906_825, 29),
        ]
        var actualRanks: [Double] = [], expectedRanks: [Double] = []
        var actualCoverage: [Double] = [], expectedCoverage: [Double] = []
        for n in 1...30 {
            let interval = OrderStatisticInterval(sampleSize: n, level: 0.95)
            guard let (k, numerator, log2Denominator) = table[n] else {
                XCTAssertNil(interval, "n = \(n): no pair reaches 95%, got \(String(describing: interval))")
                continue
            }
            guard let interval else { XCTFail("n = \(n): expected ranks (\(k), \(n + 1 - k))"); continue }
            actualRanks += [Double(interval.lowerRank), Double(interval.upperRank)]
            expectedRanks += [Double(k), Double(n + 1 - k)]
            actualCoverage.append(interval.coverage)
            expectedCoverage.append(numerator / pow(2, log2Denominator))
            XCTAssertGreaterThanOrEqual(interval.coverage, 0.95)
        }
        DecayTestKit.assertClose(actualRanks, expectedRanks, "ranks (k, n+1-k), n = 6...30")
        DecayTestKit.assertClose(actualCoverage, expectedCoverage, relative: 1e-14, "actual coverage, n = 6...30")
        let ten = OrderStatisticInterval(sampleSize: 10, level: 0.95)!
        XCTAssertEqual(ten.coverage, 0.978515625, accuracy: 1e-15)
        XCTAssertEqual(OrderStatisticInterval.coverage(lowerRank: 3, sampleSize: 10), 0.890625, accuracy: 1e-15)
        XCTAssertEqual(OrderStatisticInterval.minimumSampleSize(level: 0.95), 6)
        XCTAssertEqual(OrderStatisticInterval.minimumSampleSize(level: 0.99), 8)
        // A level equal to an attainable coverage is met: 1 - 2^-4 at n = 5.
        XCTAssertEqual(OrderStatisticInterval(sampleSize: 5, level: 0.9375)?.lowerRank, 1)
        // A large sample: ranks near n/2 -/+ 1.96 sqrt(n)/2.
        let big = OrderStatisticInterval(sampleSize: 1000, level: 0.95)!
        XCTAssertEqual(big.lowerRank, 469, "n = 1000: k (exact sum: coverage 0.95371 at 469, 0.94632 at 470)")
        XCTAssertEqual(big.coverage, 0.9537088026395019, accuracy: 1e-12)
        XCTAssertLessThan(OrderStatisticInterval.coverage(lowerRank: big.lowerRank + 1, sampleSize: 1000), 0.95)
    }
}
