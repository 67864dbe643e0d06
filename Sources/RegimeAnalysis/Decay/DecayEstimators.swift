import Foundation
import RegimeCore

/// Decay-time estimators of one curve `c_i` recorded at increasing iterations `it_i`, beyond the
/// primitive rules of ``DecayRules``. Every estimator returns a
/// ``TimeEstimate``: a number, or `censored` / `no_decay` / `not_applicable`, never a made-up
/// value. All times refer to the smoothed curve (trailing average, so they lag the raw curve by
/// about `(w-1)/2` recorded points; `t_w` and `t_a` lag alike).
///
/// Pipeline of ``analyze(iterations:values:options:)`` with `w = smoothing`:
/// 1. For `earlyPeak(window: H, skip: k)` drop the points with `it_i <= k`; smooth the rest,
///    `s = DecayRules.smooth(c, window: w)`.
/// 2. Reference `r` (see ``DecayNormalization``), normalised curve `n_i = s_i / r`.
/// 3. **Threshold** at every `eps` of the grid: `t(eps) = it_i` for the smallest `i` with
///    `n_j < eps` for all `j >= i` (``DecayRules/thresholdTime(iterations:normalized:epsilon:)``);
///    censored when the last `n` is not below `eps`. The grid default is `0.02, 0.03, ..., 0.50`
///    (``defaultEpsilonGrid``). `t(eps)` never increases with `eps`; `R(eps) = t_w(eps)/t_a(eps)`
///    need not be monotone.
/// 4. **Half-life**: the threshold rule at `eps = 0.5`.
/// 5. **Area**: the first `it_i` with `cumsum(s)_i >= areaFraction * sum(s)`; censored when the
///    last `n >= 0.5` (censored: the curve has not decayed), not_applicable for non-finite values.
/// 6. **Decay start** of the fits: `i0 = max(argmax_i s_i, w - 1)` — after the curve's
///    (global) maximum, and after the first `w - 1` points, whose partial averages are not yet
///    full windows. Fits need every smoothed value to be finite (else not_applicable).
/// 7. **Knee** (``knee(iterations:smoothed:options:)``): a continuous two-segment
///    (hinge) least-squares fit of `y = ln s_i` against `x = it_i` over the points from `i0`
///    to the end with `s_i > 0`: `y = a + b1 min(x - x_k, 0) + b2 max(x - x_k, 0)`, with the
///    break `x_k` searched exhaustively over the recorded points leaving each segment at least
///    `m = max(minimumFitPoints, w)` points (O(1) per break from prefix sums, then an exact refit
///    at the best break). The knee time is `x_k` if, in this order:
///    a. the hinge removes at least `kneeMinimumImprovement` (25%) of the residual sum of squares
///       of one straight line over the same points — else there is one rate throughout:
///       censored if that line falls by `minimumDecayFactor` over the range (the fast phase
///       lasts to the end of the run), no_decay if not;
///    b. `b1 < 0` and `-b1 (x_k - x_first) >= ln(minimumDecayFactor)` (the fast phase falls by
///       that factor, default 2) — else no_decay;
///    c. `b2 >= kneeFlattening * b1` (after the break the curve decays at most half as fast by
///       default, or is flat or rising) — else censored (the decay does not slow down within
///       the run, e.g. it accelerates as under a cosine schedule);
///    d. the break is not the first admissible point — else not_applicable (the fast phase ends
///       at or before it, earlier than the smoothing and `m` can resolve).
///    On noisy single exponentials (multiplicative noise up to sigma = 1 per point, w = 25) the
///    improvement stays below 7%; on two-phase curves whose rate drops by 2x or more it exceeds
///    70%.
/// 8. **Time constant** (``timeConstant(iterations:smoothed:options:)``): the fit range runs
///    from `i0` up to (excluding) the first point with `s_i < timeConstantFloor * max(s)`, or to
///    the end; `slope` = Theil-Sen estimate (median of pairwise slopes) of `ln s` against `it`,
///    over at most `theilSenMaxPoints` points evenly spaced by index. `slope >= 0`: no_decay;
///    `-slope * (x_last - x_first) < ln(minimumDecayFactor)`: censored; else `tau = -1/slope`.
///    Needs `minimumFitPoints` points.
public enum DecayEstimators {
    /// `0.02, 0.03, ..., 0.50` (49 values, each `k/100` rounded once, so it prints as written
    /// and contains the product thresholds 0.05, 0.1, 0.2 and the half-life's 0.5 exactly).
    public static let defaultEpsilonGrid: [Double] = (2...50).map { Double($0) / 100 }

