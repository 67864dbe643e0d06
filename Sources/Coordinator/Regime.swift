import ArgumentParser

@main
struct Regime: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regime",
        abstract: "Measure regime change (activation patterns vs weight updates) in neural-network training.",
        subcommands: [Train.self, Sweep.self, Plan.self, Status.self, Summary.self, Analyze.self, Report.self, Bench.self, MPISmoke.self]
    )

    static func main() {
        ProcessHeap.fixMmapThreshold()
        main(nil)
    }
}
