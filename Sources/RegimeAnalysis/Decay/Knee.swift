import Foundation
import RegimeCore

/// The knee: where a curve's fast decay ends and a slower one begins (docs/decay-estimators.md,
/// "Knee").
///
/// **Rule.** From the raw curve `c_i` at iterations `it_i` (the trial analysis passes both
/// instruments divided by the learning rate, so a decaying schedule does not shape them):
/// 1. **Log-spaced bins.** Iteration 1 is dropped; the rest is cut at the edges
///    `e_j = floor(2 * 10^(j / 8))` (``kneeBinsPerDecade`` = 8: 2, 3, 4, 6, 8, 11, 14, 20, 26, 35,
///    47, 63, 84, 112, 149, 200, ...). Bin `j` holds the recorded iterations in `[e_j, e_{j+1})`;
///    its point is `x_j` = the mean of those iterations with a finite value and
///    `y_j = ln(mean of those values)` (a bin without a finite value, or with mean <= 0, is left
///    out). No moving average: the bins are the smoothing, so the knee has no smoothing lag.
/// 2. **Hinge fit.** Least squares of `y = a + b1 min(x - x_k, 0) + b2 max(x - x_k, 0)` over
///    the bins (each bin one point, so every factor of 10 in iterations weighs the same), with the
///    break `x_k` searched over every recorded iteration from the ``kneeMinimumSegmentBins``-th
///    bin to the same from the end (``hingeFit(x:y:breaks:minimumSegmentPoints:)``).
/// 3. **Decision**, in this order (constants from ``AnalysisOptions``):
///    a. the hinge removes at least `kneeMinimumImprovement` (25%) of the residual sum of squares
///       of one straight line through the bins; else one rate throughout: `censored` if that line
///       falls by `minimumDecayFactor` (2x) over the bins (the decay does not slow within the
///       run), `no_decay` if not;
///    b. `b2 >= kneeFlattening * min(b1, 0)` (after the break the curve decays at most half as
///       fast as before, or is flat, or rises); else the decay starts or speeds up at the break
///       and does not slow within the run (a raw curve under a cosine schedule): `censored` if the
///       second segment falls by `minimumDecayFactor`, `no_decay` if not;
///    c. `b1 < 0` and the first segment falls by at least `minimumDecayFactor` from the first bin
///       to the break; else `no_decay`;
///    d. the break is not the first candidate; else `not_applicable` (the fast phase ends before
///       the fit can resolve it).
///    The knee is then the break iteration `x_k`.
///
/// **Why these constants.** Iteration 1 is left out because an optimizer's first step is not
/// the curve's dynamics: Adam's first update is `lr * sign(g)` (size `lr sqrt(P)`, the same on
/// every seed), momentum's first buffer is the raw gradient. Real Fashion-MNIST runs have their
/// only fast phase in the first 15-50 iterations (per unit learning rate both curves then stay
/// within a factor 1.5 to the end of the run), so a fit that starts after the reference skip
/// (iteration 50), as regime 0.1's did, can never see a knee there; the log-spaced bins resolve
/// that phase (10 bins below iteration 50) and still cover the slow phase (8 bins per decade up
/// to `T`). 8 bins per decade with 4 bins per segment resolves breaks from about iteration 20 on;
/// 6 per decade missed breaks at 20 in the noisy tests, 10 per decade found a knee on a noisy
/// single exponential. `x` stays linear in iterations, so an exponential phase is a straight line
/// (on `ln t` a single exponential would bend).
extension DecayEstimators {
    /// Bins per factor of 10 in iterations.
    public static let kneeBinsPerDecade = 8
    /// The first iteration the knee looks at (the optimizer's first step is left out).
    public static let kneeFirstIteration = 2
    /// Bins each segment of the hinge needs at least (the break counted on its side).
    public static let kneeMinimumSegmentBins = 4