    // MARK: pipeline

    /// All estimates of one curve (see the type's documentation).
    /// - Precondition: `iterations.count == values.count`; options should have passed
    ///   ``AnalysisOptions/validate()``.
    public static func analyze(iterations: [Int], values: [Double], options: AnalysisOptions) -> CurveTiming {
        precondition(iterations.count == values.count,
                     "DecayEstimators.analyze: \(iterations.count) iterations but \(values.count) values")
        let (it, s) = smoothedCurve(iterations: iterations, values: values, options: options)
        let none = TimeEstimate.unavailable(.notApplicable)
        var result = CurveTiming(reference: nil, threshold: options.epsilonGrid.map { _ in none }, halfLife: none,
                                 knee: none, kneeFit: nil, timeConstant: none, exponentialFit: nil, area: none)
        guard !s.isEmpty else { return result }

        if let r = reference(iterations: it, smoothed: s, normalization: options.normalization, smoothing: options.smoothing) {
            result.reference = r
            let n = s.map { $0 / r }
            // A time inside the first window is set by partial averages of the first points: no time.
            let firstFull = it.count >= options.smoothing ? it[options.smoothing - 1] : Int.max
            func full(_ t: TimeEstimate) -> TimeEstimate {
                if let v = t.value, v < Double(firstFull) { return .unavailable(.notApplicable) }
                return t
            }
            result.threshold = thresholdTimes(iterations: it, normalized: n, epsilons: options.epsilonGrid).map(full)
            result.halfLife = full(halfLife(iterations: it, normalized: n))
            result.area = full(areaTime(iterations: it, smoothed: s, normalized: n, fraction: options.areaFraction))
        }
        let k = knee(iterations: it, smoothed: s, options: options)
        result.knee = k.estimate
        result.kneeFit = k.fit
        let e = timeConstant(iterations: it, smoothed: s, options: options)
        result.timeConstant = e.estimate
        result.exponentialFit = e.fit
        return result
    }

    /// The knee (step 7) of a raw curve: smoothed as in step 1, then fitted.
    public static func kneeOfCurve(iterations: [Int], values: [Double], options: AnalysisOptions)
        -> (estimate: TimeEstimate, fit: KneeFit?) {
        let (it, s) = smoothedCurve(iterations: iterations, values: values, options: options)
        return knee(iterations: it, smoothed: s, options: options)
    }

    /// Steps 1 of the pipeline: the kept iterations (after an early-peak `skip`) and the
    /// trailing moving average of the kept values.
    public static func smoothedCurve(iterations: [Int], values: [Double], options: AnalysisOptions)
        -> (iterations: [Int], smoothed: [Double]) {
        precondition(iterations.count == values.count, "DecayEstimators.smoothedCurve: length mismatch")
        let skip = options.normalization.skippedIterations
        let first = iterations.firstIndex { $0 > skip } ?? iterations.count
        let it = Array(iterations[first...])
        return (it, DecayRules.smooth(Array(values[first...]), window: options.smoothing))
    }

    /// The normalisation reference of a smoothed curve (``DecayNormalization``; full windows of
    /// `smoothing` points only), or `nil` when it does not exist or is not positive and finite.
    public static func reference(iterations: [Int], smoothed: [Double], normalization: DecayNormalization,
                                 smoothing: Int) -> Double? {
        precondition(iterations.count == smoothed.count, "DecayEstimators.reference: length mismatch")
        let firstFull = smoothing - 1
        guard iterations.count > firstFull else { return nil }
        let fullIterations = Array(iterations[firstFull...]), full = Array(smoothed[firstFull...])
        func value(at iteration: Int) -> Double? { fullIterations.lastIndex { $0 <= iteration }.map { full[$0] } }
        let r: Double?
        switch normalization {
        case .earlyPeak(let window, let skip):
            r = DecayRules.earlyPeak(iterations: fullIterations, smoothed: full, first: skip + 1, last: window)
        case .valueAt(let iteration):
            r = value(at: iteration)
        case .fractionOfRun(let fraction):
            r = value(at: Int((fraction * Double(iterations.last!)).rounded(.down)))
        }
        guard let r, r.isFinite, r > 0 else { return nil }
        return r
    }

    // MARK: threshold, half-life, area

