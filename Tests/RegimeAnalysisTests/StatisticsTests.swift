import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

final class StatisticsTests: XCTestCase {
    // MARK: Student t

    /// Two-sided 95% critical values t_{0.975, df} from standard tables.
    func testStudentTQuantilesMatchTables() {
        let table: [(Double, Double)] = [
            (1, 12.7062047), (2, 4.30265273), (4, 2.77644511), (9, 2.26215716), (29, 2.04522964), (1000, 1.96233908),
        ]
        let actual = table.map { StudentT.quantile(0.975, degreesOfFreedom: $0.0) }
        DecayTestKit.assertClose(actual, table.map(\.1), absolute: 1e-6, "t_0.975 at df \(table.map(\.0))")
    }

    /// More digits (SciPy 1.17 `stats.t.ppf`, the last three from 40-digit mpmath root finding
    /// on `betainc`), other probabilities, non-integer df, far tails, huge df.
    func testStudentTQuantilesToHighPrecision() {
        let cases: [(p: Double, df: Double, t: Double)] = [
            (0.975, 1, 12.706204736174694), (0.975, 2, 4.302652729749462), (0.975, 3, 3.1824463052837078),
            (0.975, 4, 2.7764451051977934), (0.975, 9, 2.262157162798205), (0.975, 29, 2.045229642132703),
            (0.975, 1000, 1.9623390808264083), (0.975, 1e6, 1.959966356814107),
            (0.995, 5, 4.032142983555228), (1e-10, 3, -2225.769284683093), (0.975, 2.5, 3.5746548420036817),
            (0.9, 0.5, 10.27032441023451), (0.999999, 1e7, 4.753427112749766),
            (0.5001, 4, 0.00026666667061725468), (0.975, 1e7, 1.959964221767205), (1e-12, 1e5, -7.035371742393576),
        ]
        let actual = cases.map { StudentT.quantile($0.p, degreesOfFreedom: $0.df) }
        DecayTestKit.assertClose(actual, cases.map(\.t), relative: 1e-12, "quantiles \(cases.map { ($0.p, $0.df) })")
    }

    func testStudentTCdfAndSymmetry() {
        XCTAssertEqual(StudentT.cdf(-3, degreesOfFreedom: 7), 0.009971063065996268, accuracy: 1e-15)
        XCTAssertEqual(StudentT.cdf(1.5, degreesOfFreedom: 1e5), 0.9331912202385847, accuracy: 1e-14)
        XCTAssertEqual(StudentT.cdf(0, degreesOfFreedom: 3), 0.5)
        XCTAssertEqual(StudentT.quantile(0.5, degreesOfFreedom: 3), 0)
        XCTAssertEqual(StudentT.quantile(1, degreesOfFreedom: 3), .infinity)
        XCTAssertEqual(StudentT.quantile(0, degreesOfFreedom: 3), -.infinity)
        var worst = 0.0
        var worstCase = ""
        for df in [1.0, 2, 3, 5, 10, 30, 100, 1e4] {
            for p in [1e-8, 0.001, 0.025, 0.1, 0.3, 0.49, 0.6, 0.9, 0.975, 0.999] {
                let t = StudentT.quantile(p, degreesOfFreedom: df)
                // Symmetry, with both probabilities exact: 1 - (1 - p) is exact for 1 - p in [0.5, 1].
                let upper = max(p, 1 - p), lower = 1 - upper
                XCTAssertEqual(StudentT.quantile(upper, degreesOfFreedom: df),
                               -StudentT.quantile(lower, degreesOfFreedom: df),
                               accuracy: 1e-12 * abs(t), "df \(df) p \(p)")
                let back = StudentT.cdf(t, degreesOfFreedom: df)
                let err = abs(back - p) / p
                if err > worst { worst = err; worstCase = "df \(df) p \(p) t \(t) cdf \(back)" }
            }
        }
        XCTAssertLessThan(worst, 1e-11, "largest relative cdf(quantile(p)) - p: \(worst) at \(worstCase)")
    }

    // MARK: sample summary

    func testSummaryWithCensoredValues() throws {
        let s = SampleSummary([1, 2, nil, 3, 4, nil] as [Double?])
        XCTAssertEqual(s.n, 4)
        XCTAssertEqual(s.censored, 2)
        XCTAssertEqual(s.mean, 2.5)
        XCTAssertEqual(s.sd!, (5.0 / 3).squareRoot(), accuracy: 1e-15)
        let half = 3.1824463052837078 * (5.0 / 3).squareRoot() / 2
        XCTAssertEqual(s.ciLow!, 2.5 - half, accuracy: 1e-12)
        XCTAssertEqual(s.ciHigh!, 2.5 + half, accuracy: 1e-12)

        let times = SampleSummary([120, nil, 80] as [Int?])
        XCTAssertEqual(times.n, 2)
        XCTAssertEqual(times.censored, 1)
        XCTAssertEqual(times.mean, 100)
        XCTAssertEqual(times.sd!, Double(800).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(times.ciHigh! - 100, 12.706204736174694 * 20, accuracy: 1e-9)

        let withNaN = SampleSummary([1, .nan, 3, .infinity])
        XCTAssertEqual(withNaN.n, 2)
        XCTAssertEqual(withNaN.censored, 2)
    }

    func testSummarySmallSamplesHaveNullSpread() throws {
        let one = SampleSummary([nil, 7.0, nil])
        XCTAssertEqual(one, SampleSummary(n: 1, mean: 7, sd: nil, ciLow: nil, ciHigh: nil, censored: 2))
        let none = SampleSummary([nil, nil] as [Double?])
        XCTAssertEqual(none, SampleSummary(n: 0, mean: nil, sd: nil, ciLow: nil, ciHigh: nil, censored: 2))
        let constant = SampleSummary([0.1, 0.1, 0.1, 0.1, 0.1])
        XCTAssertEqual(constant.sd, 0)
        XCTAssertEqual(constant.ciLow, constant.mean)

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(one), as: UTF8.self)
        XCTAssertEqual(json, #"{"censored":2,"ci_high":null,"ci_low":null,"mean":7,"n":1,"sd":null}"#)
        XCTAssertEqual(try JSONDecoder().decode(SampleSummary.self, from: Data(json.utf8)), one)
        let full = SampleSummary([1.0, 2, 4])
        XCTAssertEqual(try JSONDecoder().decode(SampleSummary.self, from: try encoder.encode(full)), full)
    }

    func testSummaryIsAccurateWithLargeOffset() {
        // Values 1e9 + {1, 2, 3, 4}: the naive sum-of-squares formula loses everything here.
        let values: [Double?] = [1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4]
        let s = SampleSummary(values)
        XCTAssertEqual(s.mean, 1e9 + 2.5)
        XCTAssertEqual(s.sd!, (5.0 / 3).squareRoot(), accuracy: 1e-12)
    }

    // MARK: moment accumulator
}
