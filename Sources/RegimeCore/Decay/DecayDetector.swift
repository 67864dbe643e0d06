import Foundation

/// Decay times of one curve, as defined in `docs/numerics.md`, section "Decay detection".
///
/// Every time is a recorded iteration `it_i` (an optimizer step count), or `nil` when censored:
/// the curve did not decay within the run, so no honest number exists. A censored time is never
/// replaced by a made-up value such as the run length.
///
/// JSON form: `{"peak": number|null, "threshold_times": [int|null, ...], "area_time": int|null}`,
/// with nulls written explicitly.
public struct CurveDecay: Codable, Hashable, Sendable {
    /// The early peak `p = max(s_i : peakSkip <= it_i <= peakWindow)` of the smoothed curve, or
    /// `nil` when no recorded iteration lies in the peak window or the maximum is not finite
    /// (a NaN or infinite smoothed value in the window). When `peak` is `nil`, zero or negative,
    /// every time is censored.
    public var peak: Double?
    /// `t(eps)` for each `eps` of `DecayOptions.thresholds`, in the same order.
    public var thresholdTimes: [Int?]
    /// The area-rule time (the product's `auc90` for the default fraction 0.9).
    public var areaTime: Int?

    public init(peak: Double?, thresholdTimes: [Int?], areaTime: Int?) {
        self.peak = peak
        self.thresholdTimes = thresholdTimes
        self.areaTime = areaTime
    }

    enum CodingKeys: String, CodingKey {
        case peak
        case thresholdTimes = "threshold_times"
        case areaTime = "area_time"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peak = try c.decodeIfPresent(Double.self, forKey: .peak)
        thresholdTimes = try c.decode([Int?].self, forKey: .thresholdTimes)
        areaTime = try c.decodeIfPresent(Int.self, forKey: .areaTime)
    }

    /// Writes `null` explicitly for censored values (synthesised Codable would omit the keys).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeOrNull(peak, forKey: .peak)
        try c.encode(thresholdTimes, forKey: .thresholdTimes)
        try c.encodeOrNull(areaTime, forKey: .areaTime)
    }
}

/// One decay time of the weight-update curve (`t_w`) against the same decay time of the
/// activation-pattern-change curve (`t_a`).
///
/// `ratio = t_w / t_a` when both times are numbers and `t_a > 0`, else `nil`: a ratio > 1 means
/// the activation patterns settled before the weight updates became small ("regime change").
///
/// JSON form: `{"t_w": int|null, "t_a": int|null, "ratio": number|null}`, nulls explicit.
public struct DecayComparison: Codable, Hashable, Sendable {
    /// Decay time of the weight-update curve, `nil` if censored.
    public var tW: Int?
    /// Decay time of the pattern-change curve, `nil` if censored.
    public var tA: Int?
    /// `Double(tW) / Double(tA)`, or `nil` when either is censored or `tA <= 0`.
    public var ratio: Double?

    /// Builds the comparison and derives `ratio` from the two times by the rule above.
    public init(tW: Int?, tA: Int?) {
        self.tW = tW
        self.tA = tA
        self.ratio = DecayComparison.ratio(tW: tW, tA: tA)
    }

    /// `t_w / t_a` when both are numbers and `t_a > 0`, else `nil` (censoring propagates; a ratio
    /// against a zero time is undefined).
    public static func ratio(tW: Int?, tA: Int?) -> Double? {
        guard let tW, let tA, tA > 0 else { return nil }
        return Double(tW) / Double(tA)
    }

    enum CodingKeys: String, CodingKey {
        case tW = "t_w"
        case tA = "t_a"
        case ratio
    }

    /// Decodes the three keys as stored (a stored `ratio` is kept, not recomputed). Missing keys
    /// read as `null`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tW = try c.decodeIfPresent(Int.self, forKey: .tW)
        tA = try c.decodeIfPresent(Int.self, forKey: .tA)
        ratio = try c.decodeIfPresent(Double.self, forKey: .ratio)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeOrNull(tW, forKey: .tW)
        try c.encodeOrNull(tA, forKey: .tA)
        try c.encodeOrNull(ratio, forKey: .ratio)
    }
}

