import Foundation

// MARK: - Sample summary

/// Summary of a sample of decay times or ratios over independent runs (seeds):
/// size, mean, sample standard deviation and a two-sided 95% Student-t confidence interval for
/// the mean, plus the number of censored runs.
///
/// Built from `[Double?]` where `nil` is a censored run (the curve never decayed). Censored runs
/// are **counted and excluded**: the statistics describe the runs that decayed, and `censored`
/// tells the reader how many did not, instead of imputing a made-up time. Non-finite values
/// (NaN, ±Inf) carry no usable time either and are counted as censored too.
///
/// With `n` uncensored values `x_k`:
/// - `mean = (1/n) sum x_k` (compensated summation);
/// - `sd = sqrt( sum (x_k - mean)^2 / (n-1) )` (sample, Bessel-corrected), computed by the
///   corrected two-pass algorithm `(sum d_k^2 - (sum d_k)^2 / n) / (n-1)`, `d_k = x_k - mean`,
///   which cancels the rounding error of `mean`;
/// - `ci = mean ± t_{0.975, n-1} * sd / sqrt(n)`, `t` the Student-t quantile (``StudentT``).
///
/// `n == 0`: `mean`, `sd` and the interval are `nil`. `n == 1`: `mean` is the value, `sd` and
/// the interval are `nil` (one value says nothing about spread).
///
/// JSON form: `{"n": int, "mean": number|null, "sd": number|null, "ci_low": number|null,
/// "ci_high": number|null, "censored": int}`, nulls written explicitly.
public struct SampleSummary: Codable, Hashable, Sendable {
    /// Number of uncensored (finite) values.
    public var n: Int
    /// Mean of the uncensored values; `nil` when `n == 0`.
    public var mean: Double?
    /// Sample standard deviation (divisor `n-1`); `nil` when `n < 2`.
    public var sd: Double?
    /// Lower end of the 95% Student-t confidence interval of the mean; `nil` when `n < 2`.
    public var ciLow: Double?
    /// Upper end of the 95% Student-t confidence interval of the mean; `nil` when `n < 2`.
    public var ciHigh: Double?
    /// Number of censored values (`nil` or non-finite entries).
    public var censored: Int

    /// The confidence level of ``ciLow``/``ciHigh``.
    public static let confidenceLevel = 0.95

    public init(n: Int, mean: Double?, sd: Double?, ciLow: Double?, ciHigh: Double?, censored: Int) {
        self.n = n
        self.mean = mean
        self.sd = sd
        self.ciLow = ciLow
        self.ciHigh = ciHigh
        self.censored = censored
    }

    /// Summarises `values`; `nil` (and non-finite) entries are censored: counted, then excluded.
    public init(_ values: [Double?]) {
        var xs: [Double] = []
        xs.reserveCapacity(values.count)
        var censored = 0
        for v in values {
            if let v, v.isFinite { xs.append(v) } else { censored += 1 }
        }
        self.censored = censored
        n = xs.count
        guard n > 0 else { return }
        let m = compensatedSum(xs) / Double(n)
        mean = m
        guard n > 1 else { return }
        var deviations = CompensatedAccumulator()
        var squares = CompensatedAccumulator()
        for x in xs {
            let d = x - m
            deviations.add(d)
            squares.add(d * d)
        }
        let dSum = deviations.value
        let m2 = Swift.max(0, squares.value - dSum * dSum / Double(n))
        let s = (m2 / Double(n - 1)).squareRoot()
        sd = s
        let t = StudentT.quantile(0.5 + SampleSummary.confidenceLevel / 2, degreesOfFreedom: Double(n - 1))
        let half = t * s / Double(n).squareRoot()
        ciLow = m - half
        ciHigh = m + half
    }

    /// Summarises integer times (e.g. threshold times); `nil` entries are censored.
    public init(_ values: [Int?]) {
        self.init(values.map { $0.map(Double.init) })
    }

