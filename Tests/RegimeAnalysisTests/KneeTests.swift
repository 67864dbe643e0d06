import Foundation
import XCTest
@testable import RegimeAnalysis
import RegimeCore

/// Ground truth for the knee (`Knee.swift`): synthetic curves whose break is known.
final class KneeTests: XCTestCase {
    typealias Kit = EstimatorTestKit

    /// Noise with the autocorrelation of real curves: `ln c` gets an AR(1) series of lag-1
    /// correlation `rho` and standard deviation `sigma` (measured on the Fashion-MNIST MLP's
    /// pattern change: rho 0.8-0.85, sigma 0.17-0.22 per record; RegimeDetectorOptions).
    static func arNoise(count: Int, sigma: Double, rho: Double = 0.8, seed: UInt64) -> [Double] {
        var rng = Xoshiro256(seed: seed, stream: .synthetic)
        var e = sigma * rng.nextNormal()
        var out = [Double](repeating: 0, count: count)
        let innovation = sigma * (1 - rho * rho).squareRoot()
        for i in 0..<count {
            if i > 0 { e = rho * e + innovation * rng.nextNormal() }
            out[i] = exp(e)
        }
        return out
    }

    /// `ln c` piecewise linear in `t`: falls by `drop` up to the break `K`, then with slope
    /// `slowFactor` times flatter (`.infinity`: flat); AR(1) noise; optionally an Adam-like first
    /// step (`c_1` times 10: the sign step, larger than anything after it).
    static func twoTimescale(K: Int, drop: Double, slowFactor: Double, T: Int, sigma: Double, seed: UInt64,
                             spike: Bool = false) -> ([Int], [Double]) {
        let tau1 = Double(K) / log(drop)
        let (it, c) = Kit.twoPhase(tau1: tau1, knee: K, tau2: tau1 * slowFactor, T: T)
        let noise = sigma > 0 ? arNoise(count: c.count, sigma: sigma, seed: seed) : c.map { _ in 1 }
        var values = zip(c, noise).map { $0 * $1 }
        if spike { values[0] *= 10 }
        return (it, values)
    }

    /// Noise-free: the break is found within one bin's resolution (measured below); the slopes
    /// are the true ones.
    func testNoiseFreeBreak() {
        let options = AnalysisOptions()
        var measured: [String] = []
        for (K, slowFactor, T) in [(20, Double.infinity, 3000), (40, 5.0, 3000), (200, 10.0, 3000), (800, .infinity, 6000),
                                   (1500, 4.0, 20000)] {
            let (it, c) = Self.twoTimescale(K: K, drop: 10, slowFactor: slowFactor, T: T, sigma: 0, seed: 1)
            let (knee, fit) = DecayEstimators.knee(iterations: it, values: c, options: options)
            Kit.assertWithin([knee.value], [Double(K)], tolerance: 1, relative: 0.1, "K \(K) slow x\(slowFactor): knee")
            let tau1 = Double(K) / log(10)
            XCTAssertEqual(fit!.slopeBefore, -1 / tau1, accuracy: 0.15 / tau1, "K \(K)")
            XCTAssertGreaterThan(fit!.improvement, 0.8, "K \(K)")
            measured.append("K \(K): \(knee.value.map { "\(Int($0))" } ?? "\(knee)")")
        }
        print("KneeTests measured noise-free: " + measured.joined(separator: ", "))
    }

