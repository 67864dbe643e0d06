import Foundation

/// One decay time (`t_w` or `t_a`) of one definition across the trials of a group: counts by
/// censoring status and the median with its order-statistic interval, censoring included.
///
/// Each trial's time is read as a ``CensoredTime``: a measured time is the interval `[t, t]`,
/// a time after the run (`censored` or `no_decay`) `[T, inf]` with `T` the trial's run length
/// (last recorded iteration), and a `not_applicable` time (or a censored one without a usable
/// `T`) is left out and counted. ``median`` is the ``MedianSummary`` of those intervals: its
/// `median` is a number when the censored times cannot move it (fewer than half censored, all
/// runs of the same length), else its bounds say how far it can be (`median_high = inf`:
/// "later than the run"). Censored times are thereby kept in the sample as "later than T",
/// never dropped (dropping them would bias the median early) and never imputed.
///
/// JSON form: `{"trials": int, "measured": int, "censored": int, "no_decay": int,
/// "not_applicable": int, "median": MedianSummary}`; `censored` counts every time after the
/// run, `no_decay` those of them that were `no_decay`, so
/// `trials = measured + censored + not_applicable`.
public struct TimeSummary: Codable, Hashable, Sendable {
    public var trials: Int
    public var measured: Int
    /// Times after the run (`censored` or `no_decay`) that enter the median as `[T, inf]`.
    public var censored: Int
    /// Of ``censored``, those that were `no_decay`.
    public var noDecay: Int
    /// Left out: `not_applicable`, an unusable number, or after the run without a usable `T`.
    public var notApplicable: Int
    public var median: MedianSummary

    /// - Precondition: `runLengths.count == times.count`, `0 < level < 1`.
    public init(_ times: [TimeEstimate], runLengths: [Double], level: Double) {
        precondition(times.count == runLengths.count,
                     "TimeSummary: \(times.count) times but \(runLengths.count) run lengths")
        trials = times.count
        measured = 0; censored = 0; noDecay = 0; notApplicable = 0
        var bounds: [ClosedRange<Double>] = []
        for (estimate, runLength) in zip(times, runLengths) {
            let time = CensoredTime(estimate)
            guard let b = time.bounds(runLength: runLength) else {
                notApplicable += 1
                continue
            }
            bounds.append(b)
            switch time {
            case .measured: measured += 1
            case .afterRun(let isNoDecay):
                censored += 1
                if isNoDecay { noDecay += 1 }
            case .notApplicable: preconditionFailure("a not-applicable time has no bounds")
            }
        }
        median = MedianSummary(bounds: bounds, level: level)
    }

    enum CodingKeys: String, CodingKey {
        case trials, measured, censored
        case noDecay = "no_decay"
        case notApplicable = "not_applicable"
        case median
    }
}
