import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

/// Test helpers shared by the decay and statistics tests, namespaced so they cannot collide with
/// other helpers in the RegimeCoreTests target.
typealias SplitMix64Generator = RegimeCore.SplitMix64

enum DecayTestKit {
    /// Compares two Double arrays element-wise (NaN equals NaN, equal infinities are equal); on
    /// failure reports the first differing index with both values and the largest difference.
    static func assertClose(
        _ actual: [Double], _ expected: [Double], relative: Double = 0, absolute: Double = 0,
        _ message: String = "", file: StaticString = #filePath, line: UInt = #line
    ) {
        guard actual.count == expected.count else {
            XCTFail("\(message) length \(actual.count) != expected \(expected.count)", file: file, line: line)
            return
        }
        var firstBad: Int?
        var largest = 0.0
        var largestAt = -1
        for k in 0..<actual.count {
            let a = actual[k], e = expected[k]
            if a.isNaN && e.isNaN { continue }
            if a == e { continue }
            let diff = abs(a - e).isNaN ? Double.infinity : abs(a - e)
            if largestAt < 0 || diff > largest { largest = diff; largestAt = k }
            if !(diff <= absolute + relative * abs(e)) && firstBad == nil { firstBad = k }
        }
        if let k = firstBad {
            XCTFail("\(message) first difference at [\(k)]: \(actual[k]) vs expected \(expected[k]); "
                    + "largest difference \(largest) at [\(largestAt)] (\(actual[largestAt]) vs \(expected[largestAt]))",
                    file: file, line: line)
        }
    }

    /// Compares optional times; on failure reports the first differing position and the largest
    /// difference among positions where both are numbers.
    static func assertTimes(
        _ actual: [Int?], _ expected: [Int?], _ message: String = "", file: StaticString = #filePath, line: UInt = #line
    ) {
        guard actual != expected else { return }
        guard actual.count == expected.count else {
            XCTFail("\(message) \(actual) vs expected \(expected) (lengths differ)", file: file, line: line)
            return
        }
        let k = actual.indices.first { actual[$0] != expected[$0] }!
        var largest = 0
        for (a, e) in zip(actual, expected) { if let a, let e { largest = max(largest, abs(a - e)) } }
        XCTFail("\(message) first difference at [\(k)]: \(String(describing: actual[k])) vs expected "
                + "\(String(describing: expected[k])); largest numeric difference \(largest); "
                + "actual \(actual), expected \(expected)", file: file, line: line)
    }

    /// The threshold and area rules as a test reads them: the settings of the rules' original
    /// form (`peak_skip` an inclusive first iteration, as `docs/numerics.md` writes it) mapped onto
    /// ``AnalysisOptions`` (`earlyPeak(window:, skip: peakSkip - 1)`), then the real
    /// ``DecayEstimators/analyze(iterations:values:options:)``.
    struct DecayOptions: Decodable, Equatable {
        var smoothing = 25
        var thresholds = [0.05, 0.1, 0.2]
        var peakWindow = 50
        var peakSkip = 0
        var areaFraction = 0.9

        init() {}

        enum CodingKeys: String, CodingKey {
            case smoothing, thresholds, peakWindow = "peak_window", peakSkip = "peak_skip", areaFraction = "area_fraction"
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            smoothing = try c.decodeIfPresent(Int.self, forKey: .smoothing) ?? 25
            thresholds = try c.decodeIfPresent([Double].self, forKey: .thresholds) ?? [0.05, 0.1, 0.2]
            peakWindow = try c.decodeIfPresent(Int.self, forKey: .peakWindow) ?? 50
            peakSkip = try c.decodeIfPresent(Int.self, forKey: .peakSkip) ?? 0
            areaFraction = try c.decodeIfPresent(Double.self, forKey: .areaFraction) ?? 0.9
        }

        var analysisOptions: AnalysisOptions {
            AnalysisOptions(smoothing: smoothing, thresholds: thresholds,
                            normalization: .earlyPeak(window: peakWindow, skip: max(0, peakSkip - 1)),
                            epsilonGrid: thresholds, areaFraction: areaFraction)
        }
    }

