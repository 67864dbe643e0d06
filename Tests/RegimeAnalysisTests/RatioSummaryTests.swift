import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

/// Ratio statistics on samples where every number is computed by hand (geometric-mean digits
/// from NumPy/SciPy: `exp(mean(log r))`, `stats.t.ppf(0.975, n-1)`), the sign test against
/// exact binomial values, and censoring.
final class RatioSummaryTests: XCTestCase {
    typealias Kit = DecayTestKit

    static let censored = TimeEstimate.unavailable(.censored)
    static let noDecay = TimeEstimate.unavailable(.noDecay)
    static let notApplicable = TimeEstimate.unavailable(.notApplicable)

    func pair(_ tW: Double, _ tA: Double) -> TimingComparison { TimingComparison(tW: .time(tW), tA: .time(tA)) }

    /// nil as NaN, so optional fields compare with ``DecayTestKit/assertClose`` (no field is NaN).
    func values(_ xs: [Double?]) -> [Double] { xs.map { $0 ?? .nan } }

    func medianFields(_ m: MedianSummary) -> [Double] {
        values([Double(m.n), m.median, m.medianLow, m.medianHigh, m.interval.coverage, m.lowerRank.map(Double.init),
                m.upperRank.map(Double.init), m.interval.low, m.interval.high])
    }

    func counts(_ s: RatioSummary) -> [Int] {
        [s.trials, s.bothMeasured, s.twCensored, s.taCensored, s.bothCensored, s.noDecay, s.notApplicable]
    }

    func signFields(_ s: SignTest) -> [Double] { [Double(s.taFirst), Double(s.twFirst), Double(s.ties), s.pValue] }

    // MARK: hand-computed samples

    /// n = 3: r = 2, 3, 0.5. No 95% median interval exists (the widest pair covers 1 - 2^-2).
    func testThreeTrials() {
        let s = RatioSummary([pair(200, 100), pair(300, 100), pair(100, 200)], runLengths: [1000, 1000, 1000])
        XCTAssertEqual(counts(s), [3, 3, 0, 0, 0, 0, 0], "trials, both measured, tw/ta/both censored, no_decay, n/a")
        let g = s.geometricMean
        Kit.assertClose(values([g.geometricMean, g.logMean, g.logSD, g.interval.low, g.interval.high]),
                        [1.4422495703074083, 0.36620409622270317, 0.93955805259125, 0.1397657468478743, 14.882643780496064],
                        relative: 1e-13, "geometric mean 3^(1/3), log mean, log sd, t interval")
        XCTAssertNil(g.interval.unavailableReason)
        XCTAssertEqual(g.interval.coverage, 0.95, "the t interval states its nominal level")
        // median 2, no interval, and it says why.
        Kit.assertClose(medianFields(s.median), values([3, 2, 2, 2, nil, nil, nil, nil, nil]), "median of r")
        XCTAssertEqual(s.median.interval.unavailableReason, .tooFewForLevel)
        XCTAssertEqual(s.medianBounds, s.median, "nothing censored: the bounds are the median")
        // 2 of 3 with t_a first: P(Bin(3, 1/2) >= 2) = 4/8.
        Kit.assertClose(signFields(s.signTest), [2, 1, 0, 0.5], relative: 1e-14, "sign test")
        Kit.assertClose(medianFields(s.tW.median), values([3, 200, 200, 200, nil, nil, nil, nil, nil]), "t_w")
        Kit.assertClose(medianFields(s.tA.median), values([3, 100, 100, 100, nil, nil, nil, nil, nil]), "t_a")
    }

    /// The n = 10 sample: r = 0.8, 1.1, 1.5, 2, 2.5, 3, 4, 5, 6, 9 (shuffled, various t_a).
    /// Median (2.5 + 3)/2 = 2.75; 95% interval (x_(2), x_(9)) = (1.1, 6) with coverage
    /// 1 - 22/1024 = 0.978515625; 9 of 10 with t_a first: P(Bin(10, 1/2) >= 9) = 11/1024.
    static let tenTrials: [(tW: Double, tA: Double)] = [
        (400, 100), (40, 50), (900, 100), (300, 200), (110, 100), (90, 30), (120, 60), (500, 100), (250, 100), (240, 40),
    ]

    func ten() -> [TimingComparison] { Self.tenTrials.map { pair($0.tW, $0.tA) } }

