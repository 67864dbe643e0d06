import ArgumentParser
import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore

/// The journal is the truth about a sweep, not mpirun's exit code: these read it.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print how far a sweep has got: done, failed, remaining.")

    @Argument(help: "The sweep's output directory.") var directory: String

    func run() throws {
        let state = try SweepDirectory(existing: URL(fileURLWithPath: directory)).progressState()
        let done = state.entries.filter { $0.result.status == .ok }.count
        let failed = state.entries.count - done
        let remaining = state.sweep.trials.count - state.finishedIndices.count
        print("sweep \(state.sweep.name) in \(directory): \(state.sweep.trials.count) trials: \(done) done, \(failed) diverged or failed, \(remaining) remaining")
        if let damage = state.damage { print("journal: \(damage) (repaired by --resume)") }
        for entry in state.entries where entry.result.status != .ok {
            print("  \(entry.result.trialID) \(entry.result.status.rawValue): \(entry.result.error ?? "")")
        }
        if remaining > 0 { print("continue with: mpirun ... regime sweep --resume \(directory)") }
    }
}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the cross-seed summary table of a sweep (its summary.json; run `regime analyze` to recompute it).")

    @Argument(help: "The sweep's output directory.") var directory: String

    func run() throws {
        let sweepDirectory = try SweepDirectory(existing: URL(fileURLWithPath: directory))
        guard let data = FileManager.default.contents(atPath: sweepDirectory.summaryJSONURL.path) else {
            throw ValidationError("\(sweepDirectory.summaryJSONURL.path): no summary yet; run `regime analyze \(directory)`")
        }
        print(try JSONCoding.decoder().decode(SweepSummary.self, from: data).table())
    }
}
