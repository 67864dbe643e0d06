import Foundation
import RegimeCore

/// How a trial's curves are analysed: a sweep's `analysis:` section, `regime analyze --analysis`,
/// and the flags of `regime train`. Not part of any trial's spec or id: changing it re-analyses
/// stored curves and never retrains.
///
/// Serialised with snake_case keys; a missing key takes its default (`{}` decodes to the
/// defaults). Decoding does not validate; call ``validate()``.
public struct AnalysisOptions: Codable, Hashable, Sendable {
    /// Width `w` of the trailing moving average, in recorded points (not iterations). `1` means
    /// no smoothing.
    public var smoothing: Int
    /// The thresholds `eps` whose times and ratios the summary tables print (each also a point of
    /// ``epsilonGrid``): strictly increasing, in (0, 1), at least one.
    public var thresholds: [Double]
    /// Divisor of the threshold, half-life and area rules.
    public var normalization: DecayNormalization
    /// The `eps` grid of the threshold rule (`R(eps)`), strictly increasing in (0, 1); holds
    /// every value of ``thresholds``.
    public var epsilonGrid: [Double]
    /// Fraction of the area the area rule waits for (0.9: the product's `auc90`).
    public var areaFraction: Double
    /// Knee: the slope after the break must be `>= kneeFlattening * slopeBefore` (with
    /// `slopeBefore < 0`: at most this fraction as steep, or rising). In [0, 1).
    public var kneeFlattening: Double
    /// Knee: the two-segment fit must reduce the residual sum of squares of a single straight
    /// line (over the same points) by at least this fraction. In [0, 1).
    public var kneeMinimumImprovement: Double
    /// Knee and time constant: the fitted line must fall by at least this factor over the
    /// fast segment (knee) or the fit range (time constant). `> 1`.
    public var minimumDecayFactor: Double
    /// Time constant: the fit range ends at the first point below `timeConstantFloor` times the
    /// curve's maximum. In (0, 1).
    public var timeConstantFloor: Double
    /// Minimum number of points of the time-constant fit. `>= 3`.
    public var minimumFitPoints: Int
    /// The Theil-Sen fit uses at most this many points, evenly spaced by index over its range
    /// (its cost is quadratic). `>= minimumFitPoints`.
    public var theilSenMaxPoints: Int
    /// The fractions q of the settling times t_a(q), t_w(q) (``SettlingTimes``): distinct values in
    /// (0, 1), at least one; the definition table lists them in this order.
    public var settling: [Double]

    public init(
        smoothing: Int = 25,
        thresholds: [Double] = [0.05, 0.1, 0.2],
        normalization: DecayNormalization = .standard,
        epsilonGrid: [Double] = DecayEstimators.defaultEpsilonGrid,
        areaFraction: Double = 0.9,
        kneeFlattening: Double = 0.5,
        kneeMinimumImprovement: Double = 0.25,
        minimumDecayFactor: Double = 2,
        timeConstantFloor: Double = 0.05,
        minimumFitPoints: Int = 10,
        theilSenMaxPoints: Int = 400,
        settling: [Double] = [0.5, 0.2, 0.1, 0.05]
    ) {
        self.smoothing = smoothing
        self.thresholds = thresholds
        self.normalization = normalization
        self.epsilonGrid = epsilonGrid
        self.areaFraction = areaFraction
        self.kneeFlattening = kneeFlattening
        self.kneeMinimumImprovement = kneeMinimumImprovement
        self.minimumDecayFactor = minimumDecayFactor
        self.timeConstantFloor = timeConstantFloor
        self.minimumFitPoints = minimumFitPoints
        self.theilSenMaxPoints = theilSenMaxPoints
        self.settling = settling
    }

    enum CodingKeys: String, CodingKey {
        case smoothing, thresholds, normalization = "reference"
        case epsilonGrid = "epsilon_grid"
        case areaFraction = "area_fraction"
        case kneeFlattening = "knee_flattening"
        case kneeMinimumImprovement = "knee_minimum_improvement"
        case minimumDecayFactor = "minimum_decay_factor"
        case timeConstantFloor = "time_constant_floor"
        case minimumFitPoints = "minimum_fit_points"
        case theilSenMaxPoints = "theil_sen_max_points"
        case settling
    }