/// The product's decay summary of one run: per threshold and for the area rule, the decay time
/// of the weight-update curve against that of the pattern-change curve.
///
/// Encodes as exactly one JSON object:
/// ```
/// {"0.05": {"t_w": 812, "t_a": 240, "ratio": 3.3833333333333333},
///  "0.1":  {"t_w": 650, "t_a": null, "ratio": null},
///  "0.2":  {...},
///  "auc90": {"t_w": ..., "t_a": ..., "ratio": ...}}
/// ```
/// Threshold keys are ``DecayDetector/epsilonKey(_:)``; the area key is
/// ``DecayDetector/areaKey(_:)`` (`"auc90"` for the default fraction 0.9). Nulls are written
/// explicitly, never omitted. Key order in the output is whatever the encoder produces (use
/// `JSONEncoder.OutputFormatting.sortedKeys` for a stable file).
public struct DecaySummary: Codable, Hashable, Sendable {
    /// The thresholds, strictly increasing, aligned with ``byThreshold``.
    public var thresholds: [Double]
    /// The comparison at each threshold.
    public var byThreshold: [DecayComparison]
    /// The area fraction of the area rule (names the area key).
    public var areaFraction: Double
    /// The comparison of the area-rule times.
    public var area: DecayComparison

    public init(thresholds: [Double], byThreshold: [DecayComparison], areaFraction: Double, area: DecayComparison) {
        precondition(thresholds.count == byThreshold.count, "DecaySummary: thresholds and byThreshold differ in length")
        self.thresholds = thresholds
        self.byThreshold = byThreshold
        self.areaFraction = areaFraction
        self.area = area
    }

    /// The comparison at `epsilon` (exact match), or `nil` if it is not one of ``thresholds``.
    public subscript(epsilon epsilon: Double) -> DecayComparison? {
        thresholds.firstIndex(of: epsilon).map { byThreshold[$0] }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (eps, comparison) in zip(thresholds, byThreshold) {
            try c.encode(comparison, forKey: Key(DecayDetector.epsilonKey(eps)))
        }
        try c.encode(area, forKey: Key(DecayDetector.areaKey(areaFraction)))
    }

    /// Accepts exactly the encoded form: keys that parse as numbers are thresholds, one key
    /// `auc<percent>` is the area rule; any other key, or a missing/duplicate area key, is an error.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        var pairs: [(Double, DecayComparison)] = []
        var areaPair: (Double, DecayComparison)?
        for key in c.allKeys {
            let name = key.stringValue
            if name.hasPrefix("auc"), let percent = Double(name.dropFirst(3)), percent.isFinite {
                if areaPair != nil {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: c, debugDescription: "more than one area key (auc...)")
                }
                areaPair = (percent / 100, try c.decode(DecayComparison.self, forKey: key))
            } else if let eps = Double(name), eps.isFinite {
                pairs.append((eps, try c.decode(DecayComparison.self, forKey: key)))
            } else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c,
                    debugDescription: "expected a threshold such as \"0.05\" or an area key such as \"auc90\"")
            }
        }
        guard let areaPair else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "missing area key (e.g. \"auc90\")"))
        }
        pairs.sort { $0.0 < $1.0 }
        thresholds = pairs.map(\.0)
        byThreshold = pairs.map(\.1)
        areaFraction = areaPair.0
        area = areaPair.1
    }
}

