import Foundation
import RegimeCore

/// The geometric mean of positive values (ratios `t_w / t_a`) with a Student-t confidence
/// interval formed on the log scale.
///
/// A ratio lives on a multiplicative scale: `r` and `1/r` are equally far from "no difference",
/// and a linear-scale mean with a symmetric interval can reach below zero, which no ratio can.
/// With `y_i = ln r_i` and ``SampleMoments`` (`ybar`, `s`, divisor `n-1`) of the `y_i`:
///
///     geometric mean  g = exp(ybar)
///     interval        [exp(ybar - t s / sqrt n), exp(ybar + t s / sqrt n)],
///                     t = the (1+level)/2 quantile of Student t with n-1 degrees of freedom
///
/// (``StudentT``). Both ends are positive, and the interval is exact when the `ln r_i` are
/// independent normal draws (lognormal ratios): it covers `exp(E ln r)`, the population's
/// geometric mean (for lognormal `r` also its median), with probability `level`. For other
/// distributions the coverage is approximate (the t-interval's usual robustness of the mean of
/// `ln r`); the order-statistic interval of ``MedianSummary`` is the distribution-free
/// companion.
///
/// `n == 0`: nothing; `n == 1`: `g` is the value, no interval (``IntervalUnavailable``
/// `single_value`). Identical values give `s = 0` and the interval `[g, g]`.
///
/// JSON form: `{"n": int, "geometric_mean": x|null, "log_mean": x|null, "log_sd": x|null,
/// "interval": ConfidenceInterval}` (``ConfidenceInterval/coverage`` is the nominal level),
/// nulls written explicitly.
public struct GeometricMeanSummary: Codable, Hashable, Sendable {
    public var n: Int
    /// `exp(ybar)`; `nil` when `n == 0`.
    public var geometricMean: Double?
    /// `ybar`, the mean of `ln r`; `nil` when `n == 0`.
    public var logMean: Double?
    /// `s`, the sample standard deviation of `ln r`; `nil` when `n < 2`.
    public var logSD: Double?
    /// `[exp(ybar - t s / sqrt n), exp(ybar + t s / sqrt n)]` at the nominal level, or the
    /// reason there is none (`no_values`, `single_value`).
    public var interval: ConfidenceInterval

    /// - Precondition: every value positive and finite, `0 < level < 1`.
    public init(_ values: [Double], level: Double) {
        precondition(values.allSatisfy { $0 > 0 && $0.isFinite }, "GeometricMeanSummary: values must be positive and finite")
        precondition(level > 0 && level < 1, "GeometricMeanSummary: level must lie in (0, 1), got \(level)")
        n = values.count
        let moments = SampleMoments(values.map { log($0) })
        guard let mean = moments.mean else {
            interval = ConfidenceInterval(level: level, unavailable: .noValues)
            return
        }
        logMean = mean
        geometricMean = exp(mean)
        guard let sd = moments.sd else {
            interval = ConfidenceInterval(level: level, unavailable: .singleValue)
            return
        }
        logSD = sd
        let t = StudentT.quantile(0.5 + level / 2, degreesOfFreedom: Double(n - 1))
        let half = t * sd / Double(n).squareRoot()
        interval = ConfidenceInterval(level: level, coverage: level, low: exp(mean - half), high: exp(mean + half))
    }

    enum CodingKeys: String, CodingKey {
        case n
        case geometricMean = "geometric_mean"
        case logMean = "log_mean"
        case logSD = "log_sd"
        case interval
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        n = try c.decode(Int.self, forKey: .n)
        geometricMean = try c.decodeIfPresent(Double.self, forKey: .geometricMean)
        logMean = try c.decodeIfPresent(Double.self, forKey: .logMean)
        logSD = try c.decodeIfPresent(Double.self, forKey: .logSD)
        interval = try c.decode(ConfidenceInterval.self, forKey: .interval)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(n, forKey: .n)
        try c.encodeOrNull(geometricMean, forKey: .geometricMean)
        try c.encodeOrNull(logMean, forKey: .logMean)
        try c.encodeOrNull(logSD, forKey: .logSD)
        try c.encode(interval, forKey: .interval)
    }
}
