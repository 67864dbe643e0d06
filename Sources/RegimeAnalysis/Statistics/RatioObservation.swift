import Foundation

/// What one trial says about `r = t_w / t_a`, with censoring: the ratio itself, or the interval
/// it must lie in, and which time came first.
///
/// From the two times read as ``CensoredTime`` and the run length `T` (last recorded iteration):
///
/// | t_w        | t_a        | case                 | r lies in      | order          |
/// |------------|------------|----------------------|----------------|----------------|
/// | measured   | measured   | `bothMeasured`       | `[r, r]`       | by comparison  |
/// | after run  | measured   | `weightCensored`     | `[T/t_a, inf]` | t_a first      |
/// | measured   | after run  | `activationCensored` | `[0, t_w/T]`   | t_w first      |
/// | after run  | after run  | `bothCensored`       | `[0, inf]`     | none (excluded)|
/// | n/a either |            | `notApplicable`      | none           | none (excluded)|
///
/// "After run" is `censored` or `no_decay` (``CensoredTime``): a time later than `T`, so
/// `t_w > T` gives `r > T/t_a` and `t_a > T` gives `r < t_w/T`. A one-sided censored trial
/// whose run length is not positive and finite cannot be bounded and is `notApplicable`, and so
/// is a trial whose ratio or bound overflows or underflows (not a positive finite number).
/// (The bounds are closed for simplicity; the open ends are never attained, which changes no
/// median bound.) The ratio field stored in a ``TimingComparison`` is not read: this type
/// derives everything from `t_w` and `t_a`.
public enum RatioObservation: Hashable, Sendable {
    case bothMeasured(tW: Double, tA: Double)
    case weightCensored(tA: Double, runLength: Double)
    case activationCensored(tW: Double, runLength: Double)
    case bothCensored
    case notApplicable

    /// Which time is earlier, for the sign test.
    public enum Order: Hashable, Sendable {
        case activationFirst
        case weightFirst
        case tie
    }

    public init(_ comparison: TimingComparison, runLength: Double) {
        let usableT = CensoredTime.isRunLength(runLength)
        let read: RatioObservation
        switch (CensoredTime(comparison.tW), CensoredTime(comparison.tA)) {
        case (.measured(let w), .measured(let a)): read = .bothMeasured(tW: w, tA: a)
        case (.afterRun, .measured(let a)): read = usableT ? .weightCensored(tA: a, runLength: runLength) : .notApplicable
        case (.measured(let w), .afterRun): read = usableT ? .activationCensored(tW: w, runLength: runLength) : .notApplicable
        case (.afterRun, .afterRun): read = .bothCensored
        default: read = .notApplicable
        }
        // A quotient of positive finite numbers can still overflow or underflow (1e300 / 1e-300);
        // a ratio or bound that is not a positive finite number says nothing usable.
        if let b = read.bounds, !(b.lowerBound.isFinite && b.upperBound > 0) {
            self = .notApplicable
        } else {
            self = read
        }
    }

    /// `t_w / t_a` when both are measured.
    public var ratio: Double? {
        if case .bothMeasured(let w, let a) = self { return w / a }
        return nil
    }

    /// The interval that contains `r`; `nil` when not applicable.
    public var bounds: ClosedRange<Double>? {
        switch self {
        case .bothMeasured(let w, let a): return (w / a)...(w / a)
        case .weightCensored(let a, let t): return (t / a)...Double.infinity
        case .activationCensored(let w, let t): return 0...(w / t)
        case .bothCensored: return 0...Double.infinity
        case .notApplicable: return nil
        }
    }

    /// Which time came first; `nil` when both are censored or the trial is not applicable.
    public var order: Order? {
        switch self {
        case .bothMeasured(let w, let a): return a < w ? .activationFirst : (w < a ? .weightFirst : .tie)
        case .weightCensored: return .activationFirst
        case .activationCensored: return .weightFirst
        case .bothCensored, .notApplicable: return nil
        }
    }
}
