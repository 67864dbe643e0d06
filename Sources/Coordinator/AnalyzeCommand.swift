import ArgumentParser
import Foundation
import SweepStore

/// `regime analyze DIR [--analysis FILE.yaml]`: recomputes decay times and statistics from the
/// stored curves, without training.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute a sweep's timing.jsonl, groups/ and summary from its stored curves, without training.",
        discussion: """
        FILE.yaml holds one `analysis:` mapping that replaces the sweep's (recorded in manifest.json).
        Nothing is replaced until everything is computed: a failed analyze leaves the previous one intact.
        """)

    @Argument(help: "The sweep's output directory.") var directory: String
    @Option(help: "A YAML file with an `analysis:` mapping (default: the sweep's own).") var analysis: String?

    func run() throws {
        do {
            let sweepDirectory = try SweepDirectory(existing: URL(fileURLWithPath: directory))
            let result = try SweepAnalysis.reanalyse(sweepDirectory, analysisFile: analysis)
            print(result.summary.table())
            print("analysis: \(sweepDirectory.summaryJSONURL.path)")
        } catch {
            FileHandle.standardError.write(Data("regime analyze: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
