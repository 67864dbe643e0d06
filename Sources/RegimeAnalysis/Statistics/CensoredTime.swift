import Foundation

/// A decay time as the cross-seed statistics read a ``TimeEstimate``: measured, later than the
/// end of the run, or excluded.
///
/// - `measured(t)`: a number `t > 0`, finite. Times are iterations (from 1), and a ratio of
///   times needs both positive, so a number `<= 0` or non-finite is not a usable time and reads
///   as `notApplicable`.
/// - `afterRun`: `censored` (what the estimator waits for lies beyond the run) **or**
///   `no_decay` (the curve does not decay where the estimator looks): either way the event did
///   not happen within the run, so the time is known only to exceed the run length `T`.
///   `noDecay` records which, for the counts.
/// - `notApplicable`: `not_applicable`, or an unusable number: the estimator says nothing about
///   this trial, which is left out of every statistic and counted.
///
/// `T` is the last recorded iteration of the trial: a censored threshold, half-life, area or
/// knee time lies beyond it. (A censored time constant is only known to exceed its own fit
/// span; pass that span as `T` for it, or do not summarise it this way.)
public enum CensoredTime: Hashable, Sendable {
    case measured(Double)
    case afterRun(noDecay: Bool)
    case notApplicable

    public init(_ estimate: TimeEstimate) {
        switch estimate {
        case .time(let t): self = t > 0 && t.isFinite ? .measured(t) : .notApplicable
        case .unavailable(.censored): self = .afterRun(noDecay: false)
        case .unavailable(.noDecay): self = .afterRun(noDecay: true)
        case .unavailable(.notApplicable): self = .notApplicable
        }
    }

    /// The interval that contains the time: `[t, t]` when measured, `[T, inf]` after the run;
    /// `nil` when not applicable, or after the run with a run length that is not positive and
    /// finite (then nothing bounds it).
    public func bounds(runLength: Double) -> ClosedRange<Double>? {
        switch self {
        case .measured(let t): return t...t
        case .afterRun: return Self.isRunLength(runLength) ? runLength...Double.infinity : nil
        case .notApplicable: return nil
        }
    }

    /// A usable run length: positive and finite.
    static func isRunLength(_ t: Double) -> Bool { t > 0 && t.isFinite }
}
