import Foundation
import RegimeCore

/// The two-segment fit behind a knee (reported also when the knee itself is censored or
/// no_decay, so the reader sees the slopes that decided it). The fit is over log-spaced bins of
/// the curve (``DecayEstimators/knee(iterations:values:options:)``); slopes are of the log of the
/// binned curve per iteration.
public struct KneeFit: Codable, Hashable, Sendable {
    /// The break: the recorded iteration where the segments meet.
    public var iteration: Int
    /// First and last recorded iterations of the fit range.
    public var firstIteration: Int
    public var lastIteration: Int
    /// Bins of each segment (a bin at the break belongs to both).
    public var pointsBefore: Int
    public var pointsAfter: Int
    public var slopeBefore: Double
    public var slopeAfter: Double
    /// The fitted `ln s` at the break.
    public var logValueAtKnee: Double
    /// Residual sum of squares of the fit (in `ln s` units squared).
    public var rss: Double
    /// Slope of the single least-squares line over the same points.
    public var lineSlope: Double
    /// `1 - rss / rss_line`: the fraction of the single line's residual the break removes (0 when
    /// the line is exact).
    public var improvement: Double

    public init(iteration: Int, firstIteration: Int, lastIteration: Int, pointsBefore: Int, pointsAfter: Int,
                slopeBefore: Double, slopeAfter: Double, logValueAtKnee: Double, rss: Double,
                lineSlope: Double, improvement: Double) {
        self.iteration = iteration
        self.firstIteration = firstIteration
        self.lastIteration = lastIteration
        self.pointsBefore = pointsBefore
        self.pointsAfter = pointsAfter
        self.slopeBefore = slopeBefore
        self.slopeAfter = slopeAfter
        self.logValueAtKnee = logValueAtKnee
        self.rss = rss
        self.lineSlope = lineSlope
        self.improvement = improvement
    }

    enum CodingKeys: String, CodingKey {
        case iteration
        case firstIteration = "first_iteration"
        case lastIteration = "last_iteration"
        case pointsBefore = "points_before"
        case pointsAfter = "points_after"
        case slopeBefore = "slope_before"
        case slopeAfter = "slope_after"
        case logValueAtKnee = "log_value_at_knee"
        case rss
        case lineSlope = "line_slope"
        case improvement
    }
}

/// The Theil-Sen fit behind a time constant (reported also when the estimate is censored or
/// no_decay).
public struct ExponentialFit: Codable, Hashable, Sendable {
    /// First and last recorded iterations of the fit range.
    public var firstIteration: Int
    public var lastIteration: Int
    /// Points in the range and points used by Theil-Sen (after even subsampling).
    public var points: Int
    public var pointsUsed: Int
    /// Median pairwise slope of `ln s` per iteration.
    public var slope: Double
    /// Whether the range ended because the curve fell below the floor (else at the run's end).
    public var reachedFloor: Bool

    public init(firstIteration: Int, lastIteration: Int, points: Int, pointsUsed: Int, slope: Double, reachedFloor: Bool) {
        self.firstIteration = firstIteration
        self.lastIteration = lastIteration
        self.points = points
        self.pointsUsed = pointsUsed
        self.slope = slope
        self.reachedFloor = reachedFloor
    }

    enum CodingKeys: String, CodingKey {
        case firstIteration = "first_iteration"
        case lastIteration = "last_iteration"
        case points
        case pointsUsed = "points_used"
        case slope
        case reachedFloor = "reached_floor"
    }
}