    struct CurveDecay: Equatable {
        var peak: Double?
        var thresholdTimes: [Int?]
        var areaTime: Int?
    }

    /// Equal times, and peaks equal to 1e-14 relative (the oracle sums naively, the rule with a
    /// compensated running sum).
    static func assertSame(_ a: CurveDecay, _ b: CurveDecay, _ message: String = "",
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.thresholdTimes, b.thresholdTimes, "\(message) times", file: file, line: line)
        XCTAssertEqual(a.areaTime, b.areaTime, "\(message) area", file: file, line: line)
        switch (a.peak, b.peak) {
        case let (x?, y?): XCTAssertEqual(x, y, accuracy: 1e-14 * max(abs(y), 1e-300), "\(message) peak", file: file, line: line)
        case (nil, nil): break
        default: XCTFail("\(message) peak \(String(describing: a.peak)) vs \(String(describing: b.peak))", file: file, line: line)
        }
    }

    enum DecayDetector {
        static func analyze(iterations: [Int], values: [Double], options: DecayOptions) -> CurveDecay {
            let t = DecayEstimators.analyze(iterations: iterations, values: values, options: options.analysisOptions)
            return CurveDecay(peak: t.reference, thresholdTimes: t.threshold.map { $0.value.map { Int($0) } },
                              areaTime: t.area.value.map { Int($0) })
        }
    }

    /// The definition of `docs/numerics.md` transcribed as literally as possible (O(n * w), no
    /// tricks), as an oracle for the optimised implementation.
    enum LiteralDecay {
        static func analyze(iterations all: [Int], values raw: [Double], options o: DecayOptions) -> CurveDecay {
            // Points before peak_skip are removed before smoothing (a spike cannot leak into the window).
            let kept = all.indices.filter { all[$0] >= o.peakSkip }
            let it = kept.map { all[$0] }, c = kept.map { raw[$0] }
            let n = c.count
            var s = [Double](repeating: 0, count: n)
            for i in 0..<n {
                let lo = max(0, i - o.smoothing + 1)
                var acc = 0.0
                for j in lo...i { acc += c[j] }
                s[i] = acc / Double(i - lo + 1)
            }
            // Only full windows (index >= w - 1) may set the reference.
            let window = (0..<n).filter { $0 >= o.smoothing - 1 && it[$0] >= o.peakSkip && it[$0] <= o.peakWindow }
            let none = [Int?](repeating: nil, count: o.thresholds.count)
            guard !window.isEmpty else { return CurveDecay(peak: nil, thresholdTimes: none, areaTime: nil) }
            if window.contains(where: { s[$0].isNaN }) { return CurveDecay(peak: nil, thresholdTimes: none, areaTime: nil) }
            let p = window.map { s[$0] }.max()!
            guard p.isFinite else { return CurveDecay(peak: nil, thresholdTimes: none, areaTime: nil) }
            guard p > 0 else { return CurveDecay(peak: nil, thresholdTimes: none, areaTime: nil) }
            let nn = s.map { $0 / p }
            // A time inside the first (partial) window is not applicable: no time.
            let times: [Int?] = o.thresholds.map { eps in
                guard let i = (0..<n).first(where: { i in (i..<n).allSatisfy { nn[$0] < eps } }),
                      i >= o.smoothing - 1 else { return nil }
                return it[i]
            }
            var area: Int?
            if nn[n - 1] < 0.5, s.allSatisfy(\.isFinite) {
                let total = s.reduce(0, +)
                var acc = 0.0
                for i in 0..<n {
                    acc += s[i]
                    if acc >= o.areaFraction * total { area = i >= o.smoothing - 1 ? it[i] : nil; break }
                }
            }
            return CurveDecay(peak: p, thresholdTimes: times, areaTime: area)
        }
    }

    /// Deterministic pseudo-random numbers (SplitMix64) so failures reproduce.
    /// The engine's SplitMix64 with a uniform draw in [0, 1).
    struct SplitMix64 {
        var generator: SplitMix64Generator
        init(state: UInt64) { generator = SplitMix64Generator(state: state) }
        mutating func next() -> UInt64 { generator.next() }
        mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
    }
}