    /// The knee of a raw curve (the rule of this extension's documentation), with the fit that
    /// decided it (`nil` when no fit was possible).
    /// - Precondition: `iterations.count == values.count`, iterations strictly increasing.
    public static func knee(iterations: [Int], values: [Double], options: AnalysisOptions)
        -> (estimate: TimeEstimate, fit: KneeFit?) {
        precondition(iterations.count == values.count, "DecayEstimators.knee: length mismatch")
        let bins = kneeBins(iterations: iterations, values: values)
        let m = kneeMinimumSegmentBins
        guard bins.x.count >= 2 * m - 1 else { return (.unavailable(.notApplicable), nil) }
        let x = bins.x, y = bins.y
        let low = x[m - 1], high = x[x.count - m]
        let breaks = iterations.filter { Double($0) >= low && Double($0) <= high }.map(Double.init)
        guard let h = hingeFit(x: x, y: y, breaks: breaks, minimumSegmentPoints: m), let line = lineFit(x: x, y: y) else {
            return (.unavailable(.notApplicable), nil)
        }
        let improvement = line.rss > 0 ? 1 - h.rss / line.rss : 0
        let fit = KneeFit(iteration: Int(h.breakX), firstIteration: bins.first, lastIteration: bins.last,
                          pointsBefore: h.pointsBefore, pointsAfter: h.pointsAfter,
                          slopeBefore: h.slopeBefore, slopeAfter: h.slopeAfter, logValueAtKnee: h.valueAtBreak, rss: h.rss,
                          lineSlope: line.slope, improvement: improvement)
        let minimumDrop = log(options.minimumDecayFactor)
        guard improvement >= options.kneeMinimumImprovement else {
            let decays = line.slope < 0 && -line.slope * (x[x.count - 1] - x[0]) >= minimumDrop
            return (.unavailable(decays ? .censored : .noDecay), fit)
        }
        if h.slopeAfter < options.kneeFlattening * Swift.min(h.slopeBefore, 0) {
            // The decay starts or speeds up at the break and does not slow within the run.
            let falls = -h.slopeAfter * (x[x.count - 1] - h.breakX) >= minimumDrop
            return (.unavailable(falls ? .censored : .noDecay), fit)
        }
        guard h.slopeBefore < 0, -h.slopeBefore * (h.breakX - x[0]) >= minimumDrop else { return (.unavailable(.noDecay), fit) }
        if h.breakX == breaks[0] { return (.unavailable(.notApplicable), fit) }
        return (.time(h.breakX), fit)
    }

    /// Step 1 of the knee: the log-spaced bins of a curve, `x` the mean iteration and `y` the log
    /// of the mean value of each bin, and the first and last iterations that entered a bin.
    public static func kneeBins(iterations: [Int], values: [Double]) -> (x: [Double], y: [Double], first: Int, last: Int) {
        precondition(iterations.count == values.count, "DecayEstimators.kneeBins: length mismatch")
        var x: [Double] = [], y: [Double] = []
        var first = 0, last = 0
        var edge = 0, nextEdge = kneeFirstIteration
        var sumIt = 0.0, sum = 0.0, count = 0, binFirst = 0, binLast = 0
        func close() {
            if count > 0, sum > 0 {
                if x.isEmpty { first = binFirst }
                last = binLast
                x.append(sumIt / Double(count))
                y.append(log(sum / Double(count)))
            }
            sumIt = 0; sum = 0; count = 0
        }
        for (t, v) in zip(iterations, values) where t >= kneeFirstIteration {
            if t >= nextEdge {
                close()
                while t >= nextEdge {
                    edge += 1
                    nextEdge = Int((Double(kneeFirstIteration) * pow(10, Double(edge) / Double(kneeBinsPerDecade)) + 1e-9)
                        .rounded(.down))
                }
            }
            guard v.isFinite else { continue }
            if count == 0 { binFirst = t }
            binLast = t
            sumIt += Double(t); sum += v; count += 1
        }
        close()
        return (x, y, first, last)
    }

    /// The least-squares continuous two-segment line through `(x_i, y_i)`.
    public struct HingeFit: Hashable, Sendable {
        /// The break `x_k`.
        public var breakX: Double
        /// Points with `x_i <= x_k` and with `x_i >= x_k`.
        public var pointsBefore: Int
        public var pointsAfter: Int
        /// Fitted `y` at the break.
        public var valueAtBreak: Double
        public var slopeBefore: Double
        public var slopeAfter: Double
        /// Residual sum of squares.
        public var rss: Double
    }

