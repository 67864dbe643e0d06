import ArgumentParser
import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a sweep file and list its trials.")

    @Argument(help: "The sweep file.") var sweepFile: String

    func run() throws {
        let sweep: SweepFile
        do { sweep = try SweepFile.load(path: sweepFile) } catch {
            FileHandle.standardError.write(Data("regime plan: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let groups = TrialGroup.make(sweep.trials)
        print("sweep \(sweep.name): \(sweep.trials.count) trials in \(groups.count) groups (trials equal but for the seed)")
        for group in groups {
            print("group \(group.id): \(group.label)")
            for index in group.trialIndices {
                let trial = sweep.trials[index]
                print("  \(trial.trialID)  seed \(trial.seed)")
            }
        }
    }
}