    func testTenTrials() {
        let s = RatioSummary(ten(), runLengths: Array(repeating: 1000, count: 10))
        XCTAssertEqual(counts(s), [10, 10, 0, 0, 0, 0, 0])
        let g = s.geometricMean
        Kit.assertClose(values([g.geometricMean, g.logMean, g.logSD, g.interval.low, g.interval.high]),
                        [2.710247138580843, 0.9970398257818756, 0.7716998448828633, 1.5604886547064631, 4.707140631898646],
                        relative: 1e-13, "geometric mean and t interval on log r")
        Kit.assertClose(medianFields(s.median), [10, 2.75, 2.75, 2.75, 0.978515625, 2, 9, 1.1, 6],
                        relative: 1e-15, "n, median, bounds, coverage, ranks, interval")
        XCTAssertNil(s.median.interval.unavailableReason)
        XCTAssertEqual(s.medianBounds, s.median)
        Kit.assertClose(signFields(s.signTest), [9, 1, 0, 11.0 / 1024], relative: 1e-13, "sign test")
        // t_w sorted: 40 90 110 120 240 250 300 400 500 900; t_a: 30 40 50 60 100 x5 200.
        Kit.assertClose(medianFields(s.tW.median), [10, 245, 245, 245, 0.978515625, 2, 9, 90, 500], relative: 1e-15, "t_w")
        Kit.assertClose(medianFields(s.tA.median), [10, 100, 100, 100, 0.978515625, 2, 9, 40, 100], relative: 1e-15, "t_a")
        XCTAssertEqual([s.tW.trials, s.tW.measured, s.tW.censored, s.tW.noDecay, s.tW.notApplicable], [10, 10, 0, 0, 0])
        // The order of the trials does not matter.
        let reversed = RatioSummary(ten().reversed(), runLengths: Array(repeating: 1000, count: 10))
        XCTAssertEqual(reversed.median, s.median)
        XCTAssertEqual(reversed.signTest, s.signTest)
        XCTAssertEqual(reversed.geometricMean.geometricMean!, g.geometricMean!, accuracy: 1e-15 * g.geometricMean!)
    }

    // MARK: sign test

    func testSignTestAgainstExactBinomialValues() {
        let cases: [(taFirst: Int, twFirst: Int, ties: Int, p: Double)] = [
            (10, 0, 0, 1.0 / 1024), (8, 2, 0, 56.0 / 1024), (8, 2, 3, 56.0 / 1024), (5, 5, 0, 638.0 / 1024),
            (0, 10, 0, 1), (2, 1, 0, 0.5), (0, 0, 4, 1), (15, 5, 0, 21700.0 / 1_048_576), (1, 0, 0, 0.5),
        ]
        let actual = cases.map { SignTest(taFirst: $0.taFirst, twFirst: $0.twFirst, ties: $0.ties).pValue }
        Kit.assertClose(actual, cases.map(\.p), relative: 1e-13,
                        "one-sided p = P(Bin(m, 1/2) >= taFirst) for \(cases.map { ($0.taFirst, $0.twFirst) })")
        // Counting from the trials: ties are excluded from m (and counted).
        let s = RatioSummary([pair(100, 100), pair(300, 100), pair(200, 100), pair(50, 100)], runLengths: [500, 500, 500, 500])
        Kit.assertClose(signFields(s.signTest), [2, 1, 1, 0.5], relative: 1e-14, "tie excluded")
    }

    // MARK: censoring