final class DecayDetectorTests: XCTestCase {
    typealias DecayOptions = DecayTestKit.DecayOptions
    typealias CurveDecay = DecayTestKit.CurveDecay
    typealias DecayDetector = DecayTestKit.DecayDetector

    // MARK: smoothing

    func testSmoothingWindowOneIsIdentity() {
        var rng = DecayTestKit.SplitMix64(state: 1)
        let values = (0..<500).map { _ in rng.uniform() * 1e3 - 200 } + [.nan, 1, .infinity, 2]
        let s = DecayRules.smooth(values, window: 1)
        DecayTestKit.assertClose(s, values, "window 1")
        XCTAssertEqual(s.count, values.count)
    }

    func testSmoothingMatchesDirectMean() {
        var rng = DecayTestKit.SplitMix64(state: 2)
        let values = (0..<300).map { _ in rng.uniform() }
        for w in [1, 2, 3, 7, 25, 299, 300, 1000] {
            let direct = (0..<values.count).map { i -> Double in
                let lo = max(0, i - w + 1)
                return values[lo...i].reduce(0, +) / Double(i - lo + 1)
            }
            DecayTestKit.assertClose(DecayRules.smooth(values, window: w), direct, relative: 1e-14, "window \(w)")
        }
        XCTAssertEqual(DecayRules.smooth([], window: 5), [])
    }

    func testSmoothingDoesNotDriftOnLongCurves() {
        // Large offset plus small signal: a plain running sum would accumulate error over 2e5 steps.
        var rng = DecayTestKit.SplitMix64(state: 3)
        let n = 200_000, w = 25
        let values = (0..<n).map { i in 1e8 * (i % 1000 == 0 ? 1 : 0) + rng.uniform() * 1e-3 }
        let smoothed = DecayRules.smooth(values, window: w)
        // Exact reference for the last 1000 windows: direct Neumaier-free sum in extended care
        // (values are tiny except the spikes, so the direct sum is accurate to ~1e-16 relative).
        let tailStart = n - 1000
        let direct = (tailStart..<n).map { i -> Double in
            let lo = max(0, i - w + 1)
            return values[lo...i].reduce(0, +) / Double(i - lo + 1)
        }
        DecayTestKit.assertClose(Array(smoothed[tailStart...]), direct, relative: 1e-12, absolute: 1e-18, "tail after 2e5 steps")
    }

    func testSmoothingConfinesNonFiniteToItsWindows() {
        var values = (0..<40).map { Double($0) }
        values[10] = .nan
        values[30] = .infinity
        let w = 5
        let s = DecayRules.smooth(values, window: w)
        for i in 0..<40 {
            if (10..<15).contains(i) {
                XCTAssert(s[i].isNaN, "s[\(i)] = \(s[i]) should be NaN")
            } else if (30..<35).contains(i) {
                XCTAssertEqual(s[i], .infinity, "s[\(i)]")
            } else {
                let lo = max(0, i - w + 1)
                XCTAssertEqual(s[i], values[lo...i].reduce(0, +) / Double(i - lo + 1), accuracy: 1e-12, "s[\(i)]")
            }
        }
    }

    // MARK: exponentials