    /// Noisy (AR(1) 0.8, sigma 0.2 and 0.3), half the seeds with an Adam-like first-step spike:
    /// over 20 seeds per case the median knee is within 10% of the break and every knee within
    /// 35% (measured ranges printed).
    func testNoisyBreakWithFirstStepSpike() {
        let options = AnalysisOptions()
        var measured: [String] = []
        for sigma in [0.2, 0.3] {
            for (K, slowFactor) in [(30, Double.infinity), (50, 5.0), (200, 5.0), (800, .infinity)] {
                var knees: [Double?] = []
                for seed in UInt64(1)...20 {
                    let (it, c) = Self.twoTimescale(K: K, drop: 10, slowFactor: slowFactor, T: 3000, sigma: sigma, seed: seed,
                                                    spike: seed % 2 == 0)
                    knees.append(DecayEstimators.knee(iterations: it, values: c, options: options).estimate.value)
                }
                Kit.assertWithin(knees, knees.map { _ in Double(K) }, tolerance: 1, relative: 0.35,
                                 "sigma \(sigma) K \(K) slow x\(slowFactor)")
                let found = knees.compactMap { $0 }.sorted()
                guard found.count == knees.count else { continue }
                let median = 0.5 * (found[9] + found[10])
                XCTAssertEqual(median, Double(K), accuracy: 0.1 * Double(K), "sigma \(sigma) K \(K): median knee")
                measured.append("sigma \(sigma) K \(K): \(Int(found.first!))...\(Int(found.last!)) median \(median)")
            }
        }
        print("KneeTests measured noisy: " + measured.joined(separator: "; "))
    }

    /// The spike alone does not move the knee: step 1 is not looked at.
    func testFirstStepIsIgnored() {
        let options = AnalysisOptions()
        let (it, c) = Self.twoTimescale(K: 60, drop: 10, slowFactor: .infinity, T: 3000, sigma: 0.2, seed: 3)
        var spiked = c
        spiked[0] *= 1000
        XCTAssertEqual(DecayEstimators.knee(iterations: it, values: spiked, options: options).estimate,
                       DecayEstimators.knee(iterations: it, values: c, options: options).estimate)
    }

    /// A sum of two exponentials `A e^{-t/tf} + B e^{-t/ts}`: the break is where the two terms
    /// are equal, `t_b = ln(A/B) / (1/tf - 1/ts)`; the knee lies within 25% of it.
    func testSumOfTwoExponentials() {
        let options = AnalysisOptions()
        for (A, tf, B, ts) in [(1.0, 10.0, 0.02, 3000.0), (1.0, 40.0, 0.05, 20000.0), (1.0, 100.0, 0.01, 5000.0)] {
            let tb = log(A / B) / (1 / tf - 1 / ts)
            let it = Array(1...4000)
            let noise = Self.arNoise(count: it.count, sigma: 0.2, seed: 9)
            let c = it.indices.map { (A * exp(-Double(it[$0]) / tf) + B * exp(-Double(it[$0]) / ts)) * noise[$0] }
            let knee = DecayEstimators.knee(iterations: it, values: c, options: options).estimate
            Kit.assertWithin([knee.value], [tb], tolerance: 1, relative: 0.25, "tf \(tf) ts \(ts): knee vs t_b")
        }
    }

    /// Single timescales have no knee: exponentials of every time constant from 10 to 3000
    /// iterations (with noise and the first-step spike), a flat curve, a rising one.
    func testNoKneeOnSingleTimescale() {
        let options = AnalysisOptions()
        var found: [String] = []
        for tau in [10.0, 30, 100, 300, 1000, 3000] {
            for seed in UInt64(1)...10 {
                for sigma in [0.0, 0.2, 0.3] where sigma > 0 || seed == 1 {
                    let it = Array(1...3000)
                    let noise = sigma > 0 ? Self.arNoise(count: it.count, sigma: sigma, seed: seed) : it.map { _ in 1 }
                    var c = it.indices.map { exp(-Double(it[$0]) / tau) * noise[$0] }
                    if seed % 2 == 0 { c[0] *= 10 }
                    let k = DecayEstimators.knee(iterations: it, values: c, options: options)
                    if let v = k.estimate.value { found.append("tau \(tau) sigma \(sigma) seed \(seed): \(v)") }
                    // Noise-free, one rate over the run: censored (a curve that falls by e^-100 or more
                    // within a bin is not a case: its bin means are set by their first points).
                    if (100...1000).contains(tau) && sigma == 0 {
                        XCTAssertEqual(k.estimate, .unavailable(.censored), "tau \(tau): \(String(describing: k.fit))")
                    }
                }
            }
        }
        XCTAssert(found.isEmpty, "knees on single exponentials: \(found)")
        let it = Array(1...3000)
        let flat = zip(it, Self.arNoise(count: 3000, sigma: 0.2, seed: 4)).map { $0.1 }
        XCTAssertEqual(DecayEstimators.knee(iterations: it, values: flat, options: options).estimate, .unavailable(.noDecay))
        let rising = it.map { 1 + Double($0) / 1000 }
        XCTAssertEqual(DecayEstimators.knee(iterations: it, values: rising, options: options).estimate, .unavailable(.noDecay))
        // A decay that speeds up (a raw curve under a cosine schedule) does not slow down: censored.
        let cosine = it.map { 0.5 * (1 + cos(Double.pi * Double($0 - 1) / 3000)) + 1e-4 }
        XCTAssertEqual(DecayEstimators.knee(iterations: it, values: cosine, options: options).estimate, .unavailable(.censored))
    }