    enum CodingKeys: String, CodingKey {
        case n, mean, sd
        case ciLow = "ci_low"
        case ciHigh = "ci_high"
        case censored
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        n = try c.decode(Int.self, forKey: .n)
        mean = try c.decodeIfPresent(Double.self, forKey: .mean)
        sd = try c.decodeIfPresent(Double.self, forKey: .sd)
        ciLow = try c.decodeIfPresent(Double.self, forKey: .ciLow)
        ciHigh = try c.decodeIfPresent(Double.self, forKey: .ciHigh)
        censored = try c.decode(Int.self, forKey: .censored)
    }

    /// Writes `null` explicitly for the undefined statistics (never omits a key).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(n, forKey: .n)
        try c.encodeOrNull(mean, forKey: .mean)
        try c.encodeOrNull(sd, forKey: .sd)
        try c.encodeOrNull(ciLow, forKey: .ciLow)
        try c.encodeOrNull(ciHigh, forKey: .ciHigh)
        try c.encode(censored, forKey: .censored)
    }
}

// MARK: - Student t distribution

/// The Student t distribution with `nu > 0` degrees of freedom (non-integer `nu` allowed).
///
/// The upper tail is `P(T > t) = I_x(nu/2, 1/2) / 2` for `t >= 0`, with `x = nu / (nu + t^2)`
/// and `I` the regularized incomplete beta function, evaluated by its continued fraction
/// (modified Lentz) with `x`, `1 - x = t^2 / (nu + t^2)` and their logarithms all formed
/// directly (via `log1p`) so none suffers cancellation, and `log B(nu/2, 1/2)` from Stirling's
/// series for large `nu`. Quantiles invert that tail by Newton's method (derivative: the
/// density) safeguarded by bisection on a bracketing interval, to a relative step below 1e-15;
/// `nu = 1` (Cauchy) and `nu = 2` use their closed forms, and for `nu >= 1e4` the
/// Cornish-Fisher expansion around the normal quantile is used whenever its last term is below
/// 1e-16 relative.
///
/// Accuracy, checked against 40-digit mpmath on `nu` from 0.3 to 1e9 and `p` from 1e-12 to
/// 0.999: quantiles to about 1e-14 relative (1e-16 absolute near `p = 1/2`, where `t -> 0`);
/// `cdf`/`pdf` to about 1e-14 relative for
/// `nu <= 1e4`, degrading to about 1e-10 for `nu ~ 1e7` (the continued fraction's conditioning
/// near `x -> 1`), irrelevant for sample sizes met in practice.
public enum StudentT {
    /// `P(T <= t)`.
    public static func cdf(_ t: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(nu > 0, "StudentT: degrees of freedom must be > 0, got \(nu)")
        if t.isNaN { return .nan }
        return t >= 0 ? 1 - upperTail(t, nu) : upperTail(-t, nu)
    }

    /// The density `Gamma((nu+1)/2) / (sqrt(nu pi) Gamma(nu/2)) * (1 + t^2/nu)^(-(nu+1)/2)`.
    public static func pdf(_ t: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(nu > 0, "StudentT: degrees of freedom must be > 0, got \(nu)")
        // Gamma((nu+1)/2) / Gamma(nu/2) = 1 / (B(nu/2, 1/2) * Gamma(1/2)), Gamma(1/2) = sqrt(pi).
        let logNorm = -logBeta(nu / 2, 0.5) - 0.5 * log(nu)
        return exp(logNorm - (nu + 1) / 2 * log1p(t * t / nu))
    }

