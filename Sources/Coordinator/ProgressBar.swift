import Foundation

/// A one-line progress bar on standard error when it is a terminal; silent otherwise (logs and
/// CI get the summary lines only).
final class ProgressBar {
    let total: Int
    let label: String
    let enabled = isatty(STDERR_FILENO) != 0
    /// Set at the first update (a bar made before its work starts counts from there).
    private var start: Date?
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    func update(_ done: Int, loss: Double) {
        guard enabled else { return }
        let now = Date()
        let start = self.start ?? now
        self.start = start
        guard now.timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        lastDraw = now
        drawn = true
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = now.timeIntervalSince(start)
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let text = String(format: "\r%@ [%@] %d/%d loss %.4f  %.0fs elapsed, ETA %.0fs ", label, bar, done, total, loss, elapsed, eta)
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Ends the bar's line, once (nothing if it never drew).
    func finish() {
        guard enabled, drawn else { return }
        drawn = false
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