    /// Under a cosine or step schedule the trial analysis fits the knee per unit learning rate:
    /// two-timescale dynamics multiplied by the schedule give their breaks back (for both measures),
    /// where the raw curves steepen at the end and hide them.
    func testKneeUnderDecayingSchedules() {
        let T = 3000
        let it = Array(1...T)
        let cosine = it.map { 0.001 * 0.5 * (1 + cos(Double.pi * Double($0 - 1) / Double(T))) }
        let step = it.map { 0.05 * pow(0.1, Double($0 / 1000)) }
        for (name, lr) in [("cosine", cosine), ("step", step)] {
            let (_, w) = Self.twoTimescale(K: 90, drop: 8, slowFactor: .infinity, T: T, sigma: 0.2, seed: 1)
            let (_, a) = Self.twoTimescale(K: 30, drop: 8, slowFactor: .infinity, T: T, sigma: 0.2, seed: 2)
            var curve = Curve(layerNames: ["fc1"], patternLayerNames: ["fc1"])
            curve.iteration = it
            curve.lr = lr
            curve.weightUpdateRel = zip(w, lr).map { $0 * $1 }
            curve.patternChange = zip(a, lr).map { $0 * $1 }
            for measure in [WeightUpdateMeasure.relative, .learningRateNormalized] {
                let timing = TrialTiming(curve: curve, options: AnalysisOptions(), measure: measure)
                Kit.assertWithin([timing.knee.tW.value, timing.knee.tA.value], [90, 30], tolerance: 1, relative: 0.35,
                                 "\(name) \(measure): knees")
                XCTAssertEqual(timing.knee.ratio.value ?? 0, 3, accuracy: 1, "\(name) \(measure)")
            }
        }
    }

    /// Bins: edges `floor(2 * 10^(j/8))`, iteration 1 left out, non-finite values skipped, a bin of
    /// zeros dropped; recorded every 10 iterations the early bins are empty.
    func testBins() {
        let it = Array(1...30)
        let b = DecayEstimators.kneeBins(iterations: it, values: it.map { Double($0) })
        // [2,3) [3,4) [4,6) [6,8) [8,11) [11,14) [14,20) [20,26) [26,35)
        XCTAssertEqual(b.x, [2, 3, 4.5, 6.5, 9, 12, 16.5, 22.5, 28])
        XCTAssertEqual(b.y, [2, 3, 4.5, 6.5, 9, 12, 16.5, 22.5, 28].map { log($0) })
        XCTAssertEqual(b.first, 2)
        XCTAssertEqual(b.last, 30)
        var v = it.map { Double($0) }
        v[3] = .nan; v[4] = .nan  // iterations 4 and 5: the bin [4,6) is empty
        v[5] = 0; v[6] = 0  // iterations 6 and 7: mean 0, no logarithm
        XCTAssertEqual(DecayEstimators.kneeBins(iterations: it, values: v).x, [2, 3, 9, 12, 16.5, 22.5, 28])
        let sparse = Array(stride(from: 10, through: 100, by: 10))
        XCTAssertEqual(DecayEstimators.kneeBins(iterations: sparse, values: sparse.map { _ in 1 }).x, [10, 20, 30, 40, 55, 75, 95])
    }