    /// The `p`-quantile `t` with `P(T <= t) = p`; `p = 0.975` gives the two-sided 95% critical
    /// value. `p = 0` and `p = 1` give `-inf` and `+inf`.
    public static func quantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(nu > 0, "StudentT: degrees of freedom must be > 0, got \(nu)")
        precondition(p.isNaN || (0...1).contains(p), "StudentT.quantile: p must lie in [0, 1], got \(p)")
        if p.isNaN { return .nan }
        if p == 0.5 { return 0 }
        if p < 0.5 { return -upperTailQuantile(p, nu) }
        return upperTailQuantile(1 - p, nu)
    }

    /// `P(T > t)` for `t >= 0`.
    static func upperTail(_ t: Double, _ nu: Double) -> Double {
        if t == .infinity { return 0 }
        // x = nu/(nu+t^2) = 1/(1+r), 1-x = r/(1+r), r = t^2/nu; logs via log1p keep full
        // relative precision even when x is within 1e-10 of 1 (large nu).
        let r = t * t / nu
        let l1p = log1p(r)
        return 0.5 * regularizedIncompleteBeta(
            a: nu / 2, b: 0.5, x: 1 / (1 + r), oneMinusX: r / (1 + r), logX: -l1p, logOneMinusX: log(r) - l1p)
    }

    /// `t > 0` with `P(T > t) = alpha`, `0 <= alpha < 0.5`.
    static func upperTailQuantile(_ alpha: Double, _ nu: Double) -> Double {
        if alpha == 0 { return .infinity }
        if nu == 1 {
            // cot(pi alpha); near alpha = 1/2 as tan(pi (1/2 - alpha)), whose argument is exact.
            return alpha < 0.25 ? 1 / tan(Double.pi * alpha) : tan(Double.pi * (0.5 - alpha))
        }
        if nu == 2 { return (1 - 2 * alpha) / (2 * alpha * (1 - alpha)).squareRoot() }
        let z = normalUpperTailQuantile(alpha)
        let (guess, lastTerm) = cornishFisher(z, nu)
        // Large nu: the expansion's last term bounds its truncation error; accept it when that is
        // below double precision. (There the incomplete-beta fraction is ill-conditioned: its
        // partial denominators cancel like 1 - x ~ t^2/nu.)
        if nu >= 1e4 && abs(lastTerm) <= 1e-16 * abs(guess) { return guess }
        return solveDecreasing(target: alpha, guess: guess,
                               tail: { upperTail($0, nu) }, density: { pdf($0, degreesOfFreedom: nu) })
    }

    /// Cornish-Fisher expansion of the t quantile in powers of `1/nu` around the normal
    /// quantile `z` (Abramowitz & Stegun 26.7.5), through `nu^-4`; also returns that last term.
    static func cornishFisher(_ z: Double, _ nu: Double) -> (value: Double, lastTerm: Double) {
        let z2 = z * z
        let g1 = (z2 + 1) * z / 4
        let g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
        let g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
        let g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
        let last = g4 / (nu * nu * nu * nu)
        return (z + g1 / nu + g2 / (nu * nu) + g3 / (nu * nu * nu) + last, last)
    }

    /// `z > 0` with `P(Z > z) = alpha` for the standard normal, `0 < alpha < 0.5`, by
    /// safeguarded Newton on `erfc(z / sqrt 2) / 2`.
    static func normalUpperTailQuantile(_ alpha: Double) -> Double {
        // Start: the leading terms of the tail asymptotics, good enough for Newton.
        let l = -2 * log(alpha)
        let guess = alpha < 0.3 ? Swift.max(0.1, (l - log(l) - log(2 * Double.pi)).squareRoot()) : 0.5
        return solveDecreasing(target: alpha, guess: guess,
                               tail: { 0.5 * erfc($0 / 2.0.squareRoot()) },
                               density: { exp(-0.5 * $0 * $0) / (2 * Double.pi).squareRoot() })
    }

    /// The regularized incomplete beta function `I_x(a, b)` for `a, b > 0`, `0 <= x <= 1`, with
    /// `oneMinusX` (and optionally the logarithms of both) supplied by the caller so that `1 - x`
    /// carries full relative precision.
    ///
    /// Continued fraction (Numerical Recipes `betacf`, modified Lentz) after the prefactor
    /// `x^a (1-x)^b / (a B(a, b))`; used directly for `x < (a+1)/(a+b+2)`, where it converges
    /// fast, else through the symmetry `I_x(a, b) = 1 - I_{1-x}(b, a)`. `log B(a, b)` comes from
    /// ``logBeta(_:_:)``, which avoids the cancellation of `lgamma` differences for large
    /// arguments.
    static func regularizedIncompleteBeta(
        a: Double, b: Double, x: Double, oneMinusX: Double, logX: Double? = nil, logOneMinusX: Double? = nil
    ) -> Double {
        if x <= 0 { return 0 }
        if oneMinusX <= 0 { return 1 }
        let lx = logX ?? log(x)
        let l1mx = logOneMinusX ?? log(oneMinusX)
        if x < (a + 1) / (a + b + 2) {
            return incompleteBetaFraction(a: a, b: b, x: x, logX: lx, logOneMinusX: l1mx)
        }
        return 1 - incompleteBetaFraction(a: b, b: a, x: oneMinusX, logX: l1mx, logOneMinusX: lx)
    }

    private static func incompleteBetaFraction(a: Double, b: Double, x: Double, logX: Double, logOneMinusX: Double) -> Double {
        let logFront = a * logX + b * logOneMinusX - logBeta(a, b)
        let tiny = 1e-300
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        var m = 1.0
        // Needs O(sqrt(max(a, b))) terms; the cap is far above that for nu <= 1e7.
        while m <= 100_000 {
            let m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
            m += 1
        }
        return exp(logFront) * h / a
    }

    /// `log B(p, q) = lgamma(p) + lgamma(q) - lgamma(p+q)`. When the larger argument `q` is at
    /// least 30, `lgamma(q) - lgamma(p+q)` is taken from Stirling's series in closed form,
    /// `-p log q - (p+q-1/2) log1p(p/q) + p + delta(q) - delta(p+q)`, instead of as a difference
    /// of two large numbers (whose rounding, ~`q log q * 1e-16`, would otherwise dominate the
    /// t tail for large `nu`).
    static func logBeta(_ a: Double, _ b: Double) -> Double {
        let p = Swift.min(a, b), q = Swift.max(a, b)
        guard q >= 30 else { return lgamma(p) + lgamma(q) - lgamma(p + q) }
        return lgamma(p) - p * log(q) - (p + q - 0.5) * log1p(p / q) + p + stirlingDelta(q) - stirlingDelta(p + q)
    }

    /// `lgamma(x) - ((x - 1/2) log x - x + log(2 pi)/2)` for `x >= 30` (series to `x^-11`, error
    /// below 1e-19).
    static func stirlingDelta(_ x: Double) -> Double {
        let r = 1 / x, r2 = r * r
        return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 - r2 * (1.0 / 1188 - r2 * 691.0 / 360360)))))
    }

    /// Solves `tail(t) = target` for `t > 0`, `tail` decreasing from `tail(0) = 0.5` with
    /// `-tail' = density`: Newton steps, replaced by bisection whenever they leave the current
    /// bracket.
    static func solveDecreasing(
        target: Double, guess: Double, tail: (Double) -> Double, density: (Double) -> Double
    ) -> Double {
        var lo = 0.0
        var hi = Swift.max(1.0, 2 * guess)
        var grow = 0
        while tail(hi) > target && grow < 2000 {
            lo = hi
            hi *= 2
            grow += 1
        }
        var t = (guess > lo && guess < hi) ? guess : 0.5 * (lo + hi)
        for _ in 0..<400 {
            let f = tail(t) - target
            if f == 0 { return t }
            if f > 0 { lo = t } else { hi = t }
            var next = t + f / density(t)
            if !(next > lo && next < hi) { next = 0.5 * (lo + hi) }
            if abs(next - t) <= 1e-15 * abs(next) || hi - lo <= 4 * hi.ulp { return next }
            t = next
        }
        return t
    }
}