    /// c(t) = exp(-t/tau) recorded at t = 1..T, smoothing w. For i >= w-1 the trailing mean is
    /// s(t) = A exp(-t/tau) with A = (e^{w/tau} - 1) / (w (e^{1/tau} - 1)). Only full windows set
    /// the reference, so the peak is the first full window's, s(w) = A e^{-w/tau}, and
    /// n(t) = e^{-(t-w)/tau}. Hence t(eps) = the smallest integer t > w + tau ln(1/eps).
    func testExponentialThresholdTimesMatchClosedForm() {
        let options = DecayOptions()
        for tau in [30.0, 100.0, 400.0] {
            let T = Int(tau * 8)
            let it = Array(1...T)
            let c = it.map { exp(-Double($0) / tau) }
            let result = DecayDetector.analyze(iterations: it, values: c, options: options)
            let w = Double(options.smoothing)
            let a = (exp(w / tau) - 1) / (w * (exp(1 / tau) - 1))
            XCTAssertEqual(result.peak!, a * exp(-w / tau), accuracy: 1e-13)
            let exact: [Int?] = options.thresholds.map { eps in Int((w + tau * log(1 / eps)).rounded(.down)) + 1 }
            DecayTestKit.assertTimes(result.thresholdTimes, exact, "tau \(tau)")
            // Area rule: cumulative area of A e^{-t/tau} reaches 90% near tau ln 10 (plus start
            // effects of the first w points, which hold slightly less area than A e^{-t/tau}).
            let area = Double(result.areaTime!)
            XCTAssertEqual(area, tau * log(10) + 1, accuracy: 0.02 * tau + w, "tau \(tau) area")
            DecayTestKit.assertSame(result, DecayTestKit.LiteralDecay.analyze(iterations: it, values: c, options: options))
        }
    }

    func testExponentialWithoutSmoothingHitsTauLogOneOverEps() {
        let tau = 50.0
        var options = DecayOptions()
        options.smoothing = 1
        options.thresholds = [0.01, 0.05, 0.1, 0.2, 0.5]
        let it = Array(1...1000)
        let c = it.map { exp(-Double($0) / tau) }
        let result = DecayDetector.analyze(iterations: it, values: c, options: options)
        // n(t) = e^{-(t-1)/tau} < eps  <=>  t > 1 + tau ln(1/eps).
        let expected: [Int?] = options.thresholds.map { Int((1 + tau * log(1 / $0)).rounded(.down)) + 1 }
        DecayTestKit.assertTimes(result.thresholdTimes, expected)
    }

    func testRecordedEveryKIterations() {
        let tau = 200.0, k = 10
        var options = DecayOptions()
        options.smoothing = 5
        let it = Array(stride(from: k, through: 3000, by: k))
        let c = it.map { exp(-Double($0) / tau) }
        let result = DecayDetector.analyze(iterations: it, values: c, options: options)
        // The only full window in 0...50 ends at iteration 50 (w = 5 points of k = 10): the peak is
        // the mean of c over iterations 10..50, and n(t) = e^{-(t-50)/tau} after it.
        let firstFull = (1...5).map { exp(-Double(10 * $0) / tau) }.reduce(0, +) / 5
        XCTAssertEqual(result.peak!, firstFull, accuracy: 1e-15)
        for (eps, t) in zip(options.thresholds, result.thresholdTimes) {
            guard let t else { XCTFail("eps \(eps) censored"); continue }
            XCTAssertEqual(t % k, 0, "time \(t) is a recorded iteration")
            let approx = 50 + tau * log(1 / eps)
            XCTAssertLessThanOrEqual(abs(Double(t) - approx), Double(k) + 1, "eps \(eps): \(t) vs \(approx)")
        }
        DecayTestKit.assertSame(result, DecayTestKit.LiteralDecay.analyze(iterations: it, values: c, options: options))
    }

    // MARK: censoring

    func testCurvesThatNeverDecayAreCensoredEverywhere() {
        let options = DecayOptions()
        let it = Array(1...2000)
        let none = [Int?](repeating: nil, count: options.thresholds.count)
        let curves: [(String, [Double])] = [
            ("constant", it.map { _ in 0.3 }),
            ("rising", it.map { Double($0) }),
            ("plateau at 60% of the peak", it.map { 0.6 + 0.4 * exp(-Double($0) / 100) }),
            ("zero", it.map { _ in 0 }),
            ("negative", it.map { _ in -1 }),
        ]
        for (name, c) in curves {
            let r = DecayDetector.analyze(iterations: it, values: c, options: options)
            DecayTestKit.assertTimes(r.thresholdTimes, none, name)
            XCTAssertNil(r.areaTime, name)
            DecayTestKit.assertSame(r, DecayTestKit.LiteralDecay.analyze(iterations: it, values: c, options: options), name)
        }
    }