/// Decay detection of `docs/numerics.md`, section "Decay detection".
///
/// Given a curve `c_i` recorded at iterations `it_i` (e.g. `weight_update_rel` or
/// `pattern_change`), with `w = smoothing`:
/// - smoothing: `s_i = mean(c_j : max(0, i-w+1) <= j <= i)` (trailing, over recorded points);
/// - early peak: `p = max(s_i : peakSkip <= it_i <= peakWindow)`, normalised `n_i = s_i / p`;
///   if no recorded iteration lies in the window, or `p` is not positive and finite, every time
///   is censored;
/// - threshold time: `t(eps) = it_i` for the smallest `i` with `n_j < eps` for every `j >= i`;
///   censored (`nil`) when the last `n` is not below `eps`;
/// - area rule: the first `it_i` with `cumsum(s)_i >= areaFraction * sum(s)`; censored when the
///   final `n >= 0.5` (the curve has not decayed, so the area point only measures the run length).
///
/// Non-finite values (NaN, ±Inf) mean "not decayed": a NaN enters every smoothed value whose
/// window holds it (IEEE arithmetic: NaN stays NaN, `+Inf` stays `+Inf`, `+Inf` with `-Inf`
/// gives NaN) but, unlike a naive running sum, does not leak into later windows. Comparisons
/// with NaN are false, so a NaN `n_j` is never "below eps" and a time can only start after the
/// last non-finite point; a non-finite value at the end censors everything. A NaN or `+Inf`
/// smoothed value inside the peak window makes `p` non-finite, censoring the whole curve. The
/// area rule is censored when any smoothed value is non-finite (the area is undefined).
public enum DecayDetector {
    /// Trailing moving average over `window` recorded points:
    /// `s_i = (1/m_i) * sum(values[j] : i-m_i < j <= i)`, `m_i = min(i+1, window)`.
    ///
    /// The first `window-1` outputs average the points available so far (no padding), so the
    /// output has the input's length and `window == 1` returns the input unchanged.
    ///
    /// Computed in O(n): a Neumaier-compensated running sum, recomputed from scratch every
    /// `window` points so rounding error cannot drift over long curves (each output is within a
    /// few ulps of the direct sum). Non-finite inputs are kept out of the running sum; a window
    /// holding one is summed directly, so it yields NaN/±Inf for exactly the `window` outputs
    /// that contain it.
    ///
    /// - Precondition: `window >= 1`.
    public static func smooth(_ values: [Double], window: Int) -> [Double] {
        precondition(window >= 1, "DecayDetector.smooth: window must be >= 1, got \(window)")
        let n = values.count
        var out = [Double](repeating: 0, count: n)
        var running = NeumaierSum()
        var nonFiniteInWindow = 0
        for i in 0..<n {
            let x = values[i]
            if x.isFinite { running.add(x) } else { nonFiniteInWindow += 1 }
            if i >= window {
                let old = values[i - window]
                if old.isFinite { running.add(-old) } else { nonFiniteInWindow -= 1 }
            }
            let lo = Swift.max(0, i - window + 1)
            let m = Double(i - lo + 1)
            if nonFiniteInWindow > 0 {
                // Rare path: IEEE propagation over exactly this window.
                var s = 0.0
                for j in lo...i { s += values[j] }
                out[i] = s / m
                continue
            }
            if (i + 1) % window == 0 {
                // Periodic exact restart bounds the drift of add/subtract.
                running = NeumaierSum()
                for j in lo...i { running.add(values[j]) }
            }
            out[i] = running.value / m
        }
        return out
    }

    /// The early peak `max(s_i : skip <= it_i <= window)` with NaN propagation: `nil` if no
    /// recorded iteration lies in the window, NaN if a smoothed value there is NaN.
    public static func earlyPeak(iterations: [Int], smoothed: [Double], peakWindow: Int, peakSkip: Int) -> Double? {
        precondition(iterations.count == smoothed.count, "DecayDetector.earlyPeak: length mismatch")
        var peak: Double?
        for (it, s) in zip(iterations, smoothed) where it >= peakSkip && it <= peakWindow {
            if s.isNaN { return .nan }
            peak = Swift.max(peak ?? -.infinity, s)
        }
        return peak
    }

    /// `it_i` for the smallest `i` such that `normalized[j] < eps` for every `j >= i`; `nil`
    /// (censored) if the last value is not below `eps` (including NaN) or the curve is empty.
    public static func thresholdTime(iterations: [Int], normalized: [Double], epsilon eps: Double) -> Int? {
        precondition(iterations.count == normalized.count, "DecayDetector.thresholdTime: length mismatch")
        var first: Int?
        var i = normalized.count - 1
        while i >= 0, normalized[i] < eps {
            first = i
            i -= 1
        }
        return first.map { iterations[$0] }
    }

    /// The first `it_i` at which the cumulative sum of `smoothed` reaches `fraction` of its
    /// total: `cumsum_i >= fraction * cumsum_last`, summed left to right in plain Double like
    /// `numpy.cumsum`. `nil` if the curve is empty, holds a non-finite value, or its total is not
    /// positive. (The "has it decayed at all" censoring is applied by ``analyze(iterations:values:options:)``.)
    public static func areaTime(iterations: [Int], smoothed: [Double], fraction: Double) -> Int? {
        precondition(iterations.count == smoothed.count, "DecayDetector.areaTime: length mismatch")
        guard !smoothed.isEmpty, smoothed.allSatisfy(\.isFinite) else { return nil }
        var cumulative = [Double](repeating: 0, count: smoothed.count)
        var acc = 0.0
        for (i, s) in smoothed.enumerated() {
            acc += s
            cumulative[i] = acc
        }
        let total = acc
        guard total.isFinite, total > 0 else { return nil }
        let target = fraction * total
        guard let i = cumulative.firstIndex(where: { $0 >= target }) else { return nil }
        return iterations[i]
    }

