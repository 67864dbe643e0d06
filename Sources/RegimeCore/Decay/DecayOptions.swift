import Foundation

/// Parameters of the decay detection of `docs/numerics.md`, section "Decay detection".
///
/// A curve `c_i` recorded at iterations `it_i` is
/// 1. smoothed with a trailing moving average over `smoothing` recorded points,
///    `s_i = mean(c_j : max(0, i-w+1) <= j <= i)`;
/// 2. normalised by its early peak `p = max(s_i : peakSkip <= it_i <= peakWindow)`,
///    `n_i = s_i / p`;
/// 3. read off at each threshold `eps`: `t(eps)` is the first recorded iteration from which `n`
///    stays strictly below `eps` until the end of the run (censored, i.e. `nil`, if the last
///    point is not below `eps`);
/// 4. read off by the area rule: the first recorded iteration at which the cumulative sum of `s`
///    reaches `areaFraction` of its total (censored when the final `n >= 0.5`).
///
/// Serialised with snake_case keys (`smoothing`, `thresholds`, `peak_window`, `peak_skip`,
/// `area_fraction`); a key missing from the input takes its default, so `{}` decodes to the
/// defaults. Decoding does not validate; call ``validate()`` on the result.
public struct DecayOptions: Codable, Hashable, Sendable {
    /// Width `w` of the trailing moving average, in recorded points (not iterations). `1` means
    /// no smoothing. Must be `>= 1`.
    public var smoothing: Int
    /// The thresholds `eps` on the peak-normalised curve, each in the open interval (0, 1),
    /// strictly increasing (sorted, no duplicates), at least one.
    public var thresholds: [Double]
    /// Last iteration (inclusive, in optimizer steps, compared with `it_i`) of the window in
    /// which the early peak is searched. Must be `>= peakSkip`.
    public var peakWindow: Int
    /// First iteration (inclusive) of the peak window; lets a caller skip a warm-up transient.
    /// Must be `>= 0`.
    public var peakSkip: Int
    /// Fraction of the total area of the smoothed curve that the area rule waits for
    /// (0.9 gives the product's `auc90`). Must lie in the open interval (0, 1).
    public var areaFraction: Double

    public init(
        smoothing: Int = 25,
        thresholds: [Double] = [0.05, 0.1, 0.2],
        peakWindow: Int = 50,
        peakSkip: Int = 0,
        areaFraction: Double = 0.9
    ) {
        self.smoothing = smoothing
        self.thresholds = thresholds
        self.peakWindow = peakWindow
        self.peakSkip = peakSkip
        self.areaFraction = areaFraction
    }

    enum CodingKeys: String, CodingKey {
        case smoothing
        case thresholds
        case peakWindow = "peak_window"
        case peakSkip = "peak_skip"
        case areaFraction = "area_fraction"
    }

    /// Decodes the snake_case keys; every missing key (or explicit `null`) takes its default.
    public init(from decoder: Decoder) throws {
        let defaults = DecayOptions()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        smoothing = try c.decodeIfPresent(Int.self, forKey: .smoothing) ?? defaults.smoothing
        thresholds = try c.decodeIfPresent([Double].self, forKey: .thresholds) ?? defaults.thresholds
        peakWindow = try c.decodeIfPresent(Int.self, forKey: .peakWindow) ?? defaults.peakWindow
        peakSkip = try c.decodeIfPresent(Int.self, forKey: .peakSkip) ?? defaults.peakSkip
        areaFraction = try c.decodeIfPresent(Double.self, forKey: .areaFraction) ?? defaults.areaFraction
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(smoothing, forKey: .smoothing)
        try c.encode(thresholds, forKey: .thresholds)
        try c.encode(peakWindow, forKey: .peakWindow)
        try c.encode(peakSkip, forKey: .peakSkip)
        try c.encode(areaFraction, forKey: .areaFraction)
    }

    /// Checks every constraint documented on the properties and throws the first violation as a
    /// ``DecayOptionsError`` naming the (snake_case) key, what was expected and what was found.
    public func validate() throws {
        if smoothing < 1 {
            throw DecayOptionsError(key: "smoothing", expected: "an integer >= 1", found: "\(smoothing)")
        }
        if thresholds.isEmpty {
            throw DecayOptionsError(key: "thresholds", expected: "at least one threshold", found: "[]")
        }
        for (k, eps) in thresholds.enumerated() {
            guard eps.isFinite, eps > 0, eps < 1 else {
                throw DecayOptionsError(
                    key: "thresholds", expected: "every threshold in the open interval (0, 1)",
                    found: "\(eps) at position \(k)")
            }
            if k > 0, !(thresholds[k - 1] < eps) {
                throw DecayOptionsError(
                    key: "thresholds", expected: "strictly increasing thresholds (sorted, no duplicates)",
                    found: "\(thresholds[k - 1]) followed by \(eps) at position \(k)")
            }
        }
        if peakSkip < 0 {
            throw DecayOptionsError(key: "peak_skip", expected: "an integer >= 0", found: "\(peakSkip)")
        }
        if peakWindow < peakSkip {
            throw DecayOptionsError(
                key: "peak_window", expected: "an integer >= peak_skip (\(peakSkip))", found: "\(peakWindow)")
        }
        guard areaFraction.isFinite, areaFraction > 0, areaFraction < 1 else {
            throw DecayOptionsError(
                key: "area_fraction", expected: "a number in the open interval (0, 1)", found: "\(areaFraction)")
        }
    }
}

/// A constraint of ``DecayOptions`` that does not hold. Its description reads, e.g.,
/// `decay option 'smoothing': expected an integer >= 1, found 0`.
public struct DecayOptionsError: Error, CustomStringConvertible, LocalizedError, Hashable, Sendable {
    /// The snake_case key as it appears in configuration files.
    public var key: String
    /// What the key must hold.
    public var expected: String
    /// The offending value.
    public var found: String

    public init(key: String, expected: String, found: String) {
        self.key = key
        self.expected = expected
        self.found = found
    }

    public var description: String { "decay option '\(key)': expected \(expected), found \(found)" }
    public var errorDescription: String? { description }
}
