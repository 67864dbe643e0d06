import Foundation
import RegimeCore

// MARK: - Percentile bootstrap

/// Medians and percentile-bootstrap confidence intervals over a small sample (one value per seed),
/// seeded and reproducible.
///
/// For a sample `x_1..x_n` (in the caller's order, e.g. sorted by trial seed) and `B` resamples:
/// 1. resample `b = 1..B` draws `n` indices uniformly with replacement,
///    `j = rng.nextInt(below: n)`, from one ``Xoshiro256`` created as
///    `Xoshiro256(seed: seed, stream: .bootstrap, index: index)` (`index` lets one seed feed many
///    independent quantities; resample `b` uses the `n` draws after those of resamples `1..b-1`);
/// 2. the statistic of each resample (median and mean from the same resample) is collected; the
///    median as defined by ``median(_:)``, the mean as `sum_k c_k x_(k) / n` with `c_k` the
///    number of draws of the `k`-th smallest value, summed in ascending order of value;
/// 3. the interval is the `(1-level)/2` and `(1+level)/2` quantiles of the `B` statistics, by
///    linear interpolation between order statistics (`h = (B-1) p`, NumPy's default "linear" /
///    Hyndman-Fan type 7).
///
/// Deterministic: the same values in the same order with the same `seed`, `index`, `B` and
/// `level` give bit-identical intervals on every platform (the generator, the index draws and
/// the arithmetic are fixed). The median of an even count is the mean of the two middle
/// values. `n == 0`: no statistic, no interval; `n == 1`: the statistic is the value, the
/// interval is `nil` (a single value says nothing about spread).
///
/// The percentile interval of the median is conservative-to-about-right for continuous data at
/// `n >= 10` and too narrow for very small `n` (with `n = 3` it cannot be wider than the sample
/// range); the report should show `n` next to every interval.
public enum Bootstrap {
    /// Default number of resamples `B`.
    public static let defaultResamples = 2000
    /// Default confidence level.
    public static let defaultLevel = 0.95

    /// The statistic an interval is about.
    public enum Statistic: String, Codable, CaseIterable, Sendable {
        case median
        case mean
    }

    /// The sample median: the middle order statistic, or the mean of the two middle ones for an
    /// even count; `nil` for an empty sample. NaN entries are not allowed (filter them first).
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        precondition(!values.contains(where: \.isNaN), "Bootstrap.median: NaN in the sample")
        return sortedMedian(values.sorted())
    }

    /// The arithmetic mean (``SampleMoments``), `nil` for an empty sample.
    public static func mean(_ values: [Double]) -> Double? { SampleMoments(values).mean }

    /// The `p`-quantile (`0 <= p <= 1`) of an ascending array by linear interpolation between
    /// order statistics: `h = (count-1) p`, `x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])`.
    public static func quantile(sorted xs: [Double], _ p: Double) -> Double {
        precondition(!xs.isEmpty, "Bootstrap.quantile: empty array")
        precondition(p >= 0 && p <= 1, "Bootstrap.quantile: p must lie in [0, 1], got \(p)")
        let h = Double(xs.count - 1) * p
        let lo = Int(h.rounded(.down))
        if lo >= xs.count - 1 { return xs[xs.count - 1] }
        let frac = h - Double(lo)
        return frac == 0 ? xs[lo] : xs[lo] + frac * (xs[lo + 1] - xs[lo])
    }

    /// The `B` resampled medians and means of `values` (see the type's documentation for the
    /// draw order). Empty arrays when `values` is empty.
    /// - Precondition: `resamples >= 1`, no NaN in `values`.
    public static func resampledStatistics(
        _ values: [Double], seed: UInt64, index: UInt64 = 0, resamples: Int = defaultResamples
    ) -> (medians: [Double], means: [Double]) {
        precondition(resamples >= 1, "Bootstrap: resamples must be >= 1, got \(resamples)")
        precondition(!values.contains(where: \.isNaN), "Bootstrap: NaN in the sample")
        let n = values.count
        guard n > 0 else { return ([], []) }
        // A resample is the multiset of its drawn indices: count how often each value is drawn,
        // by its rank in the sorted sample, then read the median and the mean off the counts in
        // O(n) (no sort per resample). Equal values are interchangeable, so ties do not matter.
        let order = values.indices.sorted { values[$0] < values[$1] }
        let sorted = order.map { values[$0] }
        var rank = [Int](repeating: 0, count: n)
        for (r, i) in order.enumerated() { rank[i] = r }
        var rng = Xoshiro256(seed: seed, stream: .bootstrap, index: index)
        var medians = [Double](repeating: 0, count: resamples)
        var means = [Double](repeating: 0, count: resamples)
        var counts = [Int](repeating: 0, count: n)
        let lowPosition = (n - 1) / 2, highPosition = n / 2  // the middle order statistics, 0-based
        for b in 0..<resamples {
            for k in 0..<n { counts[k] = 0 }
            for _ in 0..<n { counts[rank[rng.nextInt(below: n)]] += 1 }
            var sum = 0.0
            var seen = 0
            var low = 0.0, high = 0.0
            for k in 0..<n where counts[k] > 0 {
                sum += Double(counts[k]) * sorted[k]
                let next = seen + counts[k]
                if seen <= lowPosition && lowPosition < next { low = sorted[k] }
                if seen <= highPosition && highPosition < next { high = sorted[k] }
                seen = next
            }
            means[b] = sum / Double(n)
            medians[b] = low == high ? low : 0.5 * (low + high)
        }
        return (medians, means)
    }

    /// The percentile-bootstrap interval of `statistic` at `level`, or `nil` when fewer than two
    /// values are given.
    public static func percentileInterval(
        _ values: [Double], statistic: Statistic, seed: UInt64, index: UInt64 = 0,
        resamples: Int = defaultResamples, level: Double = defaultLevel
    ) -> (low: Double, high: Double)? {
        precondition(level > 0 && level < 1, "Bootstrap: level must lie in (0, 1), got \(level)")
        guard values.count >= 2 else { return nil }
        let r = resampledStatistics(values, seed: seed, index: index, resamples: resamples)
        return interval(statistic == .median ? r.medians : r.means, level: level)
    }

    /// The `(1-level)/2` and `(1+level)/2` quantiles of the bootstrap statistics.
    static func interval(_ statistics: [Double], level: Double) -> (low: Double, high: Double) {
        let sorted = statistics.sorted()
        let alpha = 1 - level
        return (quantile(sorted: sorted, alpha / 2), quantile(sorted: sorted, 1 - alpha / 2))
    }

    static func sortedMedian(_ xs: [Double]) -> Double {
        let n = xs.count
        return n % 2 == 1 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}