    /// The prefix-sum break search equals a direct solve at every candidate, and exact hinge data
    /// give the break and slopes back.
    func testHingeFitExactAndEqualToBruteForce() {
        let x = (0..<80).map { Double($0 * $0) / 7 + Double($0) }
        let xk = 0.5 * (x[30] + x[31])
        let y = x.map { 2 - 0.3 * min($0 - xk, 0) - 0.01 * max($0 - xk, 0) }
        let breaks = stride(from: x[4], through: x[75], by: 0.25).map { $0 } + [xk]
        let h = DecayEstimators.hingeFit(x: x, y: y, breaks: breaks.sorted(), minimumSegmentPoints: 5)!
        XCTAssertEqual(h.breakX, xk)
        XCTAssertEqual(h.slopeBefore, -0.3, accuracy: 1e-9)
        XCTAssertEqual(h.slopeAfter, -0.01, accuracy: 1e-9)
        XCTAssertEqual(h.valueAtBreak, 2, accuracy: 1e-9)
        XCTAssertEqual(h.pointsBefore, 31)
        XCTAssertEqual(h.pointsAfter, 49)
        XCTAssertLessThan(h.rss, 1e-18)

        var rng = Xoshiro256(seed: 7, stream: .synthetic)
        for trial in 0..<20 {
            let m = 30 + trial
            let xs = (0..<m).map { Double($0) * 3 + 1000 }
            let ys = xs.map { _ in rng.nextNormal() }
            let minSeg = 3 + trial % 4
            let candidates = stride(from: xs[0], through: xs[m - 1], by: 1.0).map { $0 }
            var best = -1.0, bestRSS = Double.infinity
            for b in candidates {
                guard xs.filter({ $0 <= b }).count >= minSeg, xs.filter({ $0 >= b }).count >= minSeg else { continue }
                let rss = Self.directHingeRSS(x: xs, y: ys, xk: b)
                if rss < bestRSS - 1e-12 { bestRSS = rss; best = b }
            }
            let fit = DecayEstimators.hingeFit(x: xs, y: ys, breaks: candidates, minimumSegmentPoints: minSeg)!
            XCTAssertEqual(fit.breakX, best, "trial \(trial)")
            XCTAssertEqual(fit.rss, bestRSS, accuracy: 1e-9 * max(1, bestRSS), "trial \(trial)")
        }
        XCTAssertNil(DecayEstimators.hingeFit(x: [1, 2, 3, 4], y: [1, 2, 3, 4], breaks: [2, 3], minimumSegmentPoints: 3))
    }

    /// Residual sum of squares of the hinge at `xk` by a 3x3 Gaussian elimination on the raw
    /// (uncentred) basis [1, min(x-xk,0), max(x-xk,0)].
    static func directHingeRSS(x: [Double], y: [Double], xk: Double) -> Double {
        var a = [[Double]](repeating: [0, 0, 0, 0], count: 3)
        for i in x.indices {
            let row = [1, min(x[i] - xk, 0), max(x[i] - xk, 0)]
            for r in 0..<3 {
                for c in 0..<3 { a[r][c] += row[r] * row[c] }
                a[r][3] += row[r] * y[i]
            }
        }
        for p in 0..<3 {
            for r in (p + 1)..<3 {
                let f = a[r][p] / a[p][p]
                for c in p..<4 { a[r][c] -= f * a[p][c] }
            }
        }
        var beta = [0.0, 0, 0]
        for r in stride(from: 2, through: 0, by: -1) {
            var s = a[r][3]
            for c in (r + 1)..<3 { s -= a[r][c] * beta[c] }
            beta[r] = s / a[r][r]
        }
        var rss = 0.0
        for i in x.indices {
            let f = beta[0] + beta[1] * min(x[i] - xk, 0) + beta[2] * max(x[i] - xk, 0)
            rss += (y[i] - f) * (y[i] - f)
        }
        return rss
    }
}