// MARK: - Moment accumulator

/// Per-index moments of many curves of a fixed length `L` (e.g. one curve per seed, averaged
/// per recorded iteration): for each index `k`, the number of finite values, their sum and their
/// sum of squares, plus the number of skipped non-finite values.
///
/// Mean `sum/count`; sample standard deviation
/// `sqrt((sumOfSquares - sum * mean) / (count - 1))`, the product `sum * mean` formed exactly
/// (error-free product via FMA) so only the accumulated sums' own rounding remains; a tiny
/// negative result of cancellation is clamped to 0. That rounding is about `count * eps *
/// mean^2` in the variance, so when `sd` is many orders below `|mean|` the relative precision
/// of `sd` degrades; decay curves are far from that regime.
///
/// ``merge(_:)`` adds counts and sums element-wise, which is how an MPI reduction (`MPI_SUM`
/// over ``packed``) combines ranks: the merged state equals a single accumulation of all values
/// exactly up to Double rounding and summation order. Floating-point addition is not
/// associative, so callers that need bit-identical results across runs must reduce in a fixed
/// order (e.g. by rank), not in arrival order.
///
/// Codable with keys `count`, `sum`, `sum_of_squares`, `skipped`; decoding checks the lengths.
public struct MomentAccumulator: Codable, Hashable, Sendable {
    /// Number of finite values added at each index.
    public private(set) var count: [Int]
    /// Sum of the finite values at each index.
    public private(set) var sum: [Double]
    /// Sum of the squares of the finite values at each index.
    public private(set) var sumOfSquares: [Double]
    /// Number of non-finite values (NaN, ±Inf) skipped at each index.
    public private(set) var skipped: [Int]

