import Foundation

/// Parameters of the online regime detector (docs/numerics.md, "Online regime detection"). They
/// are set in a trial's `gates` mapping; a trial without one uses these defaults.
///
/// Why each default is what it is. Measured on the Fashion-MNIST MLP 784-256-256-10 (batch 128,
/// probe 512, cosine schedule, Adam 1e-3 and SGD 0.05 + momentum 0.9): the raw `pattern_change`
/// falls from its first records by 12x (Adam, 0.084 -> 0.007) and 6.5x (SGD, 0.059 -> 0.009)
/// within about 50 iterations, then wanders around a plateau with a log standard deviation of
/// 0.17-0.22 per record and a lag-1 autocorrelation of 0.8-0.85. RegimeDetectorTests prints the
/// counts below for that noise (AR(1) 0.8, log-sd 0.2) on synthetic curves.
/// - `window` 25: the decay detector's default smoothing, so both see the same smoothed curve; it
///   averages the plateau noise down to about 0.12 in log, and its lag (about one window of
///   records) is short against a run of thousands of records.
/// - `drop` 0.25: the smoothed curve must have fallen to a quarter of its running maximum. At 0.5
///   the plateau noise alone is enough: 68 of 100 flat curves of 3000 records fire; at 0.25 none.
///   The real fast phases fall 6.5x or more.
/// - `flattening` 0.5: the decay rate over the last window must be at most half the steepest rate
///   seen, the offline knee's rule (`knee_flattening` 0.5 in docs/decay-estimators.md).
/// - `patience` 25 (one window): both conditions must hold on that many consecutive records. With
///   10, noisy two-timescale curves fired up to 50 records before their break; with 25, at most 17.
public struct RegimeDetectorOptions: Hashable, Sendable {
    /// Recorded points of the trailing moving average, and the lag of the decay rate.
    public var window: Int = 25
    /// The smoothed curve must be at most `drop` times its running maximum. In (0, 1).
    public var drop: Double = 0.25
    /// The current decay rate must be at most `flattening` times the steepest one. In (0, 1).
    public var flattening: Double = 0.5
    /// Consecutive records on which both conditions must hold. >= 1.
    public var patience: Int = 25

    public init(window: Int = 25, drop: Double = 0.25, flattening: Double = 0.5, patience: Int = 25) {
        self.window = window; self.drop = drop; self.flattening = flattening; self.patience = patience
    }

    public static let keys = ["window", "drop", "flattening", "patience"]

    /// The error names the key (within `gates`).
    public func validate() throws {
        guard window >= 1 else { throw SpecError("gates.window: expected a positive integer (recorded points), got \(window)") }
        guard drop > 0, drop < 1 else { throw SpecError("gates.drop: expected a number in (0, 1), got \(drop)") }
        guard flattening > 0, flattening < 1 else {
            throw SpecError("gates.flattening: expected a number in (0, 1), got \(flattening)")
        }
        guard patience >= 1 else { throw SpecError("gates.patience: expected a positive integer (recorded points), got \(patience)") }
    }
}

/// The online regime detector: a causal rule on the recorded `pattern_change` curve that decides,
/// during training, that the activation patterns have settled (their fast phase is over).
///
/// Record i (iteration it_i, value c_i): the trailing mean `s_i` of the last `window` values (fewer
/// at the start, as the decay detector's smoothing), its running maximum `P_i`, and, once
/// i >= window, the decay rate over the last window `r_i = ln(s_{i-w} / s_i) / (it_i - it_{i-w})`
/// with its running maximum `R_i` (rates only count while both s are positive). Record i is
/// *settled* when `R_i > 0`, `s_i <= drop * P_i` and (`r_i <= flattening * R_i`, or s_i = 0, or
/// s_{i-w} = 0). The detector fires at the first record that ends a run of `patience` settled
/// records, and only once. Everything it uses is in the records up to i, so feeding a curve's
/// records one by one (training) and replaying them (after a resume) give the same iteration.
///
/// A curve that does not fall to `drop` of its maximum never fires; neither does a pure
/// exponential (its rate never slows). On `A e^{-t/tf} + B e^{-t/ts}` (tf << ts) it fires after
/// the break `t_b = ln(A/B) / (1/tf - 1/ts)` (where the two components are equal) and at most
/// three windows later (the trailing mean lags half a window, the rate spans one, `patience` adds
/// one; measured 55-69 records); with the plateau's noise between one window before and five
/// after (measured -17 to 98 records). RegimeDetectorTests checks these bounds.
public struct RegimeDetector: Equatable, Sendable {
    public let options: RegimeDetectorOptions
    public private(set) var iterations: [Int] = []
    private var values: [Double] = []
    private var smoothed: [Double] = []
    private var peak = 0.0
    private var steepest = 0.0
    private var run = 0
    /// The iteration at which the detector fired, or nil.
    public private(set) var detectedAt: Int?

    public init(options: RegimeDetectorOptions = RegimeDetectorOptions()) { self.options = options }

    /// Feeds the next record; returns true at the record where the detector fires (once).
    @discardableResult
    public mutating func observe(iteration: Int, patternChange c: Double) -> Bool {
        let w = options.window
        let i = values.count
        iterations.append(iteration)
        values.append(c)
        let first = max(0, i - w + 1)
        var sum = 0.0
        for j in first...i { sum += values[j] }
        let s = sum / Double(i - first + 1)
        smoothed.append(s)
        peak = max(peak, s)
        var slowed = false
        if i >= w {
            let before = smoothed[i - w]
            if s == 0 || before == 0 {
                slowed = true
            } else {
                let rate = (log(before) - log(s)) / Double(iteration - iterations[i - w])
                steepest = max(steepest, rate)
                slowed = rate <= options.flattening * steepest
            }
        }
        let settled = slowed && steepest > 0 && s <= options.drop * peak
        run = settled ? run + 1 : 0
        guard detectedAt == nil, run >= options.patience else { return false }
        detectedAt = iteration
        return true
    }

    /// The iteration at which the detector fires on a whole curve (nil: it does not).
    public static func detect(iterations: [Int], patternChange: [Double], options: RegimeDetectorOptions = .init()) -> Int? {
        var detector = RegimeDetector(options: options)
        for (t, c) in zip(iterations, patternChange) { detector.observe(iteration: t, patternChange: c) }
        return detector.detectedAt
    }
}