    /// `t(eps)` for every `eps`; censored where the last normalised value is not below `eps`.
    public static func thresholdTimes(iterations: [Int], normalized: [Double], epsilons: [Double]) -> [TimeEstimate] {
        epsilons.map { eps in
            guard !normalized.isEmpty else { return .unavailable(.notApplicable) }
            return DecayRules.thresholdTime(iterations: iterations, normalized: normalized, epsilon: eps)
                .map { .time(Double($0)) } ?? .unavailable(.censored)
        }
    }

    /// The first iteration after which the normalised curve stays below 0.5.
    public static func halfLife(iterations: [Int], normalized: [Double]) -> TimeEstimate {
        thresholdTimes(iterations: iterations, normalized: normalized, epsilons: [0.5])[0]
    }

    /// The area rule; censored when the last normalised value is not below 0.5.
    public static func areaTime(iterations: [Int], smoothed: [Double], normalized: [Double], fraction: Double) -> TimeEstimate {
        guard let last = normalized.last else { return .unavailable(.notApplicable) }
        guard last < 0.5 else { return .unavailable(.censored) }
        return DecayRules.areaTime(iterations: iterations, smoothed: smoothed, fraction: fraction)
            .map { .time(Double($0)) } ?? .unavailable(.notApplicable)
    }

    // MARK: fits

    /// Step 6: the first index of the fits, or the reason there is none (empty curve or a
    /// non-finite smoothed value).
    static func decayStart(_ smoothed: [Double], smoothing: Int) -> (start: Int, peak: Int)? {
        guard !smoothed.isEmpty, smoothed.allSatisfy(\.isFinite) else { return nil }
        var peak = 0
        for i in 1..<smoothed.count where smoothed[i] > smoothed[peak] { peak = i }
        return (Swift.max(peak, smoothing - 1), peak)
    }

    /// The reason for too few points after the decay start: `no_decay` when the curve would have
    /// been long enough had it peaked earlier, else `not_applicable`.
    static func tooFewPoints(count: Int, needed: Int, smoothing: Int) -> TimeEstimate {
        count >= needed + smoothing - 1 ? .unavailable(.noDecay) : .unavailable(.notApplicable)
    }

    /// The knee of a smoothed curve (step 7 of the type's documentation), with the fit that
    /// decided it (`nil` when no fit was possible).
    public static func knee(iterations: [Int], smoothed: [Double], options: AnalysisOptions)
        -> (estimate: TimeEstimate, fit: KneeFit?) {
        precondition(iterations.count == smoothed.count, "DecayEstimators.knee: length mismatch")
        guard let (start, _) = decayStart(smoothed, smoothing: options.smoothing) else {
            return (.unavailable(.notApplicable), nil)
        }
        let segment = Swift.max(options.minimumFitPoints, options.smoothing)
        let needed = 2 * segment - 1
        var x: [Double] = []
        var y: [Double] = []
        var its: [Int] = []
        if start < smoothed.count {
            for i in start..<smoothed.count where smoothed[i] > 0 {
                x.append(Double(iterations[i]))
                y.append(log(smoothed[i]))
                its.append(iterations[i])
            }
        }
        guard x.count >= needed else {
            if smoothed.count - start >= needed { return (.unavailable(.notApplicable), nil) }  // reaches zero
            return (tooFewPoints(count: smoothed.count, needed: needed, smoothing: options.smoothing), nil)
        }
        guard let h = hingeFit(x: x, y: y, minimumSegmentPoints: segment), let line = lineFit(x: x, y: y) else {
            return (.unavailable(.notApplicable), nil)
        }
        let improvement = line.rss > 0 ? 1 - h.rss / line.rss : 0
        let fit = KneeFit(iteration: its[h.breakIndex], firstIteration: its[0], lastIteration: its[its.count - 1],
                          pointsBefore: h.breakIndex + 1, pointsAfter: x.count - h.breakIndex,
                          slopeBefore: h.slopeBefore, slopeAfter: h.slopeAfter, logValueAtKnee: h.valueAtBreak, rss: h.rss,
                          lineSlope: line.slope, improvement: improvement)
        let minimumDrop = log(options.minimumDecayFactor)
        // One straight line is as good: a single rate throughout (decaying: the fast phase lasts
        // to the end; else flat).
        guard improvement >= options.kneeMinimumImprovement else {
            let decays = line.slope < 0 && -line.slope * (x[x.count - 1] - x[0]) >= minimumDrop
            return (.unavailable(decays ? .censored : .noDecay), fit)
        }
        let fastDrop = -h.slopeBefore * (x[h.breakIndex] - x[0])
        guard h.slopeBefore < 0, fastDrop >= minimumDrop else { return (.unavailable(.noDecay), fit) }
        guard h.slopeAfter >= options.kneeFlattening * h.slopeBefore else { return (.unavailable(.censored), fit) }
        // The best break on the first admissible point: the fast phase ends at or before it,
        // earlier than the fit can resolve (the number would be a bound, not a time).
        if h.breakIndex == segment - 1 { return (.unavailable(.notApplicable), fit) }
        return (.time(Double(its[h.breakIndex])), fit)
    }

