import Foundation
import RegimeCore
import RegimeMPI
import SweepStore
import Worker

/// Rank 0's state during a sweep and everything it does with it: the queue of trials (longest
/// first, each handed out once), which rank runs what, every write into the results directory,
/// and the run's statistics.
///
/// Two threads of rank 0 share it: the main thread trains rank 0's own trials (``take(forRank:)``,
/// ``record(_:rank:host:)``), and the serving thread answers the workers (``serve()``), which is
/// the only code that makes MPI calls while the sweep runs. One lock guards the state; the
/// directory's writes of results go through it too, so journal lines never interleave.
final class SweepScheduler: @unchecked Sendable {
    let world: MPIWorld
    let trials: [TrialSpec]
    let output: SweepDirectory
    let progress: SweepProgress

    private let lock = NSLock()
    private var queue: ArraySlice<Int>
    private var running: [Int: Int] = [:]  // rank -> trial index
    private var finishedWorkers = Set<Int>()
    private var failure: Error?
    private var computeSeconds = 0.0
    private var waits = WorkerWaitStatistics()
    private var load = RankZeroLoad()

    init(world: MPIWorld, trials: [TrialSpec], order: [Int], output: SweepDirectory, progress: SweepProgress) {
        self.world = world
        self.trials = trials
        self.queue = order[...]
        self.output = output
        self.progress = progress
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: Shared by both threads

    /// The next trial for `rank` (nil when none is left), marked as running there.
    func take(forRank rank: Int) -> Int? {
        locked {
            guard failure == nil, let index = queue.popFirst() else {
                running[rank] = nil
                return nil
            }
            running[rank] = index
            progress.started(index, rank: rank, spec: trials[index])
            return index
        }
    }

    /// Records a finished trial: its curve and journal line, the statistics and the progress line.
    /// (The time it takes counts as handling time here for rank 0's own trials; ``serve()`` times
    /// the workers' messages whole.)
    func record(_ finished: FinishedTrial, rank: Int, host: String) throws {
        try locked {
            let start = Clocks.monotonic()
            let result = finished.result
            computeSeconds += result.wallSeconds
            if rank != 0 {
                waits.add(computeSeconds: result.wallSeconds, assignmentWait: finished.assignmentWaitSeconds,
                          checkpointWait: finished.checkpointSendSeconds)
            }
            let bytes = try output.record(result, curve: finished.curve, rank: rank, host: host)
            load.results += 1
            load.curveBytes += bytes.curve
            load.journalBytes += bytes.journal
            progress.finished(result, rank: rank, host: host)
            if rank == 0 { load.handlingSeconds += Clocks.monotonic() - start }
        }
    }

    /// Stops the sweep: no trial is handed out any more, the serving thread returns, and rank 0's
    /// own trial stops at its next iteration. The first error is the one reported.
    func fail(_ error: Error) {
        locked { if failure == nil { failure = error } }
    }

    /// The error that stopped the sweep, if any.
    var stopped: Error? { locked { failure } }

    func statistics(wallSeconds: Double, servingCPUSeconds: Double?) -> SweepStatistics {
        locked {
            var load = self.load
            load.servingCPUSeconds = servingCPUSeconds
            return SweepStatistics(wallSeconds: wallSeconds, computeSeconds: computeSeconds, ranks: world.size,
                                   efficiency: wallSeconds > 0 ? computeSeconds / (wallSeconds * Double(world.size)) : 0,
                                   workerWaits: waits, rankZero: load)
        }
    }

    // MARK: Serving the workers

    /// Answers the workers until every one of them has been told the sweep is over (or the sweep
    /// failed: then it returns, and the caller reports the error). Messages are handled in the
    /// order they arrive, so a trial's last checkpoint is stored before its result.
    func serve() {
        do {
            while locked({ failure == nil && finishedWorkers.count < world.size - 1 }) {
                guard let envelope = try nextMessage() else { return }
                let start = Clocks.monotonic()
                switch envelope.tag {
                case SweepTag.checkpoint: try storeCheckpoint(from: envelope.source)
                case SweepTag.report: try answerReport(from: envelope.source)
                default: throw MPIError(message: "rank \(envelope.source) sent an unexpected message (tag \(envelope.tag))")
                }
                locked { load.handlingSeconds += Clocks.monotonic() - start }
            }
        } catch {
            fail(error)
        }
    }

    /// Waits without spinning for the next message from any worker; nil when the sweep failed
    /// meanwhile (rank 0's own trial hit an error).
    private func nextMessage() throws -> MPIWorld.Envelope? {
        enum Wake { case message(MPIWorld.Envelope), stop }
        let wake = try world.polling.wait { () throws -> Wake? in
            if locked({ failure != nil }) { return .stop }
            return try world.probe().map(Wake.message)
        }
        if case .message(let envelope) = wake { return envelope }
        return nil
    }

    private func storeCheckpoint(from rank: Int) throws {
        let (bytes, _) = try world.receiveBytes(from: rank, tag: SweepTag.checkpoint)
        guard let index = locked({ running[rank] }) else { return }
        try output.writeCheckpoint(bytes, trialID: trials[index].trialID)
        locked {
            load.checkpoints += 1
            load.checkpointBytes += bytes.count
        }
    }

    /// A worker asks for a trial (with the result of its last one, if any): it gets its next
    /// assignment first, so that recording the result does not add to its wait.
    private func answerReport(from rank: Int) throws {
        let (report, _) = try world.receive(WorkerReport.self, from: rank, tag: SweepTag.report)
        if let index = take(forRank: rank) {
            let saved = try output.readCheckpoint(trialID: trials[index].trialID)
            try world.send(Assignment(trialIndex: index, spec: trials[index], resumes: saved != nil), to: rank,
                           tag: SweepTag.assignment)
            if let saved { try world.sendBytes(saved.bytes, to: rank, tag: SweepTag.resumeData) }
        } else {
            try world.send(Assignment.end, to: rank, tag: SweepTag.assignment)
            locked { _ = finishedWorkers.insert(rank) }
        }
        if let finished = report.finished { try record(finished, rank: rank, host: report.host) }
    }
}