    func testFinalPointAboveThresholdCensorsEvenAfterAnEarlierDip() {
        var options = DecayOptions()
        options.smoothing = 1
        let it = Array(1...100)
        // Decays to 0.01 of the peak, then rises back to 0.15 at the end.
        var c = it.map { exp(-Double($0) / 10) / exp(-0.1) }
        c[99] = 0.15
        let r = DecayDetector.analyze(iterations: it, values: c, options: options)
        DecayTestKit.assertTimes(r.thresholdTimes, [nil, nil, 18])
        XCTAssertNotNil(r.areaTime, "final n 0.15 < 0.5: the area rule applies")
    }

    func testAreaRuleCensoredWhenFinalValueIsHalfThePeak() {
        var options = DecayOptions()
        options.smoothing = 1
        let it = Array(1...100)
        let c = it.map { $0 == 100 ? 0.5 : 1.0 }
        XCTAssertNil(DecayDetector.analyze(iterations: it, values: c, options: options).areaTime)
        let d = it.map { $0 == 100 ? 0.4999 : 1.0 }
        XCTAssertEqual(DecayDetector.analyze(iterations: it, values: d, options: options).areaTime, 90)
    }

    func testRisingThenDecaying() {
        // c(t) = (t/t0) exp(1 - t/t0): rises to 1 at t0 = 20 (inside the peak window), then decays.
        let t0 = 20.0
        let options = DecayOptions()
        let it = Array(1...1500)
        let c = it.map { Double($0) / t0 * exp(1 - Double($0) / t0) }
        let r = DecayDetector.analyze(iterations: it, values: c, options: options)
        let literal = DecayTestKit.LiteralDecay.analyze(iterations: it, values: c, options: options)
        XCTAssertEqual(r, literal)
        // The smoothed peak lies at the end of the window (the trailing mean peaks after t0 but
        // within 50) and is below the raw peak 1.
        let s = DecayRules.smooth(c, window: options.smoothing)
        XCTAssertEqual(r.peak!, s[0..<50].max()!)
        XCTAssertLessThan(r.peak!, 1)
        for t in r.thresholdTimes { XCTAssertGreaterThan(t!, 50, "decay times fall after the rise") }
        XCTAssertEqual(r.thresholdTimes, r.thresholdTimes.sorted { $0! > $1! }, "smaller eps, later time")
    }

    func testPeakOutsideWindow() {
        // Rises until t = 200 and decays afterwards; the window (0...50) sees only the rise, so
        // p = s(50) and n exceeds 1 later. Times are still read relative to p.
        var options = DecayOptions()
        options.smoothing = 1
        let it = Array(1...3000)
        let c = it.map { t -> Double in t <= 200 ? Double(t) : 200 * exp(-Double(t - 200) / 100) }
        let r = DecayDetector.analyze(iterations: it, values: c, options: options)
        XCTAssertEqual(r.peak, 50)
        // n(t) = 4 e^{-(t-200)/100} < eps  <=>  t > 200 + 100 ln(4/eps).
        let expected: [Int?] = options.thresholds.map { Int((200 + 100 * log(4 / $0)).rounded(.down)) + 1 }
        DecayTestKit.assertTimes(r.thresholdTimes, expected)
        DecayTestKit.assertSame(r, DecayTestKit.LiteralDecay.analyze(iterations: it, values: c, options: options))

        // No recorded iteration inside the window at all: censored everywhere, no peak.
        let late = Array(stride(from: 100, through: 3000, by: 100))
        let lateValues = late.map { exp(-Double($0) / 300) }
        let censored = DecayDetector.analyze(iterations: late, values: lateValues, options: options)
        XCTAssertNil(censored.peak)
        DecayTestKit.assertTimes(censored.thresholdTimes, [nil, nil, nil])
        XCTAssertNil(censored.areaTime)
    }

