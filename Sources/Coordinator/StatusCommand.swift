import ArgumentParser
import Foundation
import RegimeCore

/// The journal is the truth about a sweep, not mpirun's exit code: these read it.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print how far a sweep has got: done, failed, remaining.")

    @Argument(help: "The sweep's output directory.") var directory: String

    func run() throws {
        let state = try SweepDirectoryState.read(directory)
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
    static let configuration = CommandConfiguration(abstract: "Print the cross-seed summary table of a sweep.")

    @Argument(help: "The sweep's output directory.") var directory: String

    func run() throws {
        let state = try SweepDirectoryState.read(directory)
        let summary = SweepSummary.make(sweep: state.sweep, groups: TrialGroup.make(state.sweep.trials), entries: state.entries)
        print(summary.table())
    }
}

/// A sweep directory as found on disk.
struct SweepDirectoryState {
    var sweep: SweepFile
    var entries: [JournalEntry]
    var finishedIndices: Set<Int>
    var damage: String?

    static func read(_ directory: String) throws -> SweepDirectoryState {
        let url = URL(fileURLWithPath: directory)
        let sweepURL = url.appendingPathComponent("sweep.yaml")
        guard FileManager.default.fileExists(atPath: sweepURL.path) else {
            throw ValidationError("\(directory): not a sweep directory (no sweep.yaml)")
        }
        let sweep = try SweepFile.load(path: sweepURL.path)
        let contents = try Journal.read(url: SweepOutput.journalURL(in: url))
        let ids = Set(contents.entries.map(\.result.trialID))
        let finished = Set(sweep.trials.indices.filter { ids.contains(sweep.trials[$0].trialID) })
        return SweepDirectoryState(sweep: sweep, entries: contents.entries, finishedIndices: finished, damage: contents.damage)
    }
}
