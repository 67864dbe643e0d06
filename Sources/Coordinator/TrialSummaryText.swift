import Foundation
import RegimeCore

/// Human-readable lines about a trial's result.
enum TrialSummaryText {
    static func describe(_ result: TrialResult) -> String {
        var lines = ["trial \(result.trialID): \(result.status.rawValue) after \(result.iterations) iterations in "
            + String(format: "%.1f s", result.wallSeconds)]
        if let accuracy = result.finalValAccuracy { lines.append(String(format: "final validation accuracy %.4f", accuracy)) }
        if let loss = result.finalLoss { lines.append(String(format: "final training loss %.4f", loss)) }
        if let error = result.error { lines.append("error: \(error)") }
        lines.append("regime detector: " + (result.detectedAt.map { "fired at iteration \($0)" } ?? "did not fire"))
        if let freeze = result.freeze {
            lines.append("gates: " + (freeze.at.map { "frozen after iteration \($0)" } ?? "never frozen") + " (\(freeze.reason.rawValue))")
        }
        if let decay = result.decay {
            lines.append("decay times (censored = never stays below the threshold within the run):")
            for (eps, comparison) in zip(decay.thresholds, decay.byThreshold) {
                lines.append("  eps \(DecayDetector.epsilonKey(eps)): " + describe(comparison))
            }
            lines.append("  auc90: " + describe(decay.area))
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ c: DecayComparison) -> String {
        func time(_ t: Int?) -> String { t.map(String.init) ?? "censored" }
        let ratio = c.ratio.map { String(format: "%.2f", $0) } ?? "n/a"
        return "t_w \(time(c.tW)), t_a \(time(c.tA)), ratio \(ratio)"
    }
}
