import Foundation
import RegimeCore
import RegimeMPI
import SweepStore
import Worker

/// Rank 0's side of a sweep.
///
/// Rank 0 is the only writer of the results directory. It serves the other ranks and records all
/// results from a thread of its own (``SweepScheduler/serve()``) while its main thread trains
/// trials like any worker, so a worker never waits for rank 0 to finish an iteration (a CNN
/// iteration takes 50-200 ms) and no core sits idle. Trials are handed out dynamically, longest first, each exactly once; every
/// worker (``WorkerLoop``) asks for a trial, runs it, sends back the result and curve, and asks
/// again. Curves are written as they arrive; the analysis (``SweepAnalysis``) reads them back
/// afterwards, so the statistics do not depend on which rank ran which trial.
///
/// When the MPI library does not allow calls from a second thread (``MPIWorld/serializedThreads``),
/// or with `--serve-only`, rank 0 only serves and trains nothing.
final class SweepRunner {
    let world: MPIWorld
    let sweep: SweepFile
    let runner: TrialRunner
    /// Rank 0 trains nothing (`regime sweep --serve-only`).
    let serveOnly: Bool

    /// `cache` lets rank 0 reuse the data sets it already read while validating the sweep;
    /// `budget` is the memory a rank has (a trial estimated to need more fails instead of running).
    init(world: MPIWorld, sweep: SweepFile, cache: DatasetCache = DatasetCache(), budget: MemoryBudget? = nil,
         serveOnly: Bool = false) {
        self.world = world
        self.sweep = sweep
        self.serveOnly = serveOnly
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
            + Double(spec.dataset.probeSubset) * architecture.flopsPerExampleProbe / Double(spec.recordEvery))
    }

    /// Rank 0's part; `output` is the prepared output directory, `skip` the trials already done.
    func runCoordinator(output: SweepDirectory, skip: Set<Int>) throws -> SweepStatistics {
        let start = Clocks.monotonic()
        let order = sweep.trials.indices.filter { !skip.contains($0) }
            .map { (index: $0, cost: Self.estimatedCost(sweep.trials[$0])) }
            .sorted { ($0.cost, -$0.index) > ($1.cost, -$1.index) }
            .map(\.index)
        let progress = SweepProgress(total: sweep.trials.count, alreadyDone: skip.count, ranks: world.size)
        let scheduler = SweepScheduler(world: world, trials: sweep.trials, order: order, output: output, progress: progress)
        var servingCPU: Double?
        if world.size == 1 {
            try trainOwnTrials(scheduler, handOver: false)
        } else if world.serializedThreads && !serveOnly {
            let server = ServingThread { scheduler.serve() }
            do { try trainOwnTrials(scheduler, handOver: true) } catch { scheduler.fail(error) }
            scheduler.finishOwnTrials()
            servingCPU = server.join()
        } else {
            scheduler.finishOwnTrials()
            let cpu = Clocks.threadCPU()
            scheduler.serve()
            servingCPU = Clocks.threadCPU() - cpu
        }
        if let failure = scheduler.stopped { throw failure }
        progress.close()
        let memory = RankMemory(rank: 0, host: world.processorName, memory: ProcessMemory.current(mappedBy: runner.cache))
        return scheduler.statistics(wallSeconds: Clocks.monotonic() - start, servingCPUSeconds: servingCPU, rankZeroMemory: memory)
    }

    /// Rank 0's own trials, on the main thread, until the queue is empty or the sweep failed; their
    /// results go to the serving thread (`handOver`) or, alone, straight to the directory.
    /// A checkpoint rank 0 cannot write stops the sweep (the disk is rank 0's, as for every other
    /// write into the directory) instead of failing the trial.
    private func trainOwnTrials(_ scheduler: SweepScheduler, handOver: Bool) throws {
        var ownRunner = runner
        var current: TrialSpec?
        var writeFailure: Error?
        ownRunner.saveCheckpoint = { checkpoint in
            do {
                try scheduler.output.writeCheckpoint(try checkpoint.encoded(), trialID: current!.trialID)
            } catch {
                writeFailure = error
                throw error
            }
        }
        ownRunner.betweenIterations = { _ in
            if let failure = scheduler.stopped { throw failure }
        }
        while let index = scheduler.take(forRank: 0) {
            let spec = sweep.trials[index]
            current = spec
            let output = scheduler.output
            let resume = try output.readCheckpoint(trialID: spec.trialID).map { ($0.checkpoint, source: output.checkpointURL(spec.trialID).path) }
            let outcome = ownRunner.run(spec, resumingFrom: resume)
            if let failure = scheduler.stopped ?? writeFailure { throw failure }
            let finished = SweepScheduler.Finished(trial: FinishedTrial(trialIndex: index, result: outcome.result, curve: outcome.curve,
                                                                                      settling: outcome.settling),
                                                   rank: 0, host: world.processorName)
            if handOver { scheduler.handOver(finished) } else { try scheduler.record([finished]) }
        }
    }
}

/// A thread that runs `body` once; ``join()`` waits (without spinning) for it to end and returns
/// the CPU seconds it used.
final class ServingThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var cpuSeconds = 0.0

    init(_ body: @escaping () -> Void) {
        let thread = Thread { [self] in
            let start = Clocks.threadCPU()
            body()
            cpuSeconds = Clocks.threadCPU() - start
            done.signal()
        }
        // Decoding a worker's report (a curve as JSON) recurses: give it a main thread's stack.
        thread.stackSize = 16 << 20
        thread.start()
    }

    func join() -> Double {
        done.wait()
        return cpuSeconds
    }
}