    func testPeakSkipIgnoresEarlyTransient() {
        var options = DecayOptions()
        options.smoothing = 1
        options.peakSkip = 10
        let it = Array(1...500)
        // A spike of 100 at t = 1..5, then exp decay from 1.
        let c = it.map { $0 <= 5 ? 100.0 : exp(-Double($0 - 10) / 20) }
        let r = DecayDetector.analyze(iterations: it, values: c, options: options)
        XCTAssertEqual(r.peak!, 1, accuracy: 1e-15, "peak taken from t = 10 on")
        options.peakSkip = 0
        XCTAssertEqual(DecayDetector.analyze(iterations: it, values: c, options: options).peak, 100)
    }

    func testEmptyCurve() {
        let r = DecayDetector.analyze(iterations: [], values: [], options: DecayOptions())
        XCTAssertEqual(r, CurveDecay(peak: nil, thresholdTimes: [nil, nil, nil], areaTime: nil))
    }

    // MARK: non-finite values

    func testNaNInTheTailDelaysTheTimeAndCensorsTheArea() {
        var options = DecayOptions()
        options.smoothing = 5
        let it = Array(1...1000)
        var c = it.map { exp(-Double($0) / 50) }
        let clean = DecayDetector.analyze(iterations: it, values: c, options: options)
        c[599] = .nan // iteration 600, long after every clean threshold time
        let r = DecayDetector.analyze(iterations: it, values: c, options: options)
        // s is NaN at iterations 600...604; the curve is "below eps" only from 605 on.
        DecayTestKit.assertTimes(clean.thresholdTimes.map { $0.map { min($0, 600) } }, clean.thresholdTimes, "clean times before 600")
        DecayTestKit.assertTimes(r.thresholdTimes, [605, 605, 605])
        XCTAssertNil(r.areaTime, "area undefined with a NaN")
        XCTAssertEqual(r.peak, clean.peak)
        DecayTestKit.assertSame(r, DecayTestKit.LiteralDecay.analyze(iterations: it, values: c, options: options))
    }

    func testNonFiniteAtTheEndCensors() {
        let it = Array(1...300)
        for bad in [Double.nan, .infinity, -.infinity] {
            var c = it.map { exp(-Double($0) / 20) }
            c[299] = bad
            var options = DecayOptions()
            options.smoothing = 3
            let r = DecayDetector.analyze(iterations: it, values: c, options: options)
            if bad == -.infinity {
                // -Inf is below every threshold; only the area rule refuses it.
                DecayTestKit.assertTimes(r.thresholdTimes, DecayTestKit.LiteralDecay.analyze(iterations: it, values: c, options: options).thresholdTimes)
            } else {
                DecayTestKit.assertTimes(r.thresholdTimes, [nil, nil, nil], "\(bad) at the end")
            }
            XCTAssertNil(r.areaTime, "\(bad) at the end")
        }
    }

    func testNaNOrInfinityInPeakWindowCensorsEverything() {
        let it = Array(1...300)
        for bad in [Double.nan, .infinity] {
            var c = it.map { exp(-Double($0) / 20) }
            c[10] = bad
            let r = DecayDetector.analyze(iterations: it, values: c, options: DecayOptions())
            XCTAssertNil(r.peak, "\(bad)")
            DecayTestKit.assertTimes(r.thresholdTimes, [nil, nil, nil], "\(bad)")
            XCTAssertNil(r.areaTime)
        }
    }

    // MARK: random curves against the literal definition

