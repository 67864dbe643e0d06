import Foundation
import RegimeCore
import RegimeMPI

/// Rank 0's view of a running sweep: a redrawn status block on a terminal (done/running/failed,
/// per-rank activity, ETA), plain log lines otherwise.
final class SweepProgress {
    let total: Int
    let ranks: Int
    private var done: Int
    private var failed = 0
    private var activity: [Int: String] = [:]
    private let start = Date()
    private var computeSeconds = 0.0
    private var finishedHere = 0
    private let terminal = isatty(STDERR_FILENO) != 0

    init(total: Int, alreadyDone: Int, ranks: Int) {
        self.total = total
        self.ranks = ranks
        done = alreadyDone
        log("sweep: \(total) trials, \(alreadyDone) already done, \(ranks) rank\(ranks == 1 ? "" : "s")")
    }

    func started(_ index: Int, rank: Int, spec: TrialSpec) {
        activity[rank] = "trial \(index + 1) \(spec.trialID) \(spec.arch) \(spec.optimizer.kind.rawValue) seed \(spec.seed)"
        if !terminal { log("rank \(rank): started trial \(index + 1)/\(total) \(spec.trialID)") }
        draw()
    }

    func finished(_ result: TrialResult, rank: Int, host: String) {
        done += 1
        finishedHere += 1
        computeSeconds += result.wallSeconds
        if result.status != .ok { failed += 1 }
        activity[rank] = "idle"
        let accuracy = result.finalValAccuracy.map { String(format: "acc %.4f", $0) } ?? "no accuracy"
        log("rank \(rank) (\(host)): \(result.status.rawValue) \(result.trialID) in \(String(format: "%.1f", result.wallSeconds)) s, \(accuracy) [\(done)/\(total)]"
            + (result.error.map { ": \($0)" } ?? ""))
    }

    private var eta: String {
        guard finishedHere > 0 else { return "?" }
        let elapsed = Date().timeIntervalSince(start)
        let remaining = Double(total - done) * elapsed / Double(finishedHere)
        return String(format: "%.0f s", remaining)
    }

    private var linesDrawn = 0

    private func draw() {
        guard terminal else { return }
        var lines = ["done \(done)/\(total), running \(activity.values.filter { $0 != "idle" }.count), failed \(failed), ETA \(eta)"]
        for rank in 0..<ranks { lines.append("  rank \(rank): \(activity[rank] ?? "starting")") }
        var text = linesDrawn > 0 ? "\u{1B}[\(linesDrawn)A" : ""
        for line in lines { text += "\u{1B}[2K" + line + "\n" }
        linesDrawn = lines.count
        FileHandle.standardError.write(Data(text.utf8))
    }

    func log(_ message: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        if terminal && linesDrawn > 0 {
            FileHandle.standardError.write(Data("\u{1B}[\(linesDrawn)A\u{1B}[J".utf8))
            linesDrawn = 0
        }
        FileHandle.standardError.write(Data("[\(stamp)] \(message)\n".utf8))
        draw()
    }

    func close() {
        log("sweep: all \(total) trials finished (\(failed) failed or diverged)")
    }
}