    /// Decay times of one curve (see the type's documentation for the maths).
    ///
    /// - Parameters:
    ///   - iterations: the recorded iterations `it_i`, increasing (e.g. every k-th step).
    ///   - values: the curve `c_i`, same length.
    ///   - options: should have passed ``DecayOptions/validate()``.
    /// - Returns: all times censored if the curve is empty, no recorded iteration lies in the
    ///   peak window, or the peak is not positive and finite.
    public static func analyze(iterations: [Int], values: [Double], options: DecayOptions) -> CurveDecay {
        precondition(iterations.count == values.count,
                     "DecayDetector.analyze: \(iterations.count) iterations but \(values.count) values")
        let allCensored = [Int?](repeating: nil, count: options.thresholds.count)
        guard !values.isEmpty else { return CurveDecay(peak: nil, thresholdTimes: allCensored, areaTime: nil) }

        let s = smooth(values, window: options.smoothing)
        let p = earlyPeak(iterations: iterations, smoothed: s,
                          peakWindow: options.peakWindow, peakSkip: options.peakSkip)
        guard let p, p.isFinite else { return CurveDecay(peak: nil, thresholdTimes: allCensored, areaTime: nil) }
        guard p > 0 else { return CurveDecay(peak: p, thresholdTimes: allCensored, areaTime: nil) }

        let normalized = s.map { $0 / p }
        let times = options.thresholds.map {
            thresholdTime(iterations: iterations, normalized: normalized, epsilon: $0)
        }
        // Censored unless the final n is below 0.5 (NaN compares false, so it censors too).
        let decayed = normalized[normalized.count - 1] < 0.5
        let area = decayed ? areaTime(iterations: iterations, smoothed: s, fraction: options.areaFraction) : nil
        return CurveDecay(peak: p, thresholdTimes: times, areaTime: area)
    }

    /// Compares the weight-update curve with the pattern-change curve, both recorded at
    /// `iterations`: per threshold `eps`, `t_w = t(eps)` of the weight-update curve,
    /// `t_a = t(eps)` of the pattern-change curve and `ratio = t_w / t_a`; the same for the
    /// area rule.
    public static func compare(
        iterations: [Int], weightUpdate: [Double], patternChange: [Double], options: DecayOptions
    ) -> DecaySummary {
        let w = analyze(iterations: iterations, values: weightUpdate, options: options)
        let a = analyze(iterations: iterations, values: patternChange, options: options)
        return summary(weightUpdate: w, patternChange: a, options: options)
    }

    /// Combines two already analysed curves (analysed with the same `options`) into the summary.
    public static func summary(weightUpdate w: CurveDecay, patternChange a: CurveDecay, options: DecayOptions) -> DecaySummary {
        precondition(w.thresholdTimes.count == options.thresholds.count && a.thresholdTimes.count == options.thresholds.count,
                     "DecayDetector.summary: curves were analysed with other thresholds")
        let rows = (0..<options.thresholds.count).map {
            DecayComparison(tW: w.thresholdTimes[$0], tA: a.thresholdTimes[$0])
        }
        return DecaySummary(thresholds: options.thresholds, byThreshold: rows,
                            areaFraction: options.areaFraction,
                            area: DecayComparison(tW: w.areaTime, tA: a.areaTime))
    }

    /// The JSON key of a threshold: the shortest decimal string that reads back as the same
    /// Double (`0.05` -> `"0.05"`, `0.1` -> `"0.1"`, `1e-5` -> `"1e-05"`). For values in (0, 1)
    /// this is the same string as Python's `repr(float)`, so the NumPy reference's keys agree.
    public static func epsilonKey(_ eps: Double) -> String {
        eps.description
    }

    /// The JSON key of the area rule: `"auc"` followed by the fraction in percent, as an integer
    /// when it is one (`0.9` -> `"auc90"`, `0.95` -> `"auc95"`), else as the shortest
    /// round-tripping decimal (`0.925` -> `"auc92.5"`).
    public static func areaKey(_ fraction: Double) -> String {
        let percent = fraction * 100
        if percent.isFinite, percent == percent.rounded(), abs(percent) < 1e15 {
            return "auc\(Int(percent))"
        }
        return "auc\(percent.description)"
    }
}

/// Neumaier's improved Kahan summation: `value` carries the rounding error of every addition
/// in a separate compensation term.
fileprivate struct NeumaierSum {
    private(set) var sum = 0.0
    private(set) var compensation = 0.0

    mutating func add(_ x: Double) {
        let t = sum + x
        if abs(sum) >= abs(x) {
            compensation += (sum - t) + x
        } else {
            compensation += (x - t) + sum
        }
        sum = t
    }

    var value: Double { sum + compensation }
}