    public init(from decoder: Decoder) throws {
        let d = AnalysisOptions()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        smoothing = try c.decodeIfPresent(Int.self, forKey: .smoothing) ?? d.smoothing
        thresholds = try c.decodeIfPresent([Double].self, forKey: .thresholds) ?? d.thresholds
        normalization = try c.decodeIfPresent(DecayNormalization.self, forKey: .normalization) ?? d.normalization
        epsilonGrid = try c.decodeIfPresent([Double].self, forKey: .epsilonGrid)
            ?? Array(Set(d.epsilonGrid + thresholds)).sorted()
        areaFraction = try c.decodeIfPresent(Double.self, forKey: .areaFraction) ?? d.areaFraction
        kneeFlattening = try c.decodeIfPresent(Double.self, forKey: .kneeFlattening) ?? d.kneeFlattening
        kneeMinimumImprovement = try c.decodeIfPresent(Double.self, forKey: .kneeMinimumImprovement) ?? d.kneeMinimumImprovement
        minimumDecayFactor = try c.decodeIfPresent(Double.self, forKey: .minimumDecayFactor) ?? d.minimumDecayFactor
        timeConstantFloor = try c.decodeIfPresent(Double.self, forKey: .timeConstantFloor) ?? d.timeConstantFloor
        minimumFitPoints = try c.decodeIfPresent(Int.self, forKey: .minimumFitPoints) ?? d.minimumFitPoints
        theilSenMaxPoints = try c.decodeIfPresent(Int.self, forKey: .theilSenMaxPoints) ?? d.theilSenMaxPoints
        settling = try c.decodeIfPresent([Double].self, forKey: .settling) ?? d.settling
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(smoothing, forKey: .smoothing)
        try c.encode(thresholds, forKey: .thresholds)
        try c.encode(normalization, forKey: .normalization)
        try c.encode(epsilonGrid, forKey: .epsilonGrid)
        try c.encode(areaFraction, forKey: .areaFraction)
        try c.encode(kneeFlattening, forKey: .kneeFlattening)
        try c.encode(kneeMinimumImprovement, forKey: .kneeMinimumImprovement)
        try c.encode(minimumDecayFactor, forKey: .minimumDecayFactor)
        try c.encode(timeConstantFloor, forKey: .timeConstantFloor)
        try c.encode(minimumFitPoints, forKey: .minimumFitPoints)
        try c.encode(theilSenMaxPoints, forKey: .theilSenMaxPoints)
        try c.encode(settling, forKey: .settling)
    }