    /// The fixed length `L`.
    public var length: Int { count.count }

    /// An empty accumulator of length `length`.
    public init(length: Int) {
        precondition(length >= 0, "MomentAccumulator: negative length \(length)")
        count = Array(repeating: 0, count: length)
        sum = Array(repeating: 0, count: length)
        sumOfSquares = Array(repeating: 0, count: length)
        skipped = Array(repeating: 0, count: length)
    }

    /// An accumulator from explicit state; throws if the arrays differ in length or a count is
    /// negative.
    public init(count: [Int], sum: [Double], sumOfSquares: [Double], skipped: [Int]) throws {
        let l = count.count
        guard sum.count == l, sumOfSquares.count == l, skipped.count == l else {
            throw MomentAccumulatorError.lengthMismatch(
                "count \(count.count), sum \(sum.count), sum_of_squares \(sumOfSquares.count), skipped \(skipped.count)")
        }
        guard count.allSatisfy({ $0 >= 0 }), skipped.allSatisfy({ $0 >= 0 }) else {
            throw MomentAccumulatorError.negativeCount
        }
        self.count = count
        self.sum = sum
        self.sumOfSquares = sumOfSquares
        self.skipped = skipped
    }

    /// Adds one curve: at each index a finite value enters count, sum and sum of squares; a
    /// non-finite value only increments `skipped`.
    /// - Precondition: `values.count == length`.
    public mutating func add(_ values: [Double]) {
        precondition(values.count == length, "MomentAccumulator.add: \(values.count) values, length \(length)")
        for k in 0..<values.count {
            let x = values[k]
            if x.isFinite {
                count[k] += 1
                sum[k] += x
                sumOfSquares[k] += x * x
            } else {
                skipped[k] += 1
            }
        }
    }

    /// Adds another accumulator's counts and sums element-wise (the reduction step).
    /// - Precondition: same length.
    public mutating func merge(_ other: MomentAccumulator) {
        precondition(other.length == length, "MomentAccumulator.merge: length \(other.length) into \(length)")
        for k in 0..<length {
            count[k] += other.count[k]
            sum[k] += other.sum[k]
            sumOfSquares[k] += other.sumOfSquares[k]
            skipped[k] += other.skipped[k]
        }
    }

    /// `self` merged with `other`, leaving both unchanged.
    public func merged(with other: MomentAccumulator) -> MomentAccumulator {
        var result = self
        result.merge(other)
        return result
    }

