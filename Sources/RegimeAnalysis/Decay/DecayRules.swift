import Foundation

/// The primitive rules of decay detection (`docs/numerics.md`, section "Decay detection"), which
/// ``DecayEstimators`` composes into every estimate.
///
/// Given a curve `c_i` recorded at iterations `it_i` (e.g. `weight_update_rel` or
/// `pattern_change`), with `w = smoothing`:
/// - smoothing: `s_i = mean(c_j : max(0, i-w+1) <= j <= i)` (trailing, over recorded points);
/// - early peak: `p = max(s_i : first <= it_i <= last)`, normalised `n_i = s_i / p`;
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
public enum DecayRules {
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
        precondition(window >= 1, "DecayRules.smooth: window must be >= 1, got \(window)")
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

    /// The early peak `max(s_i : first <= it_i <= last)` with NaN propagation: `nil` if no
    /// recorded iteration lies in the window, NaN if a smoothed value there is NaN.
    public static func earlyPeak(iterations: [Int], smoothed: [Double], first: Int, last: Int) -> Double? {
        precondition(iterations.count == smoothed.count, "DecayRules.earlyPeak: length mismatch")
        var peak: Double?
        for (it, s) in zip(iterations, smoothed) where it >= first && it <= last {
            if s.isNaN { return .nan }
            peak = Swift.max(peak ?? -.infinity, s)
        }
        return peak
    }

    /// `it_i` for the smallest `i` such that `normalized[j] < eps` for every `j >= i`; `nil`
    /// (censored) if the last value is not below `eps` (including NaN) or the curve is empty.
    public static func thresholdTime(iterations: [Int], normalized: [Double], epsilon eps: Double) -> Int? {
        precondition(iterations.count == normalized.count, "DecayRules.thresholdTime: length mismatch")
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
    /// positive. (The "has it decayed at all" censoring is applied by ``DecayEstimators/areaTime(iterations:smoothed:normalized:fraction:)``.)
    public static func areaTime(iterations: [Int], smoothed: [Double], fraction: Double) -> Int? {
        precondition(iterations.count == smoothed.count, "DecayRules.areaTime: length mismatch")
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
