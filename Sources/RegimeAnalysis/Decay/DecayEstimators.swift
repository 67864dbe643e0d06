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
/// 6. **Decay start** of the time-constant fit: `i0 = max(argmax_i s_i, w - 1)` — after the
///    curve's (global) maximum, and after the first `w - 1` points, whose partial averages are not
///    yet full windows. The fit needs every smoothed value to be finite (else not_applicable).
/// 7. **Knee** (``knee(iterations:values:options:)``, `Knee.swift`): the break of a hinge fit
///    of the log of the raw curve on log-spaced iteration bins (no smoothing, no reference).
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
        let k = knee(iterations: iterations, values: values, options: options)
        result.knee = k.estimate
        result.kneeFit = k.fit
        let e = timeConstant(iterations: it, smoothed: s, options: options)
        result.timeConstant = e.estimate
        result.exponentialFit = e.fit
        return result
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