    /// Per-index mean, `nil` where no finite value was added.
    public var mean: [Double?] {
        (0..<length).map { k in count[k] > 0 ? sum[k] / Double(count[k]) : nil }
    }

    /// Per-index sample standard deviation (divisor `count - 1`), `nil` where `count < 2`.
    public var standardDeviation: [Double?] {
        (0..<length).map { k in
            let n = count[k]
            guard n >= 2 else { return nil }
            let s = sum[k]
            let m = s / Double(n)
            let product = s * m
            let productError = fmaResidual(s, m, product)
            let m2 = (sumOfSquares[k] - product) - productError
            return (Swift.max(0, m2) / Double(n - 1)).squareRoot()
        }
    }

    /// The state as one Double buffer of `4 * length` entries, `[count, sum, sumOfSquares,
    /// skipped]` concatenated, for an `MPI_SUM` all-reduce of `MPI_DOUBLE`. Counts are exact in
    /// Double up to 2^53.
    public var packed: [Double] {
        count.map(Double.init) + sum + sumOfSquares + skipped.map(Double.init)
    }

    /// Rebuilds an accumulator from ``packed``; throws unless `packed.count == 4 * length` and
    /// the counts are non-negative integers.
    public init(length: Int, packed: [Double]) throws {
        guard length >= 0, packed.count == 4 * length else {
            throw MomentAccumulatorError.lengthMismatch("packed has \(packed.count) entries, expected 4 * \(length)")
        }
        func counts(_ slice: ArraySlice<Double>) throws -> [Int] {
            try slice.map { v in
                guard v >= 0, v == v.rounded(), v < 9.007199254740992e15 else { throw MomentAccumulatorError.negativeCount }
                return Int(v)
            }
        }
        try self.init(
            count: counts(packed[0..<length]),
            sum: Array(packed[length..<(2 * length)]),
            sumOfSquares: Array(packed[(2 * length)..<(3 * length)]),
            skipped: counts(packed[(3 * length)..<(4 * length)]))
    }

    enum CodingKeys: String, CodingKey {
        case count, sum
        case sumOfSquares = "sum_of_squares"
        case skipped
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(
                count: c.decode([Int].self, forKey: .count),
                sum: c.decode([Double].self, forKey: .sum),
                sumOfSquares: c.decode([Double].self, forKey: .sumOfSquares),
                skipped: c.decode([Int].self, forKey: .skipped))
        } catch let error as MomentAccumulatorError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(count, forKey: .count)
        try c.encode(sum, forKey: .sum)
        try c.encode(sumOfSquares, forKey: .sumOfSquares)
        try c.encode(skipped, forKey: .skipped)
    }
}

/// Inconsistent state handed to ``MomentAccumulator``.
public enum MomentAccumulatorError: Error, CustomStringConvertible, Hashable, Sendable {
    case lengthMismatch(String)
    case negativeCount

    public var description: String {
        switch self {
        case .lengthMismatch(let detail): return "MomentAccumulator: arrays differ in length (\(detail))"
        case .negativeCount: return "MomentAccumulator: counts must be non-negative integers"
        }
    }
}

// MARK: - Helpers

/// The rounding error of `product = a * b`: `a * b - product` exactly (one FMA).
private func fmaResidual(_ a: Double, _ b: Double, _ product: Double) -> Double {
    (-product).addingProduct(a, b)
}

/// Neumaier-compensated sum of `xs`.
private func compensatedSum(_ xs: [Double]) -> Double {
    var acc = CompensatedAccumulator()
    for x in xs { acc.add(x) }
    return acc.value
}

/// Neumaier's improved Kahan summation.
private struct CompensatedAccumulator {
    var sum = 0.0
    var compensation = 0.0

    mutating func add(_ x: Double) {
        let t = sum + x
        if abs(sum) >= abs(x) {
            compensation += (sum - t) + x
        } else {
            compensation += (x - t) + sum
        }
        sum = t
    }

    var value: Double { sum + compensation }
}