    /// The exponential time constant of a smoothed curve (step 8 of the type's documentation),
    /// with the fit that decided it (`nil` when no fit was possible).
    public static func timeConstant(iterations: [Int], smoothed: [Double], options: AnalysisOptions)
        -> (estimate: TimeEstimate, fit: ExponentialFit?) {
        precondition(iterations.count == smoothed.count, "DecayEstimators.timeConstant: length mismatch")
        guard let (start, peak) = decayStart(smoothed, smoothing: options.smoothing) else {
            return (.unavailable(.notApplicable), nil)
        }
        let floor = options.timeConstantFloor * smoothed[peak]
        guard smoothed[peak] > 0 else { return (.unavailable(.notApplicable), nil) }
        var end = start
        while end < smoothed.count, smoothed[end] >= floor { end += 1 }
        let reachedFloor = end < smoothed.count
        let points = end - start
        guard points >= options.minimumFitPoints else {
            // Fell below the floor within the smoothing warm-up or right after: too fast to resolve.
            if reachedFloor { return (.unavailable(.notApplicable), nil) }
            return (tooFewPoints(count: smoothed.count, needed: options.minimumFitPoints, smoothing: options.smoothing), nil)
        }
        let used = Swift.min(points, options.theilSenMaxPoints)
        var x = [Double](repeating: 0, count: used)
        var y = [Double](repeating: 0, count: used)
        for j in 0..<used {
            let i = used == points ? start + j : start + j * (points - 1) / (used - 1)
            x[j] = Double(iterations[i])
            y[j] = log(smoothed[i])
        }
        guard let slope = theilSenSlope(x: x, y: y) else { return (.unavailable(.notApplicable), nil) }
        let fit = ExponentialFit(firstIteration: iterations[start], lastIteration: iterations[end - 1], points: points,
                                 pointsUsed: used, slope: slope, reachedFloor: reachedFloor)
        guard slope < 0 else { return (.unavailable(.noDecay), fit) }
        let span = Double(iterations[end - 1] - iterations[start])
        guard -slope * span >= log(options.minimumDecayFactor) else { return (.unavailable(.censored), fit) }
        return (.time(-1 / slope), fit)
    }

    // MARK: numerical building blocks

    /// Theil-Sen slope: the median of `(y_j - y_i) / (x_j - x_i)` over all pairs `i < j` with
    /// `x_i != x_j` (even count: mean of the two middle values). `nil` when there is no such
    /// pair or a value is not finite. O(n^2 log n); subsample long inputs.
    public static func theilSenSlope(x: [Double], y: [Double]) -> Double? {
        precondition(x.count == y.count, "DecayEstimators.theilSenSlope: length mismatch")
        guard x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else { return nil }
        var slopes: [Double] = []
        slopes.reserveCapacity(x.count * (x.count - 1) / 2)
        for i in 0..<x.count {
            for j in (i + 1)..<x.count where x[j] != x[i] {
                slopes.append((y[j] - y[i]) / (x[j] - x[i]))
            }
        }
        guard !slopes.isEmpty else { return nil }
        let n = slopes.count
        return slopes.withUnsafeMutableBufferPointer { buffer -> Double in
            let upper = select(buffer, n / 2)
            guard n % 2 == 0 else { return upper }
            // The lower middle is the largest value left of the upper middle after selection.
            var lower = buffer[0]
            for i in 1..<(n / 2) where buffer[i] > lower { lower = buffer[i] }
            return 0.5 * (lower + upper)
        }
    }

    /// Rearranges `a` so that `a[k]` is the value a full sort would put there, with no larger
    /// value before it and no smaller after (Hoare quickselect, median-of-three pivot; O(n)
    /// expected). Returns `a[k]`. No NaN allowed.
    static func select(_ a: UnsafeMutableBufferPointer<Double>, _ k: Int) -> Double {
        var lo = 0, hi = a.count - 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            // Median of three as the pivot.
            if a[mid] < a[lo] { a.swapAt(mid, lo) }
            if a[hi] < a[lo] { a.swapAt(hi, lo) }
            if a[hi] < a[mid] { a.swapAt(hi, mid) }
            let pivot = a[mid]
            var i = lo, j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j {
                    a.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            // Now a[lo...j] <= pivot <= a[i...hi], and j < i.
            if k <= j { hi = j } else if k >= i { lo = i } else { return a[k] }
        }
        return a[k]
    }