    func testRandomCurvesMatchLiteralDefinition() {
        var rng = DecayTestKit.SplitMix64(state: 7)
        for trial in 0..<60 {
            let n = 1 + Int(rng.next() % 400)
            let k = 1 + Int(rng.next() % 4)
            let it = (1...n).map { $0 * k }
            let tau = 5 + rng.uniform() * 100
            var c = it.map { exp(-Double($0) / tau) * (0.5 + rng.uniform()) }
            if trial % 5 == 0 { c[Int(rng.next() % UInt64(n))] = .nan }
            var options = DecayOptions()
            options.smoothing = 1 + Int(rng.next() % 30)
            options.thresholds = [0.02, 0.1, 0.3]
            options.peakWindow = Int(rng.next() % 100)
            options.areaFraction = 0.5 + 0.45 * rng.uniform()
            let r = DecayDetector.analyze(iterations: it, values: c, options: options)
            let literal = DecayTestKit.LiteralDecay.analyze(iterations: it, values: c, options: options)
            XCTAssertEqual(r.peak ?? -1, literal.peak ?? -1, accuracy: 1e-14, "trial \(trial)")
            DecayTestKit.assertTimes(r.thresholdTimes, literal.thresholdTimes, "trial \(trial)")
            XCTAssertEqual(r.areaTime, literal.areaTime, "trial \(trial)")
        }
    }

    // MARK: comparison and JSON

    func testCompareGivesRatioOfTimeConstants() {
        let it = Array(1...6000)
        var curve = Curve(layerNames: [], patternLayerNames: [])
        curve.iteration = it
        curve.weightUpdateRel = it.map { exp(-Double($0) / 600) }
        curve.patternChange = it.map { exp(-Double($0) / 200) }
        curve.lr = it.map { _ in 0.1 }
        let options = AnalysisOptions(smoothing: 1, normalization: .earlyPeak(window: 50, skip: 0))
        let analysis = TrialAnalysis(trialID: "t", curve: curve, options: options)
        for eps in options.thresholds {
            let row = analysis.decay[DecayRules.epsilonKey(eps)]!
            XCTAssertEqual(row.tW.value, Double(Int((1 + 600 * log(1 / eps)).rounded(.down)) + 1))
            XCTAssertEqual(row.tA.value, Double(Int((1 + 200 * log(1 / eps)).rounded(.down)) + 1))
            XCTAssertEqual(row.ratio.value!, row.tW.value! / row.tA.value!)
            XCTAssertEqual(row.ratio.value!, 3, accuracy: 0.02)
        }
        XCTAssertEqual(analysis.decay["auc90"]!.ratio.value!, 3, accuracy: 0.02)
        XCTAssertEqual(Set(analysis.decay.keys), ["0.05", "0.1", "0.2", "auc90"])
    }

    func testRatioRules() {
        XCTAssertEqual(TimingComparison(tW: .time(300), tA: .time(100)).ratio, .time(3))
        XCTAssertEqual(TimingComparison(tW: .unavailable(.censored), tA: .time(100)).ratio, .unavailable(.censored))
        XCTAssertEqual(TimingComparison(tW: .time(300), tA: .unavailable(.censored)).ratio, .unavailable(.censored))
        XCTAssertEqual(TimingComparison(tW: .time(300), tA: .time(0)).ratio, .unavailable(.notApplicable))
        XCTAssertEqual(TimingComparison(tW: .time(0), tA: .time(7)).ratio, .time(0))
    }

    func testEpsilonAndAreaKeys() {
        XCTAssertEqual(DecayRules.epsilonKey(0.05), "0.05")
        XCTAssertEqual(DecayRules.epsilonKey(0.1), "0.1")
        XCTAssertEqual(DecayRules.epsilonKey(0.2), "0.2")
        XCTAssertEqual(DecayRules.epsilonKey(0.3), "0.3")
        XCTAssertEqual(DecayRules.epsilonKey(0.001), "0.001")
        XCTAssertEqual(DecayRules.epsilonKey(1e-5), "1e-05") // Python repr(1e-5)
        XCTAssertEqual(DecayRules.epsilonKey(0.1 + 0.2), "0.30000000000000004")
        XCTAssertEqual(DecayRules.areaKey(0.9), "auc90")
        XCTAssertEqual(DecayRules.areaKey(0.95), "auc95")
        XCTAssertEqual(DecayRules.areaKey(0.925), "auc92.5")
    }