    /// Throws the first violated constraint as a ``AnalysisOptionsError`` naming the snake_case key.
    public func validate() throws {
        if smoothing < 1 {
            throw AnalysisOptionsError(key: "smoothing", expected: "an integer >= 1", found: "\(smoothing)")
        }
        try Self.checkIncreasing(thresholds, key: "thresholds")
        try Self.checkIncreasing(epsilonGrid, key: "epsilon_grid")
        if let missing = thresholds.first(where: { !epsilonGrid.contains($0) }) {
            throw AnalysisOptionsError(key: "epsilon_grid", expected: "every threshold on the grid",
                                       found: "no \(missing)")
        }
        switch normalization {
        case .earlyPeak(let window, let skip):
            if skip < 0 {
                throw AnalysisOptionsError(key: "reference.skip", expected: "an integer >= 0", found: "\(skip)")
            }
            if window <= skip {
                throw AnalysisOptionsError(key: "reference.window", expected: "an integer > skip (\(skip))", found: "\(window)")
            }
        case .valueAt(let iteration):
            if iteration < 1 {
                throw AnalysisOptionsError(key: "reference.iteration", expected: "an integer >= 1", found: "\(iteration)")
            }
        case .fractionOfRun(let fraction):
            guard fraction.isFinite, fraction > 0, fraction <= 1 else {
                throw AnalysisOptionsError(key: "reference.fraction", expected: "a number in (0, 1]", found: "\(fraction)")
            }
        }
        guard areaFraction.isFinite, areaFraction > 0, areaFraction < 1 else {
            throw AnalysisOptionsError(key: "area_fraction", expected: "a number in (0, 1)", found: "\(areaFraction)")
        }
        guard kneeFlattening.isFinite, kneeFlattening >= 0, kneeFlattening < 1 else {
            throw AnalysisOptionsError(key: "knee_flattening", expected: "a number in [0, 1)", found: "\(kneeFlattening)")
        }
        guard kneeMinimumImprovement.isFinite, kneeMinimumImprovement >= 0, kneeMinimumImprovement < 1 else {
            throw AnalysisOptionsError(key: "knee_minimum_improvement", expected: "a number in [0, 1)",
                                    found: "\(kneeMinimumImprovement)")
        }
        guard minimumDecayFactor.isFinite, minimumDecayFactor > 1 else {
            throw AnalysisOptionsError(key: "minimum_decay_factor", expected: "a number > 1", found: "\(minimumDecayFactor)")
        }
        guard timeConstantFloor.isFinite, timeConstantFloor > 0, timeConstantFloor < 1 else {
            throw AnalysisOptionsError(key: "time_constant_floor", expected: "a number in (0, 1)", found: "\(timeConstantFloor)")
        }
        if minimumFitPoints < 3 {
            throw AnalysisOptionsError(key: "minimum_fit_points", expected: "an integer >= 3", found: "\(minimumFitPoints)")
        }
        if theilSenMaxPoints < minimumFitPoints {
            throw AnalysisOptionsError(key: "theil_sen_max_points", expected: "an integer >= minimum_fit_points (\(minimumFitPoints))",
                                    found: "\(theilSenMaxPoints)")
        }
        try Self.checkSettling(settling)
    }

    /// The settling fractions: at least one, each in the open interval (0, 1), no value twice.
    static func checkSettling(_ values: [Double]) throws {
        if values.isEmpty { throw AnalysisOptionsError(key: "settling", expected: "at least one fraction q in (0, 1)", found: "[]") }
        for (k, q) in values.enumerated() {
            guard q.isFinite, q > 0, q < 1 else {
                throw AnalysisOptionsError(key: "settling", expected: "every fraction in the open interval (0, 1)", found: "\(q) at position \(k)")
            }
            if values[..<k].contains(q) {
                throw AnalysisOptionsError(key: "settling", expected: "distinct fractions", found: "\(q) twice")
            }
        }
    }

    /// Values strictly increasing in the open interval (0, 1), at least one.
    static func checkIncreasing(_ values: [Double], key: String) throws {
        if values.isEmpty {
            throw AnalysisOptionsError(key: key, expected: "at least one value", found: "[]")
        }
        for (k, eps) in values.enumerated() {
            guard eps.isFinite, eps > 0, eps < 1 else {
                throw AnalysisOptionsError(key: key, expected: "every value in the open interval (0, 1)",
                                           found: "\(eps) at position \(k)")
            }
            if k > 0, !(values[k - 1] < eps) {
                throw AnalysisOptionsError(key: key, expected: "strictly increasing values (sorted, no duplicates)",
                                           found: "\(values[k - 1]) followed by \(eps) at position \(k)")
            }
        }
    }
}

/// A constraint of ``AnalysisOptions`` that does not hold. Its description reads, e.g.,
/// `analysis option 'smoothing': expected an integer >= 1, found 0`.
public struct AnalysisOptionsError: Error, CustomStringConvertible, LocalizedError, Hashable, Sendable {
    /// The snake_case key as it appears in sweep files.
    public var key: String
    public var expected: String
    public var found: String

    public init(key: String, expected: String, found: String) {
        self.key = key
        self.expected = expected
        self.found = found
    }

    public var description: String { "analysis option '\(key)': expected \(expected), found \(found)" }
    public var errorDescription: String? { description }
}