    /// Each censoring pattern on one trial of the n = 10 sample (T = 1000) moves the median
    /// bounds as the trial's interval says; dropping the trial instead would move the median
    /// the other way or not at all.
    func testEachCensoringPatternMovesTheMedianBounds() {
        func summary(_ index: Int, _ tW: TimeEstimate?, _ tA: TimeEstimate?) -> RatioSummary {
            var trials = ten()
            let (w, a) = Self.tenTrials[index]
            trials[index] = TimingComparison(tW: tW ?? .time(w), tA: tA ?? .time(a))
            return RatioSummary(trials, runLengths: Array(repeating: 1000, count: 10))
        }
        // Trial 6 (120, 60), r = 2: t_w censored puts r in [1000/60, inf], above every other r,
        // so the median is determined: sorted 0.8 1.1 1.5 2.5 3 | 4 5 6 9 [16.7, inf] -> (3+4)/2.
        var s = summary(6, Self.censored, nil)
        XCTAssertEqual(counts(s), [10, 9, 1, 0, 0, 0, 0])
        Kit.assertClose(medianFields(s.medianBounds), [10, 3.5, 3.5, 3.5, 0.978515625, 2, 9, 1.1, 9],
                        relative: 1e-15, "t_w censored on r = 2")
        XCTAssertEqual(s.median.median, 3, "over the 9 measured trials (biased low: the censored one is the largest)")
        Kit.assertClose(signFields(s.signTest), [9, 1, 0, 11.0 / 1024], relative: 1e-13, "censored t_w counts as t_a first")
        XCTAssertEqual([s.tW.measured, s.tW.censored, s.tA.measured, s.tA.censored], [9, 1, 10, 0])
        // t_w of trial 6 is in [1000, inf]: sorted t_w 40 90 110 240 250 | 300 400 500 900 [1000, inf].
        Kit.assertClose(medianFields(s.tW.median), [10, 275, 275, 275, 0.978515625, 2, 9, 90, 900], relative: 1e-15, "t_w")

        // Trial 0 (400, 100), r = 4: t_a censored puts r in [0, 0.4], below every other r:
        // [0, 0.4] 0.8 1.1 1.5 2 | 2.5 3 5 6 9 -> (2 + 2.5)/2.
        s = summary(0, nil, Self.censored)
        XCTAssertEqual(counts(s), [10, 9, 0, 1, 0, 0, 0])
        Kit.assertClose(medianFields(s.medianBounds), [10, 2.25, 2.25, 2.25, 0.978515625, 2, 9, 0.8, 6],
                        relative: 1e-15, "t_a censored on r = 4")
        Kit.assertClose(signFields(s.signTest), [8, 2, 0, 56.0 / 1024], relative: 1e-13, "censored t_a counts as t_w first")

        // Trial 0 with both censored: r in [0, inf]: the median lies in [2.25, 2.75], not determined.
        s = summary(0, Self.censored, Self.censored)
        XCTAssertEqual(counts(s), [10, 9, 0, 0, 1, 0, 0])
        Kit.assertClose(medianFields(s.medianBounds), values([10, nil, 2.25, 2.75, 0.978515625, 2, 9, 0.8, 9]),
                        relative: 1e-15, "both censored on r = 4")
        Kit.assertClose(signFields(s.signTest), [8, 1, 0, 10.0 / 512], relative: 1e-13, "both censored: excluded")

        // Trial 2 (900, 100), r = 9, the largest: t_w censored gives [10, inf], the median stays.
        s = summary(2, Self.censored, nil)
        Kit.assertClose(medianFields(s.medianBounds), [10, 2.75, 2.75, 2.75, 0.978515625, 2, 9, 1.1, 6],
                        relative: 1e-15, "t_w censored on the largest r")

        // no_decay reads as censored, and is counted.
        s = summary(6, Self.noDecay, nil)
        XCTAssertEqual(counts(s), [10, 9, 1, 0, 0, 1, 0], "no_decay counted as t_w censored and as no_decay")
        Kit.assertClose(medianFields(s.medianBounds), [10, 3.5, 3.5, 3.5, 0.978515625, 2, 9, 1.1, 9], relative: 1e-15, "no_decay")
        XCTAssertEqual([s.tW.censored, s.tW.noDecay], [1, 1])

        // not_applicable: excluded from everything, counted; the other time still counts for itself.
        s = summary(6, Self.notApplicable, nil)
        XCTAssertEqual(counts(s), [10, 9, 0, 0, 0, 0, 1])
        XCTAssertEqual(s.medianBounds.n, 9)
        XCTAssertEqual(s.median.median, 3)
        XCTAssertEqual([s.signTest.taFirst + s.signTest.twFirst + s.signTest.ties], [9])
        XCTAssertEqual([s.tW.trials, s.tW.measured, s.tW.notApplicable, s.tA.measured], [10, 9, 1, 10])
        // A one-sided censored trial without a usable run length cannot be bounded: not_applicable.
        var trials = ten()
        trials[6] = TimingComparison(tW: Self.censored, tA: .time(60))
        for badT in [0, -5, Double.nan, .infinity] {
            var lengths = Array(repeating: 1000.0, count: 10)
            lengths[6] = badT
            let bad = RatioSummary(trials, runLengths: lengths)
            XCTAssertEqual(counts(bad), [10, 9, 0, 0, 0, 0, 1], "T = \(badT)")
            XCTAssertEqual([bad.tW.notApplicable, bad.tA.notApplicable], [1, 0], "T = \(badT)")
        }
        // Numbers that are no usable times: zero, negative, non-finite.
        for bad in [0.0, -3, .infinity, .nan] {
            let r = RatioSummary([pair(bad, 100), pair(100, bad)], runLengths: [1000, 1000])
            XCTAssertEqual(counts(r), [2, 0, 0, 0, 0, 0, 2], "time \(bad)")
        }
    }