    func testDecayJSONWritesEveryKeyAndReason() throws {
        let keyed: [String: TimingComparison] = [
            "0.05": TimingComparison(tW: .time(812), tA: .unavailable(.censored)),
            "0.1": TimingComparison(tW: .time(250), tA: .time(100)),
            "auc90": TimingComparison(tW: .time(300), tA: .time(0)),
        ]
        let json = String(decoding: try JSONCoding.encoder().encode(keyed), as: UTF8.self)
        XCTAssertEqual(json, #"{"0.05":{"ratio":"censored","t_a":"censored","t_w":812},"0.1":{"ratio":2.5,"t_a":100,"t_w":250},"#
                       + #""auc90":{"ratio":"not_applicable","t_a":0,"t_w":300}}"#)
        XCTAssertEqual(try JSONDecoder().decode([String: TimingComparison].self, from: Data(json.utf8)), keyed)
    }

    // MARK: options

    func testOptionsDecodeWithDefaultsAndSnakeCase() throws {
        let empty = try JSONDecoder().decode(AnalysisOptions.self, from: Data("{}".utf8))
        XCTAssertEqual(empty, AnalysisOptions())
        XCTAssertEqual(empty.smoothing, 25)
        XCTAssertEqual(empty.thresholds, [0.05, 0.1, 0.2])
        XCTAssertEqual(empty.normalization, .earlyPeak(window: 100, skip: 50))
        XCTAssertEqual(empty.areaFraction, 0.9)
        let partial = try JSONDecoder().decode(
            AnalysisOptions.self,
            from: Data(#"{"reference": {"mode": "early_peak", "window": 200, "skip": 5}, "area_fraction": 0.8, "thresholds": [0.07]}"#.utf8))
        XCTAssertEqual(partial.normalization, .earlyPeak(window: 200, skip: 5))
        XCTAssertEqual(partial.areaFraction, 0.8)
        XCTAssertTrue(partial.epsilonGrid.contains(0.07), "a threshold missing from the default grid joins it")
        XCTAssertNoThrow(try partial.validate())
        let roundTrip = try JSONDecoder().decode(AnalysisOptions.self, from: try JSONCoding.encoder().encode(partial))
        XCTAssertEqual(roundTrip, partial)
    }

    func testOptionsValidation() {
        XCTAssertNoThrow(try AnalysisOptions().validate())
        let bad: [(AnalysisOptions, String)] = [
            (AnalysisOptions(smoothing: 0), "smoothing"),
            (AnalysisOptions(thresholds: []), "thresholds"),
            (AnalysisOptions(thresholds: [0.1, 1.0]), "thresholds"),
            (AnalysisOptions(thresholds: [0, 0.1]), "thresholds"),
            (AnalysisOptions(thresholds: [.nan]), "thresholds"),
            (AnalysisOptions(thresholds: [0.2, 0.1]), "thresholds"),
            (AnalysisOptions(thresholds: [0.1, 0.1]), "thresholds"),
            (AnalysisOptions(thresholds: [0.015]), "epsilon_grid"),
            (AnalysisOptions(normalization: .earlyPeak(window: 50, skip: -1)), "reference.skip"),
            (AnalysisOptions(normalization: .earlyPeak(window: 5, skip: 10)), "reference.window"),
            (AnalysisOptions(areaFraction: 1), "area_fraction"),
            (AnalysisOptions(areaFraction: 0), "area_fraction"),
        ]
        for (options, key) in bad {
            XCTAssertThrowsError(try options.validate(), key) { error in
                let text = "\(error)"
                XCTAssert(text.contains("'\(key)'") && text.contains("expected"), "message names the key: \(text)")
                XCTAssertEqual((error as? AnalysisOptionsError)?.key, key)
            }
        }
    }
}
