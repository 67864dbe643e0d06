import Foundation
import RegimeCore

/// Across the seeds of a group, for one scalar estimator: median and bootstrap intervals of
/// `t_w`, `t_a` and the ratio (missing values counted, not imputed), and the ordering fraction.
public struct EstimatorGroupSummary: Codable, Hashable, Sendable {
    public var tW: BootstrapSummary
    public var tA: BootstrapSummary
    public var ratio: BootstrapSummary
    public var order: OrderingFraction

    public init(tW: BootstrapSummary, tA: BootstrapSummary, ratio: BootstrapSummary, order: OrderingFraction) {
        self.tW = tW
        self.tA = tA
        self.ratio = ratio
        self.order = order
    }

    enum CodingKeys: String, CodingKey {
        case tW = "t_w"
        case tA = "t_a"
        case ratio, order
    }
}

/// The group (one configuration, several seeds) summary of ``TrialTiming``s: for `R(eps)` at
/// every grid point and for each scalar estimator, median and percentile-bootstrap 95% intervals
/// (``BootstrapSummary``), and the fraction of decided trials with `t_a < t_w`
/// (``OrderingFraction``).
///
/// Reproducible: the bootstrap of quantity `q` uses `Xoshiro256(seed: seed, stream: .bootstrap,
/// index: q)` with `q = k` for `R(eps_k)` and `q = 10_000 + 3 e + {0: t_w, 1: t_a, 2: ratio}`
/// for the scalar estimator at position `e` of `[half_life, knee, time_constant, area]`; the
/// trials are used in the order given (sort them, e.g. by seed, before calling).
///
/// JSON form: `{"trials": int, "seed": int, "resamples": int, "level": 0.95, "epsilon": [...],
/// "threshold_ratio": [BootstrapSummary...], "threshold_order": [OrderingFraction...],
/// "half_life": EstimatorGroupSummary, "knee": ..., "time_constant": ..., "area": ...}`.
public struct TimingGroupSummary: Codable, Hashable, Sendable {
    public var trials: Int
    public var seed: UInt64
    public var resamples: Int
    public var level: Double
    public var epsilon: [Double]
    /// `R(eps)` across the trials at each grid point.
    public var thresholdRatio: [BootstrapSummary]
    /// The ordering fraction of the threshold rule at each grid point.
    public var thresholdOrder: [OrderingFraction]
    public var halfLife: EstimatorGroupSummary
    public var knee: EstimatorGroupSummary
    public var timeConstant: EstimatorGroupSummary
    public var area: EstimatorGroupSummary

    /// Thrown when the trials of a group were analysed with different epsilon grids.
    public struct GridMismatch: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Summarises `trials` (all analysed with the same epsilon grid; an empty group gives
    /// empty summaries with `n = 0`).
    public init(_ trials: [TrialTiming], seed: UInt64, resamples: Int = Bootstrap.defaultResamples,
                level: Double = Bootstrap.defaultLevel) throws {
        let grid = trials.first?.epsilonGrid ?? []
        if let bad = trials.firstIndex(where: { $0.epsilonGrid != grid }) {
            throw GridMismatch(description: "TimingGroupSummary: trial \(bad) has epsilon grid \(trials[bad].epsilonGrid), "
                               + "trial 0 has \(grid)")
        }
        self.trials = trials.count
        self.seed = seed
        self.resamples = resamples
        self.level = level
        epsilon = grid
        thresholdRatio = grid.indices.map { k in
            BootstrapSummary(trials.map { $0.threshold[k].ratio.value }, seed: seed, index: UInt64(k),
                             resamples: resamples, level: level)
        }
        thresholdOrder = grid.indices.map { k in OrderingFraction(trials.map { $0.threshold[k] }, estimator: .threshold) }
        func summary(_ e: DecayEstimator, _ position: UInt64) -> EstimatorGroupSummary {
            let cs = trials.map { $0.comparison(e)! }
            let base = 10_000 + 3 * position
            return EstimatorGroupSummary(
                tW: BootstrapSummary(cs.map(\.tW.value), seed: seed, index: base, resamples: resamples, level: level),
                tA: BootstrapSummary(cs.map(\.tA.value), seed: seed, index: base + 1, resamples: resamples, level: level),
                ratio: BootstrapSummary(cs.map(\.ratio.value), seed: seed, index: base + 2, resamples: resamples, level: level),
                order: OrderingFraction(cs, estimator: e))
        }
        halfLife = summary(.halfLife, 0)
        knee = summary(.knee, 1)
        timeConstant = summary(.timeConstant, 2)
        area = summary(.area, 3)
    }

    /// The summary of a scalar estimator; `nil` for `.threshold`.
    public func estimator(_ e: DecayEstimator) -> EstimatorGroupSummary? { scalar(e) }

    enum CodingKeys: String, CodingKey {
        case trials, seed, resamples, level, epsilon
        case thresholdRatio = "threshold_ratio"
        case thresholdOrder = "threshold_order"
        case halfLife = "half_life"
        case knee
        case timeConstant = "time_constant"
        case area
    }
}
