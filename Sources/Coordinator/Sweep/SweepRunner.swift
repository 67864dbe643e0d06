import Foundation
import RegimeCore
import RegimeMPI
import SweepStore
import Worker

/// Rank 0's side of a sweep: the scheduler.
///
/// Rank 0 is the only writer of the results directory; it also trains, and serves the other
/// ranks between its own iterations, so no core waits idle and no waiting rank spins. Trials are
/// handed out dynamically, longest first, each exactly once; every worker (``WorkerLoop``) asks
/// for a trial, runs it, sends back the result and curve, and asks again. Curves are written as
/// they arrive; the analysis (``SweepAnalysis``) reads them back afterwards, so the statistics
/// do not depend on which rank ran which trial.
final class SweepRunner {
    let world: MPIWorld
    let sweep: SweepFile
    let runner: TrialRunner

    /// `cache` lets rank 0 reuse the data sets it already read while validating the sweep;
    /// `budget` is the memory a rank has (a trial estimated to need more fails instead of running).
    init(world: MPIWorld, sweep: SweepFile, cache: DatasetCache = DatasetCache(), budget: MemoryBudget? = nil) {
        self.world = world
        self.sweep = sweep
        var runner = TrialRunner(cache: cache)
        runner.checkpointEvery = sweep.checkpointEvery
        runner.timeout = sweep.trialTimeout
        runner.memoryBudget = budget
        self.runner = runner
    }

    /// Estimated cost of a trial in floating-point operations, for longest-first ordering: the
    /// architecture's analytic forward and backward FLOPs per example over every batch, plus the
    /// probe forward passes of the recorded iterations.
    static func estimatedCost(_ spec: TrialSpec) -> Double {
        guard let architecture = try? Architecture(parsing: spec.arch) else { return 1 }
        let (forward, backward) = (architecture.flopsPerExampleForward, architecture.flopsPerExampleBackward)
        return Double(spec.iterations) * (Double(spec.batchSize) * (forward + backward)
            + Double(spec.dataset.probeSubset) * forward / Double(spec.recordEvery))
    }

    // MARK: Rank 0

    /// Rank 0's part; `output` is the prepared output directory, `skip` the trials already done.
    func runCoordinator(output: SweepDirectory, skip: Set<Int>) throws -> SweepStatistics {
        let start = Date()
        let order = sweep.trials.indices.filter { !skip.contains($0) }
            .map { (index: $0, cost: Self.estimatedCost(sweep.trials[$0])) }
            .sorted { ($0.cost, -$0.index) > ($1.cost, -$1.index) }
            .map(\.index)
        var queue = order[...]
        let progress = SweepProgress(total: sweep.trials.count, alreadyDone: skip.count, ranks: world.size)
        var running: [Int: Int] = [:]  // rank -> trial index
        var finishedWorkers = Set<Int>()
        var computeSeconds = 0.0
        var memory: [Int: RankMemory] = [:]

        func record(_ finished: FinishedTrial, rank: Int, host: String) throws {
            computeSeconds += finished.result.wallSeconds
            try output.record(finished.result, curve: finished.curve, rank: rank, host: host)
            progress.finished(finished.result, rank: rank, host: host)
        }

        /// Sends trial `index` to `rank`, with its checkpoint when one exists.
        func assign(_ index: Int, to rank: Int) throws {
            running[rank] = index
            progress.started(index, rank: rank, spec: sweep.trials[index])
            let saved = try output.readCheckpoint(trialID: sweep.trials[index].trialID)
            try world.send(Assignment(trialIndex: index, resumes: saved != nil), to: rank, tag: SweepTag.assignment)
            if let saved { try world.sendBytes(saved.bytes, to: rank, tag: SweepTag.resumeData) }
        }

        /// Answers every message waiting: stores checkpoints, records results, hands out trials.
        /// Checkpoints are drained first, so a trial's last checkpoint never lands after its result.
        func serve() throws {
            while let envelope = try world.probe(tag: SweepTag.checkpoint) {
                let (bytes, _) = try world.receiveBytes(from: envelope.source, tag: SweepTag.checkpoint)
                if let index = running[envelope.source] {
                    try output.writeCheckpoint(bytes, trialID: sweep.trials[index].trialID)
                }
            }
            while let envelope = try world.probe(tag: SweepTag.report) {
                let (report, _) = try world.receive(WorkerReport.self, from: envelope.source, tag: SweepTag.report)
                if let used = report.memory { memory[report.rank] = RankMemory(rank: report.rank, host: report.host, memory: used) }
                if let finished = report.finished {
                    running[report.rank] = nil
                    try record(finished, rank: report.rank, host: report.host)
                }
                if let next = queue.popFirst() {
                    try assign(next, to: report.rank)
                } else {
                    try world.send(Assignment(trialIndex: nil), to: report.rank, tag: SweepTag.assignment)
                    finishedWorkers.insert(report.rank)
                }
            }
        }

        var ownRunner = runner
        var ownTrial: Int?
        let trials = sweep.trials
        ownRunner.saveCheckpoint = { checkpoint in
            try output.writeCheckpoint(try checkpoint.encoded(), trialID: trials[ownTrial!].trialID)
        }
        var serveError: Error?
        ownRunner.betweenIterations = { _ in
            guard serveError == nil else { return }
            do { try serve() } catch { serveError = error }
        }
        while finishedWorkers.count < world.size - 1 || !queue.isEmpty {
            try serve()
            if let index = queue.popFirst() {
                progress.started(index, rank: 0, spec: sweep.trials[index])
                ownTrial = index
                let trialID = sweep.trials[index].trialID
                let resume = try output.readCheckpoint(trialID: trialID).map { ($0.checkpoint, source: output.checkpointURL(trialID).path) }
                let outcome = ownRunner.run(sweep.trials[index], resumingFrom: resume)
                if let serveError { throw serveError }
                try record(FinishedTrial(trialIndex: index, result: outcome.result, curve: outcome.curve),
                           rank: 0, host: world.processorName)
            } else if finishedWorkers.count < world.size - 1 {
                // Nothing left to run here: wait (without spinning) for the next message of any
                // kind. Waiting for reports alone would deadlock against a worker whose large
                // checkpoint send cannot complete until rank 0 receives it.
                _ = try world.polling.wait { try world.probe() }
            }
        }
        progress.close()
        let wall = Date().timeIntervalSince(start)
        memory[0] = RankMemory(rank: 0, host: world.processorName, memory: ProcessMemory.current(mappedBy: runner.cache))
        return SweepStatistics(wallSeconds: wall, computeSeconds: computeSeconds, ranks: world.size,
                               efficiency: wall > 0 ? computeSeconds / (wall * Double(world.size)) : 0,
                               memory: memory.keys.sorted().map { memory[$0]! })
    }
}
