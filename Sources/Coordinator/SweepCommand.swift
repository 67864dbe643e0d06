import ArgumentParser
import Foundation
import RegimeAnalysis
import RegimeCore
import RegimeMPI
import SweepStore
import Worker

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a sweep on every rank of an MPI job (or alone without mpirun).",
        discussion: """
        mpirun -np N --hostfile hostfile regime sweep SWEEP.yaml --out DIR
        mpirun -np N --hostfile hostfile regime sweep --resume DIR [SWEEP.yaml]
        Rank 0 coordinates, trains too, and is the only process that writes DIR. At the end rank 0
        analyses the stored curves with the sweep's analysis: section (regime analyze redoes that
        part alone, with other settings).
        """)

    @Argument(help: "The sweep file (with --resume: an extended version of the sweep in DIR; default DIR/sweep.yaml).")
    var sweepFile: String?
    @Option(help: "Output directory (must not exist or be empty, unless --force).") var out: String?
    @Flag(help: "Start over in an existing output directory (its sweep files are removed first).") var force = false
    @Option(help: "Continue the sweep in this directory: finished trials are kept, the rest run.") var resume: String?
    @Flag(help: "With --resume: run again the trials that diverged or failed.") var retryFailed = false
    @Option(help: ArgumentHelp(memoryPerRankHelp)) var memoryPerRank: String?
    @Flag(help: "Rank 0 trains nothing and only serves the other ranks and records their results (for jobs of hundreds of ranks with short trials; needs 2 or more ranks).")
    var serveOnly = false

    func validate() throws {
        if resume == nil && sweepFile == nil { throw ValidationError("give a sweep file, or --resume DIR") }
        if resume == nil && out == nil { throw ValidationError("--out DIR is required (or --resume DIR)") }
        if resume != nil && (out != nil || force) { throw ValidationError("--resume DIR continues DIR: do not combine it with --out or --force") }
        if retryFailed && resume == nil { throw ValidationError("--retry-failed goes with --resume DIR") }
    }

    func run() throws {
        let world = try MPIWorld()
        var exitCode: Int32 = 0
        do {
            if world.rank == 0 {
                try runRankZero(world)
            } else {
                try runWorker(world)
            }
        } catch let error as ExitCode {
            exitCode = error.rawValue
        } catch {
            FileHandle.standardError.write(Data("regime sweep (rank \(world.rank)): \(error)\n".utf8))
            if world.size > 1 { world.abort(code: 1) }
            exitCode = 1
        }
        world.finalize()
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    private func runWorker(_ world: MPIWorld) throws {
        guard try WorkerLoop.run(world: world, memoryBudget: try MemoryBudget.resolve(flag: memoryPerRank)) else { throw ExitCode(1) }
    }

    /// Prepares the run (validates the file, the directory and any resume), tells every rank, runs
    /// the coordinator and writes the summary.
    private func runRankZero(_ world: MPIWorld) throws {
        let prepared: PreparedSweep
        do {
            if serveOnly && world.size == 1 { throw ValidationError("--serve-only needs 2 or more ranks (rank 0 would run nothing)") }
            prepared = try prepare()
        } catch {
            let start = SweepStart(error: "\(error)")
            _ = try world.broadcast(Array(try JSONEncoder().encode(start)))
            FileHandle.standardError.write(Data("regime sweep: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let sweep = prepared.sweep
        let start = SweepStart(error: nil, checkpointEvery: sweep.checkpointEvery, trialTimeout: sweep.trialTimeout)
        _ = try world.broadcast(Array(try JSONEncoder().encode(start)))

        let hosts = try gatherHosts(world)
        var manifest = prepared.previousManifest ?? Manifest(
            gitCommit: BuildInfo.current.commit, buildFlags: BuildInfo.current.flags, sweepName: sweep.name,
            sweepFile: sweep.path, trials: sweep.trials.count, ranks: world.size, hosts: hosts, started: timestamp())
        if prepared.previousManifest != nil {
            manifest.resumedFrom.append(manifest.ended ?? "interrupted run started \(manifest.started)")
            manifest.ranks = world.size
            manifest.hosts = hosts
            manifest.trials = sweep.trials.count
            manifest.ended = nil
            manifest.gitCommit = BuildInfo.current.commit
            manifest.buildFlags = BuildInfo.current.flags
        }
        try prepared.output.writeManifest(manifest)

        let runner = SweepRunner(world: world, sweep: sweep, cache: prepared.cache, budget: prepared.budget, serveOnly: serveOnly)
        let statistics = try runner.runCoordinator(output: prepared.output, skip: prepared.skip)
        let analysis = try SweepAnalysis.run(prepared.output, sweep: sweep, options: sweep.analysis)
        manifest.ended = timestamp()
        manifest.statistics = statistics
        manifest.analysis = sweep.analysis
        manifest.analysisSource = "\(sweep.path): analysis"
        manifest.analyzed = nil
        try prepared.output.writeManifest(manifest)
        print(analysis.table)
        print("")
        print(String(format: "wall %.1f s, trial compute %.1f s on %d rank%@: scheduling efficiency %.1f%%",
                     statistics.wallSeconds, statistics.computeSeconds, statistics.ranks, statistics.ranks == 1 ? "" : "s",
                     100 * statistics.efficiency))
        if let line = statistics.memoryLine { print(line) }
        print("results: \(prepared.output.url.path)")
    }

    /// Every rank's processor name, in rank order (one small message each).
    private func gatherHosts(_ world: MPIWorld) throws -> [String] {
        var hosts = [world.processorName]
        for rank in 1..<max(world.size, 1) {
            hosts.append(try world.receive(String.self, from: rank, tag: SweepTag.host).message)
        }
        return hosts
    }

    struct PreparedSweep {
        var sweep: SweepFile
        var output: SweepDirectory
        var skip: Set<Int>
        var previousManifest: Manifest?
        /// The data sets read while checking the sweep, reused for rank 0's own trials.
        var cache: DatasetCache
        var budget: MemoryBudget
    }

    private func prepare() throws -> PreparedSweep {
        if let resume {
            return try prepareResume(directory: URL(fileURLWithPath: resume))
        }
        let sweep = try SweepFile.load(path: sweepFile!)
        let budget = try MemoryBudget.resolve(flag: memoryPerRank)
        let check = try SweepCheck(sweep, budget: budget)
        let output = try SweepDirectory.create(at: URL(fileURLWithPath: out!), sweep: sweep, force: force)
        return PreparedSweep(sweep: sweep, output: output, skip: [], previousManifest: nil, cache: check.cache, budget: budget)
    }

    /// Reads the sweep in `directory` (or the extended file given), repairs a torn journal, and
    /// refuses a sweep whose finished trials it would change.
    private func prepareResume(directory url: URL) throws -> PreparedSweep {
        let output = try SweepDirectory(existing: url)
        let directory = output.url
        let recorded = output.sweepFileURL
        let original = try output.loadSweep()
        let sweep = try sweepFile.map { try SweepFile.load(path: $0) } ?? original
        guard sweep.name == original.name else {
            throw FileError("\(sweepFile!): sweep '\(sweep.name)' is not the sweep '\(original.name)' in \(directory.path)")
        }
        let ids = Dictionary(sweep.trials.enumerated().map { ($1.trialID, $0) }, uniquingKeysWith: { a, _ in a })
        var skip = Set<Int>()
        let journal = try Journal.scan(url: output.journalURL) { entry in
            guard let index = ids[entry.result.trialID] else {
                throw FileError("\(sweepFile ?? recorded.path): finished trial \(entry.result.trialID) of \(directory.path) is not in this sweep: a changed spec would alter existing trials (extend the grid instead)")
            }
            if entry.result.status == .ok || !retryFailed { skip.insert(index) }
        }
        let budget = try MemoryBudget.resolve(flag: memoryPerRank)
        let check = try SweepCheck(sweep, budget: budget)
        // A corrupt checkpoint stops the resume before anything runs (and before anything is written).
        for index in sweep.trials.indices where !skip.contains(index) {
            _ = try output.readCheckpoint(trialID: sweep.trials[index].trialID)
        }
        // Every check has passed: only now change anything in the directory.
        output.removeLeftovers()
        if let damage = journal.damage {
            FileHandle.standardError.write(Data("regime sweep: \(damage); repaired (the trial will run again)\n".utf8))
            try output.repairJournal(validLength: journal.validLength)
        }
        if sweepFile != nil { try output.writeSweep(sweep) }
        return PreparedSweep(sweep: sweep, output: output, skip: skip, previousManifest: output.readManifest(),
                             cache: check.cache, budget: budget)
    }
}

/// Help of `--memory-per-rank` (plan, sweep, train).
let memoryPerRankHelp = "Memory one rank may use, e.g. 8G or 16GiB (default: $REGIME_MEMORY_PER_RANK, else the machine's memory / the ranks on this host)."
