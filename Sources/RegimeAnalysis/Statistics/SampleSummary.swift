import Foundation
import RegimeCore

/// Summary of a sample of decay times or ratios over independent runs (seeds):
/// size, mean, sample standard deviation and a two-sided 95% Student-t confidence interval for
/// the mean, plus the number of censored runs.
///
/// Built from `[Double?]` where `nil` is a censored run (the curve never decayed). Censored runs
/// are **counted and excluded**: the statistics describe the runs that decayed, and `censored`
/// tells the reader how many did not, instead of imputing a made-up time. Non-finite values
/// (NaN, ±Inf) carry no usable time either and are counted as censored too.
///
/// With `n` uncensored values `x_k`, `mean` and `sd` are ``SampleMoments`` (compensated mean,
/// Bessel-corrected two-pass standard deviation);
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
        let moments = SampleMoments(xs)
        mean = moments.mean
        guard let m = moments.mean, let s = moments.sd else { return }
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
