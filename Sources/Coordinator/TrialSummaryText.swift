import Foundation
import RegimeAnalysis
import RegimeCore

/// Human-readable lines about a trial's result and its decay times.
enum TrialSummaryText {
    static func describe(_ trial: AnalysedTrial) -> String {
        let result = trial.result
        var lines = ["trial \(result.trialID): \(result.status.rawValue) after \(result.iterations) iterations in "
            + String(format: "%.1f s", result.wallSeconds)]
        if let accuracy = result.finalValAccuracy { lines.append(String(format: "final validation accuracy %.4f", accuracy)) }
        if let loss = result.finalLoss { lines.append(String(format: "final training loss %.4f", loss)) }
        if let error = result.error { lines.append("error: \(error)") }
        lines.append("regime detector: " + (result.detectedAt.map { "fired at iteration \($0)" } ?? "did not fire"))
        if let freeze = result.freeze {
            lines.append("gates: " + (freeze.at.map { "frozen after iteration \($0)" } ?? "never frozen") + " (\(freeze.reason.rawValue))")
        }
        if let decay = trial.analysis?.decay {
            lines.append("decay times (censored = never stays below the threshold within the run):")
            for key in decay.keys.sorted(by: SweepSummary.measureOrder) {
                lines.append("  \(key): " + describe(decay[key]!))
            }
        }
        if let settling = trial.analysis?.settling {
            lines.append("settling to the final state (first snapshot after which the distance stays <= q x its initial value):")
            for key in settling.keys.sorted(by: { (Double($0) ?? 0) > (Double($1) ?? 0) }) {
                lines.append("  q \(key): " + describe(settling[key]!))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ c: TimingComparison) -> String {
        func time(_ t: TimeEstimate) -> String { t.value.map { String(Int($0)) } ?? t.description }
        let ratio = c.ratio.value.map { String(format: "%.2f", $0) } ?? "n/a"
        return "t_w \(time(c.tW)), t_a \(time(c.tA)), ratio \(ratio)"
    }
}