// MARK: - Summary

/// Median and mean of a sample over seeds with their percentile-bootstrap intervals (see
/// ``Bootstrap``), counting the missing values.
///
/// Built from `[Double?]`: `nil` and non-finite entries are **missing** (a censored or undefined
/// estimate): counted in ``missing`` and excluded, never imputed. Both intervals come from the
/// same `B` resamples.
///
/// JSON form: `{"n": int, "missing": int, "median": x|null, "median_ci_low": x|null,
/// "median_ci_high": x|null, "mean": x|null, "mean_ci_low": x|null, "mean_ci_high": x|null}`,
/// nulls written explicitly. The level and `B` are recorded by the owner (e.g.
/// ``TimingGroupSummary``).
public struct BootstrapSummary: Codable, Hashable, Sendable {
    /// Number of finite values used.
    public var n: Int
    /// Number of `nil` or non-finite entries left out.
    public var missing: Int
    public var median: Double?
    public var medianLow: Double?
    public var medianHigh: Double?
    public var mean: Double?
    public var meanLow: Double?
    public var meanHigh: Double?

    public init(n: Int, missing: Int, median: Double?, medianLow: Double?, medianHigh: Double?,
                mean: Double?, meanLow: Double?, meanHigh: Double?) {
        self.n = n
        self.missing = missing
        self.median = median
        self.medianLow = medianLow
        self.medianHigh = medianHigh
        self.mean = mean
        self.meanLow = meanLow
        self.meanHigh = meanHigh
    }

    /// Summarises the finite entries of `values` in their given order (the order matters for
    /// the resampling; pass trials sorted by seed or id).
    public init(_ values: [Double?], seed: UInt64, index: UInt64 = 0,
                resamples: Int = Bootstrap.defaultResamples, level: Double = Bootstrap.defaultLevel) {
        precondition(level > 0 && level < 1, "BootstrapSummary: level must lie in (0, 1), got \(level)")
        var xs: [Double] = []
        xs.reserveCapacity(values.count)
        var missing = 0
        for v in values {
            if let v, v.isFinite { xs.append(v) } else { missing += 1 }
        }
        self.n = xs.count
        self.missing = missing
        median = Bootstrap.median(xs)
        mean = Bootstrap.mean(xs)
        guard xs.count >= 2 else { return }
        let r = Bootstrap.resampledStatistics(xs, seed: seed, index: index, resamples: resamples)
        let m = Bootstrap.interval(r.medians, level: level)
        let a = Bootstrap.interval(r.means, level: level)
        medianLow = m.low
        medianHigh = m.high
        meanLow = a.low
        meanHigh = a.high
    }

    enum CodingKeys: String, CodingKey {
        case n, missing, median
        case medianLow = "median_ci_low"
        case medianHigh = "median_ci_high"
        case mean
        case meanLow = "mean_ci_low"
        case meanHigh = "mean_ci_high"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        n = try c.decode(Int.self, forKey: .n)
        missing = try c.decode(Int.self, forKey: .missing)
        median = try c.decodeIfPresent(Double.self, forKey: .median)
        medianLow = try c.decodeIfPresent(Double.self, forKey: .medianLow)
        medianHigh = try c.decodeIfPresent(Double.self, forKey: .medianHigh)
        mean = try c.decodeIfPresent(Double.self, forKey: .mean)
        meanLow = try c.decodeIfPresent(Double.self, forKey: .meanLow)
        meanHigh = try c.decodeIfPresent(Double.self, forKey: .meanHigh)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(n, forKey: .n)
        try c.encode(missing, forKey: .missing)
        try c.encodeOrNull(median, forKey: .median)
        try c.encodeOrNull(medianLow, forKey: .medianLow)
        try c.encodeOrNull(medianHigh, forKey: .medianHigh)
        try c.encodeOrNull(mean, forKey: .mean)
        try c.encodeOrNull(meanLow, forKey: .meanLow)
        try c.encodeOrNull(meanHigh, forKey: .meanHigh)
    }
}