    /// Fits `y = a + b1 min(x - x_k, 0) + b2 max(x - x_k, 0)` by least squares for every break
    /// `x_k` of `breaks` (ascending) that leaves at least `minimumSegmentPoints` points on each
    /// side (`x_i <= x_k` and `x_i >= x_k`), and returns the break of least residual sum of squares
    /// (the first on ties), refitted exactly. `x` must be strictly increasing.
    ///
    /// Each candidate costs O(1): with `x` scaled to [0, 1] and `y` centred, the normal equations
    /// of the three parameters only need the prefix sums of `x, x^2, y, x y` up to the last point
    /// `<= x_k`; the `(u, v)` cross term vanishes because `min(.,0) max(.,0) = 0`. `nil` if no
    /// break qualifies or a value is not finite.
    public static func hingeFit(x: [Double], y: [Double], breaks: [Double], minimumSegmentPoints: Int) -> HingeFit? {
        precondition(x.count == y.count, "DecayEstimators.hingeFit: length mismatch")
        precondition(minimumSegmentPoints >= 2, "DecayEstimators.hingeFit: segments need at least 2 points")
        let m = x.count
        guard m >= 2 * minimumSegmentPoints - 1, x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else { return nil }
        let x0 = x[0]
        let span = x[m - 1] - x0
        guard span > 0 else { return nil }
        let yMean = y.reduce(0, +) / Double(m)
        let xs = x.map { ($0 - x0) / span }
        let yc = y.map { $0 - yMean }
        var p1 = [Double](repeating: 0, count: m + 1)
        var p2 = p1, py = p1, pxy = p1
        var syy = 0.0
        for i in 0..<m {
            p1[i + 1] = p1[i] + xs[i]
            p2[i + 1] = p2[i] + xs[i] * xs[i]
            py[i + 1] = py[i] + yc[i]
            pxy[i + 1] = pxy[i] + xs[i] * yc[i]
            syy += yc[i] * yc[i]
        }
        let sy = py[m]
        var best: Double?
        var bestRSS = Double.infinity
        var left = 0  // points with x <= the break
        for b in breaks {
            while left < m, x[left] <= b { left += 1 }
            let atBreak = left > 0 && x[left - 1] == b ? 1 : 0
            guard left >= minimumSegmentPoints, m - left + atBreak >= minimumSegmentPoints else { continue }
            let xk = (b - x0) / span
            let nl = Double(left), nr = Double(m - left)
            let sxl = p1[left], sxxl = p2[left], syl = py[left], sxyl = pxy[left]
            let sxr = p1[m] - sxl, sxxr = p2[m] - sxxl, syr = py[m] - syl, sxyr = pxy[m] - sxyl
            let su = sxl - nl * xk, suu = sxxl - 2 * xk * sxl + nl * xk * xk, suy = sxyl - xk * syl
            let sv = sxr - nr * xk, svv = sxxr - 2 * xk * sxr + nr * xk * xk, svy = sxyr - xk * syr
            guard let (a, b1, b2) = solveHinge(n: Double(m), sy: sy, su: su, suu: suu, suy: suy, sv: sv, svv: svv, svy: svy)
            else { continue }
            let rss = syy - a * sy - b1 * suy - b2 * svy
            if rss < bestRSS {
                bestRSS = rss
                best = b
            }
        }
        guard let breakX = best else { return nil }
        // Exact refit at the chosen break (direct sums, no prefix-sum cancellation).
        let xk = (breakX - x0) / span
        var su = 0.0, suu = 0.0, suy = 0.0, sv = 0.0, svv = 0.0, svy = 0.0
        for i in 0..<m {
            let d = xs[i] - xk
            if d < 0 { su += d; suu += d * d; suy += d * yc[i] } else { sv += d; svv += d * d; svy += d * yc[i] }
        }
        guard let (a, b1, b2) = solveHinge(n: Double(m), sy: sy, su: su, suu: suu, suy: suy, sv: sv, svv: svv, svy: svy)
        else { return nil }
        var rss = 0.0
        for i in 0..<m {
            let d = xs[i] - xk
            let r = yc[i] - (a + (d < 0 ? b1 * d : b2 * d))
            rss += r * r
        }
        return HingeFit(breakX: breakX, pointsBefore: x.filter { $0 <= breakX }.count, pointsAfter: x.filter { $0 >= breakX }.count,
                        valueAtBreak: a + yMean, slopeBefore: b1 / span, slopeAfter: b2 / span, rss: rss)
    }

    /// Solves the normal equations `[[n, su, sv], [su, suu, 0], [sv, 0, svv]] (a, b1, b2) =
    /// (sy, suy, svy)` by eliminating the slopes; `nil` if singular.
    private static func solveHinge(n: Double, sy: Double, su: Double, suu: Double, suy: Double,
                                   sv: Double, svv: Double, svy: Double) -> (Double, Double, Double)? {
        guard suu > 0, svv > 0 else { return nil }
        let d = n - su * su / suu - sv * sv / svv
        guard d > 0, d.isFinite else { return nil }
        let a = (sy - su * suy / suu - sv * svy / svv) / d
        return (a, (suy - a * su) / suu, (svy - a * sv) / svv)
    }
}
