import Foundation

/// The cross-seed statistics of `r = t_w / t_a` for one definition of a decay time (a threshold
/// at one `eps`, the area, the half-life, ...) over the trials of a group, on the scale a ratio
/// lives on and with censored trials kept, not dropped.
///
/// Input: each trial's ``TimingComparison`` and its run length `T` (last recorded iteration).
/// Each trial is read as a ``RatioObservation``:
/// - **both measured**: `r` is known;
/// - **t_w censored** (after the run: `censored` or `no_decay`) with `t_a` measured:
///   `r in [T/t_a, inf]`, and `t_a` came first;
/// - **t_a censored** with `t_w` measured: `r in [0, t_w/T]`, and `t_w` came first;
/// - **both censored**: `r in [0, inf]`, order unknown;
/// - **not applicable** (either time `not_applicable`, or not a positive finite number, or a
///   one-sided censored trial without a usable `T`): excluded from everything, counted.
///
/// `no_decay` is treated exactly like `censored` ("did not happen within the run") and
/// additionally counted in ``noDecay`` (the number of not-excluded trials with at least one
/// `no_decay` time; they are also in the censored counts).
///
/// The statistics, every interval at ``level`` (default 0.95):
/// - ``geometricMean``: over the both-measured trials, `exp(mean ln r)` with the Student-t
///   interval on `ln r` (``GeometricMeanSummary``; positive bounds). Censored trials cannot
///   enter a mean; ``medianBounds`` shows how much they could move the centre.
/// - ``median``: the sample median of `r` over the both-measured trials, with the exact
///   order-statistic interval and its actual coverage, or none below 6 trials at 0.95
///   (``MedianSummary``, ``OrderStatisticInterval``).
/// - ``medianBounds``: the ``MedianSummary`` of the intervals of all not-excluded trials: the
///   sample median of `r` over them lies in `[median_low, median_high]` whatever the censored
///   times are (the median of the lower ends and of the upper ends; `inf` allowed), and the
///   order-statistic interval `[lo_(k), hi_(n+1-k)]` covers the population median with at least
///   its stated coverage. All trials censored gives `(0, inf)`.
/// - ``signTest``: exact one-sided sign test of `t_a < t_w` over the trials with a known order
///   (``SignTest``): a censored `t_w` with measured `t_a` counts as `t_a < t_w`, the reverse as
///   `t_w < t_a`; ties and both-censored trials are excluded (counted in ``SignTest/ties`` and
///   ``bothCensored``).
/// - ``tW``, ``tA``: each time's own ``TimeSummary`` over the trials where it is applicable
///   (a trial excluded from the ratio can still contribute its other time).
///
/// Counts: `trials = bothMeasured + twCensored + taCensored + bothCensored + notApplicable`.
/// Order-independent: the result does not depend on the order of the trials (up to the
/// rounding of the sums in the geometric mean).
///
/// JSON form: `{"trials": int, "both_measured": int, "tw_censored": int, "ta_censored": int,
/// "both_censored": int, "no_decay": int, "not_applicable": int, "level": x,
/// "geometric_mean": GeometricMeanSummary, "median": MedianSummary,
/// "median_bounds": MedianSummary, "sign_test": SignTest, "t_w": TimeSummary,
/// "t_a": TimeSummary}`. Unbounded upper ends are `+inf`, which the project's encoder
/// (``JSONCoding``) writes as the string `"inf"`; `null` always means "not available".
public struct RatioSummary: Codable, Hashable, Sendable {
    public var trials: Int
    public var bothMeasured: Int
    /// `t_w` after the run, `t_a` measured.
    public var twCensored: Int
    /// `t_a` after the run, `t_w` measured.
    public var taCensored: Int
    public var bothCensored: Int
    /// Not-excluded trials with at least one `no_decay` time (also in the censored counts).
    public var noDecay: Int
    public var notApplicable: Int
    public var level: Double
    public var geometricMean: GeometricMeanSummary
    public var median: MedianSummary
    public var medianBounds: MedianSummary
    public var signTest: SignTest
    public var tW: TimeSummary
    public var tA: TimeSummary

    /// - Precondition: `runLengths.count == comparisons.count`, `0 < level < 1`.
    public init(_ comparisons: [TimingComparison], runLengths: [Double], level: Double = Bootstrap.defaultLevel) {
        precondition(comparisons.count == runLengths.count,
                     "RatioSummary: \(comparisons.count) comparisons but \(runLengths.count) run lengths")
        let observations = zip(comparisons, runLengths).map { RatioObservation($0, runLength: $1) }
        trials = comparisons.count
        bothMeasured = 0; twCensored = 0; taCensored = 0; bothCensored = 0; notApplicable = 0
        for o in observations {
            switch o {
            case .bothMeasured: bothMeasured += 1
            case .weightCensored: twCensored += 1
            case .activationCensored: taCensored += 1
            case .bothCensored: bothCensored += 1
            case .notApplicable: notApplicable += 1
            }
        }
        noDecay = zip(comparisons, observations).filter { c, o in
            o != .notApplicable && (c.tW.reason == .noDecay || c.tA.reason == .noDecay)
        }.count
        self.level = level
        let ratios = observations.compactMap(\.ratio)
        geometricMean = GeometricMeanSummary(ratios, level: level)
        median = MedianSummary(ratios, level: level)
        medianBounds = MedianSummary(bounds: observations.compactMap(\.bounds), level: level)
        signTest = SignTest(observations.map(\.order))
        tW = TimeSummary(comparisons.map(\.tW), runLengths: runLengths, level: level)
        tA = TimeSummary(comparisons.map(\.tA), runLengths: runLengths, level: level)
    }

    enum CodingKeys: String, CodingKey {
        case trials
        case bothMeasured = "both_measured"
        case twCensored = "tw_censored"
        case taCensored = "ta_censored"
        case bothCensored = "both_censored"
        case noDecay = "no_decay"
        case notApplicable = "not_applicable"
        case level
        case geometricMean = "geometric_mean"
        case median
        case medianBounds = "median_bounds"
        case signTest = "sign_test"
        case tW = "t_w"
        case tA = "t_a"
    }
}
