import ArgumentParser
import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a sweep as `regime sweep` would (file, data sets, sizes, memory) and list its trials.")

    @Argument(help: "The sweep file.") var sweepFile: String
    @Option(help: ArgumentHelp(memoryPerRankHelp)) var memoryPerRank: String?

    func run() throws {
        let sweep: SweepFile
        let budget: MemoryBudget
        let check: SweepCheck
        do {
            sweep = try SweepFile.load(path: sweepFile)
            budget = try MemoryBudget.resolve(flag: memoryPerRank)
            check = try SweepCheck(sweep, budget: budget)
        } catch {
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
        print(check.memoryLine(sweep, budget: budget))
    }
}