    /// The least-squares line through `(x_i, y_i)` (centred two-pass sums): its slope and
    /// residual sum of squares; `nil` for fewer than two distinct `x`.
    public static func lineFit(x: [Double], y: [Double]) -> (slope: Double, rss: Double)? {
        precondition(x.count == y.count, "DecayEstimators.lineFit: length mismatch")
        guard x.count >= 2 else { return nil }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0
        for i in x.indices {
            sxx += (x[i] - mx) * (x[i] - mx)
            sxy += (x[i] - mx) * (y[i] - my)
        }
        guard sxx > 0 else { return nil }
        let b = sxy / sxx
        var rss = 0.0
        for i in x.indices {
            let r = y[i] - my - b * (x[i] - mx)
            rss += r * r
        }
        return (b, rss)
    }

    /// The least-squares continuous two-segment line through `(x_i, y_i)`.
    public struct HingeFit: Hashable, Sendable {
        /// Index of the break point `x_k` (it belongs to both segments).
        public var breakIndex: Int
        /// Fitted `y` at the break.
        public var valueAtBreak: Double
        public var slopeBefore: Double
        public var slopeAfter: Double
        /// Residual sum of squares.
        public var rss: Double
    }

    /// Fits `y = a + b1 min(x - x_k, 0) + b2 max(x - x_k, 0)` by least squares for every break
    /// `k` with at least `minimumSegmentPoints` points on each side (the break counted on both)
    /// and returns the break of least residual sum of squares (the first on ties), refitted
    /// exactly. `x` must be strictly increasing.
    ///
    /// Each candidate costs O(1): with `x` scaled to [0, 1] and `y` centred, the normal
    /// equations of the three parameters only need the prefix sums of `x, x^2, y, x y`; the
    /// `(u, v)` cross term vanishes because `min(.,0) max(.,0) = 0`. `nil` if there are fewer
    /// than `2 * minimumSegmentPoints - 1` points or a value is not finite.
    public static func hingeFit(x: [Double], y: [Double], minimumSegmentPoints: Int) -> HingeFit? {
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
        var best = -1
        var bestRSS = Double.infinity
        for k in (minimumSegmentPoints - 1)...(m - minimumSegmentPoints) {
            let xk = xs[k]
            let nl = Double(k + 1), nr = Double(m - k - 1)
            let sxl = p1[k + 1], sxxl = p2[k + 1], syl = py[k + 1], sxyl = pxy[k + 1]
            let sxr = p1[m] - sxl, sxxr = p2[m] - sxxl, syr = py[m] - syl, sxyr = pxy[m] - sxyl
            let su = sxl - nl * xk, suu = sxxl - 2 * xk * sxl + nl * xk * xk, suy = sxyl - xk * syl
            let sv = sxr - nr * xk, svv = sxxr - 2 * xk * sxr + nr * xk * xk, svy = sxyr - xk * syr
            guard let (a, b1, b2) = solveHinge(n: Double(m), sy: sy, su: su, suu: suu, suy: suy, sv: sv, svv: svv, svy: svy)
            else { continue }
            let rss = syy - a * sy - b1 * suy - b2 * svy
            if rss < bestRSS {
                bestRSS = rss
                best = k
            }
        }
        guard best >= 0 else { return nil }
        // Exact refit at the chosen break (direct sums, no prefix-sum cancellation).
        let xk = xs[best]
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
        return HingeFit(breakIndex: best, valueAtBreak: a + yMean, slopeBefore: b1 / span, slopeAfter: b2 / span, rss: rss)
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

    /// A curve per unit learning rate, `c_t / lr_t`, point by point. Where `lr_t` is not positive
    /// and finite the value is NaN (undefined; the estimators treat it as "not decayed", and a NaN
    /// at the end censors the threshold rule). For the weight update under plain SGD this is
    /// `||g|| / ||theta||`; under Adam the norm of the preconditioned direction relative to `||theta||`.
    /// - Precondition: equal lengths.
    public static func divideByLearningRate(_ values: [Double], lr: [Double]) -> [Double] {
        precondition(values.count == lr.count, "divideByLearningRate: \(values.count) values but \(lr.count) rates")
        return zip(values, lr).map { u, r in r.isFinite && r > 0 ? u / r : .nan }
    }
}