    /// Everything censored: the median of r is somewhere in (0, inf), and the interval says so.
    func testAllCensoredGivesZeroToInfinity() {
        let trials = (0..<8).map { k in
            k % 3 == 0 ? TimingComparison(tW: Self.noDecay, tA: Self.censored) : TimingComparison(tW: Self.censored, tA: Self.censored)
        }
        let s = RatioSummary(trials, runLengths: Array(repeating: 1500, count: 8))
        XCTAssertEqual(counts(s), [8, 0, 0, 0, 8, 3, 0])
        Kit.assertClose(medianFields(s.medianBounds), values([8, nil, 0, .infinity, 0.9921875, 1, 8, 0, .infinity]),
                        "all censored: (0, inf)")
        XCTAssertEqual(s.geometricMean.n, 0)
        XCTAssertNil(s.geometricMean.geometricMean)
        XCTAssertEqual(s.geometricMean.interval.unavailableReason, .noValues)
        XCTAssertEqual(s.median.interval.unavailableReason, .noValues)
        Kit.assertClose(signFields(s.signTest), [0, 0, 0, 1], "no decided trial: p = 1")
        // Times: every one later than T = 1500.
        Kit.assertClose(medianFields(s.tW.median), values([8, nil, 1500, .infinity, 0.9921875, 1, 8, 1500, .infinity]), "t_w")
        XCTAssertEqual([s.tW.censored, s.tW.noDecay, s.tA.censored, s.tA.noDecay], [8, 3, 8, 0])
        // An empty group.
        let empty = RatioSummary([], runLengths: [])
        XCTAssertEqual(counts(empty), [0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(empty.medianBounds.interval.unavailableReason, .noValues)
        XCTAssertNil(empty.medianBounds.medianLow)
    }

    /// The bounds are exact on random samples: for random realisations of the censored values
    /// within their intervals, the sample median and the order statistics of the interval stay
    /// inside the reported bounds, and the bounds are attained (every censored value at its
    /// lower end, then at a huge value for the upper end).
    func testBoundsContainEveryRealisation() {
        var rng = Xoshiro256(seed: 20_260_521, stream: .synthetic)
        var checked = 0
        for trial in 0..<300 {
            let n = 1 + rng.nextInt(below: 14)
            var comparisons: [TimingComparison] = [], truth: [(w: Double, a: Double)] = []
            let runLength = 1000.0
            for _ in 0..<n {
                let a = 50 + 1200 * rng.nextUnitDouble(), w = 50 + 1200 * rng.nextUnitDouble()
                truth.append((w, a))
                comparisons.append(TimingComparison(tW: w > runLength ? Self.censored : .time(w.rounded()),
                                                    tA: a > runLength ? Self.censored : .time(a.rounded())))
            }
            let s = RatioSummary(comparisons, runLengths: Array(repeating: runLength, count: n))
            XCTAssertEqual(s.trials, s.bothMeasured + s.twCensored + s.taCensored + s.bothCensored + s.notApplicable)
            let m = s.medianBounds
            guard let low = m.medianLow, let high = m.medianHigh else { XCTFail("trial \(trial): no bounds"); continue }
            // Realisations: the true times (censored ones are really > T), then random ones.
            for realisation in 0..<20 {
                let rs = zip(comparisons, truth).map { c, t -> Double in
                    let w = c.tW.value ?? (realisation == 0 ? t.w : runLength * (1 + 3 * rng.nextUnitDouble()))
                    let a = c.tA.value ?? (realisation == 0 ? t.a : runLength * (1 + 3 * rng.nextUnitDouble()))
                    return w / a
                }.sorted()
                let median = Bootstrap.median(rs)!
                if !(low <= median && median <= high) {
                    XCTFail("trial \(trial): median \(median) outside [\(low), \(high)] for \(comparisons)")
                }
                if let k = m.lowerRank, let u = m.upperRank, let cl = m.interval.low, let ch = m.interval.high {
                    if !(cl <= rs[k - 1] && rs[u - 1] <= ch) {
                        XCTFail("trial \(trial): order statistics (\(rs[k - 1]), \(rs[u - 1])) outside [\(cl), \(ch)]")
                    }
                }
                checked += 1
            }
            // Attained: all censored t_w at T and t_a at +inf (lower), or the reverse (upper).
            let lowest = comparisons.map { ($0.tW.value ?? runLength) / ($0.tA.value ?? .infinity) }
            let highest = comparisons.map { ($0.tW.value ?? .infinity) / ($0.tA.value ?? runLength) }
            let nan = lowest.contains { $0.isNaN } || highest.contains { $0.isNaN }
            XCTAssertFalse(nan)
            XCTAssertEqual(Bootstrap.median(lowest)!, low, accuracy: 1e-12 * max(1, low), "trial \(trial): low attained")
            let top = Bootstrap.median(highest)!
            XCTAssert(top == high || abs(top - high) <= 1e-12 * high, "trial \(trial): high \(high) vs \(top)")
        }
        XCTAssertEqual(checked, 6000)
    }

    // MARK: JSON

    func testJSONKeysNullsAndInfinity() throws {
        var trials = ten()
        trials[0] = TimingComparison(tW: Self.censored, tA: Self.censored)
        trials[1] = TimingComparison(tW: Self.censored, tA: Self.censored)
        trials[2] = TimingComparison(tW: Self.censored, tA: .time(100))
        trials[3] = TimingComparison(tW: Self.censored, tA: .time(100))
        trials[4] = TimingComparison(tW: Self.notApplicable, tA: .time(100))
        let s = RatioSummary(trials, runLengths: Array(repeating: 1000, count: 10))
        let data = try JSONCoding.encoder().encode(s)
        let text = String(decoding: data, as: UTF8.self)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["trials", "both_measured", "tw_censored", "ta_censored", "both_censored", "no_decay",
                                          "not_applicable", "level", "geometric_mean", "median", "median_bounds", "sign_test",
                                          "t_w", "t_a"])
        let bounds = try XCTUnwrap(object["median_bounds"] as? [String: Any])
        XCTAssertEqual(Set(bounds.keys), ["n", "median", "median_low", "median_high", "lower_rank", "upper_rank", "interval"])
        let interval = try XCTUnwrap(bounds["interval"] as? [String: Any])
        XCTAssertEqual(Set(interval.keys), ["level", "coverage", "low", "high", "unavailable_reason"])
        XCTAssertEqual(interval["high"] as? String, "inf", text)
        XCTAssert(interval["unavailable_reason"] is NSNull, "explicit null: \(text)")
        let geometric = try XCTUnwrap(object["geometric_mean"] as? [String: Any])
        XCTAssertEqual(Set(geometric.keys), ["n", "geometric_mean", "log_mean", "log_sd", "interval"])
        XCTAssertEqual(Set(try XCTUnwrap(object["sign_test"] as? [String: Any]).keys), ["ta_first", "tw_first", "ties", "p_value"])
        XCTAssertEqual(Set(try XCTUnwrap(object["t_w"] as? [String: Any]).keys),
                       ["trials", "measured", "censored", "no_decay", "not_applicable", "median"])
        XCTAssertEqual(try JSONCoding.decoder().decode(RatioSummary.self, from: data), s)

        // The exact form of a small median summary: no interval, and why.
        let small = MedianSummary([3, 1, 2], level: 0.95)
        XCTAssertEqual(String(decoding: try JSONCoding.encoder().encode(small), as: UTF8.self),
                       #"{"interval":{"coverage":null,"high":null,"level":0.95,"low":null,"unavailable_reason":"too_few_for_level"},"#
                       + #""lower_rank":null,"median":2,"median_high":2,"median_low":2,"n":3,"upper_rank":null}"#)
        let single = GeometricMeanSummary([4], level: 0.95)
        XCTAssertEqual(String(decoding: try JSONCoding.encoder().encode(single), as: UTF8.self),
                       #"{"geometric_mean":4,"interval":{"coverage":null,"high":null,"level":0.95,"low":null,"#
                       + #""unavailable_reason":"single_value"},"log_mean":1.3862943611198906,"log_sd":null,"n":1}"#)
    }
}
