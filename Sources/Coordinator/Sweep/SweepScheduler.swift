import Foundation
import RegimeCore
import RegimeMPI
import SweepStore
import Worker

/// Rank 0's state during a sweep and everything it does with it: the queue of trials (longest
/// first, each handed out once), which rank runs what, the recording of results into the results
/// directory, and the run's statistics.
///
/// Two threads of rank 0 share it. The serving thread (``serve()``) answers the workers and is
/// the only code that makes MPI calls while the sweep runs; it also records every result, its
/// own thread's included, in group commits (``SweepDirectory/record(_:)``). The main thread trains
/// rank 0's own trials (``take(forRank:)``) and hands their results over (``handOver(_:)``), so
/// it never waits for the disk. One lock guards the state; no disk I/O happens under it.
/// Alone (one rank) the main thread records its results itself (``record(_:)``).
final class SweepScheduler: @unchecked Sendable {
    let world: MPIWorld
    let trials: [TrialSpec]
    let output: SweepDirectory
    let progress: SweepProgress

    /// A finished trial waiting to be recorded, with the rank and host that ran it.
    struct Finished {
        var trial: FinishedTrial
        var rank: Int
        var host: String
    }

    private let lock = NSLock()
    private var queue: ArraySlice<Int>
    private var running: [Int: Int] = [:]  // rank -> trial index
    private var finishedWorkers = Set<Int>()
    private var handedOver: [Finished] = []
    private var ownTrialsDone = false
    private var failure: Error?
    private var computeSeconds = 0.0
    private var waits = WorkerWaitStatistics()
    private var load = RankZeroLoad()
    private var memory: [Int: RankMemory] = [:]  // rank -> its memory at its last report

    /// Results waiting for their group commit are recorded once no message is waiting, or when
    /// this many have gathered.
    static let batchLimit = 64

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

    // MARK: Both threads

    /// The next trial for `rank` (nil when none is left or the sweep failed), marked as running there.
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

    /// Gives a result of rank 0's own to the serving thread, which records it with the next commit.
    func handOver(_ finished: Finished) {
        locked { handedOver.append(finished) }
    }

    /// Rank 0 trains nothing more: the serving thread returns once everything is recorded and
    /// every worker has been told the sweep is over.
    func finishOwnTrials() {
        locked { ownTrialsDone = true }
    }

    /// Records finished trials as one group commit (``SweepDirectory/record(_:)``): their curves
    /// and journal lines, then the statistics and the progress lines.
    func record(_ batch: [Finished]) throws {
        guard !batch.isEmpty else { return }
        let start = Clocks.monotonic()
        let bytes = try output.record(batch.map {
            SweepDirectory.Record(result: $0.trial.result, curveCSV: $0.trial.curveCSV, settlingCSV: $0.trial.settlingCSV,
                                  rank: $0.rank, host: $0.host)
        })
        locked {
            load.results += batch.count
            load.commits += 1
            load.curveBytes += bytes.curve
            load.journalBytes += bytes.journal
            for finished in batch {
                let result = finished.trial.result
                computeSeconds += result.wallSeconds
                if finished.rank != 0 {
                    waits.add(computeSeconds: result.wallSeconds, assignmentWait: finished.trial.assignmentWaitSeconds,
                              checkpointWait: finished.trial.checkpointSendSeconds)
                }
                progress.finished(result, rank: finished.rank, host: finished.host)
            }
            load.handlingSeconds += Clocks.monotonic() - start
        }
    }

    /// Stops the sweep: no trial is handed out any more, the serving thread returns, and rank 0's
    /// own trial stops at its next iteration. The first error is the one reported.
    func fail(_ error: Error) {
        locked { if failure == nil { failure = error } }
    }

    /// The error that stopped the sweep, if any.
    var stopped: Error? { locked { failure } }

    /// The run's statistics; `rankZeroMemory` joins the memory the workers reported.
    func statistics(wallSeconds: Double, servingCPUSeconds: Double?, rankZeroMemory: RankMemory) -> SweepStatistics {
        locked {
            var load = self.load
            load.servingCPUSeconds = servingCPUSeconds
            var memory = self.memory
            memory[0] = rankZeroMemory
            return SweepStatistics(wallSeconds: wallSeconds, computeSeconds: computeSeconds, ranks: world.size,
                                   efficiency: wallSeconds > 0 ? computeSeconds / (wallSeconds * Double(world.size)) : 0,
                                   memory: memory.keys.sorted().map { memory[$0]! }, workerWaits: waits, rankZero: load)
        }
    }

    // MARK: The serving thread

    /// Answers the workers and records every result until every worker has been told the sweep is
    /// over and rank 0's own trials are done and recorded (or the sweep failed: then it returns,
    /// and the caller reports the error). Messages are handled in the order they arrive, so a
    /// trial's last checkpoint is stored before its result. A worker gets its next trial before
    /// its result is recorded, and the results that are waiting when no message is are recorded
    /// together (one group commit), so rank 0 keeps up with many ranks and short trials.
    func serve() {
        var pending: [Finished] = []
        do {
            while true {
                let (failed, workersEnded, ownDone, own) = locked { () -> (Bool, Bool, Bool, [Finished]) in
                    defer { handedOver = [] }
                    return (failure != nil, finishedWorkers.count >= world.size - 1, ownTrialsDone, handedOver)
                }
                if failed { return }
                pending += own
                if !pending.isEmpty, try pending.count >= Self.batchLimit || workersEnded || world.probe() == nil {
                    try record(pending)
                    pending = []
                    continue
                }
                if workersEnded {
                    if ownDone { return }
                    _ = world.polling.wait { locked { ownTrialsDone || !handedOver.isEmpty || failure != nil } ? true : nil }
                    continue
                }
                guard let envelope = try nextMessage() else { continue }
                let start = Clocks.monotonic()
                switch envelope.tag {
                case SweepTag.checkpoint: try storeCheckpoint(from: envelope.source)
                case SweepTag.report: if let finished = try answerReport(from: envelope.source) { pending.append(finished) }
                default: throw MPIError(message: "rank \(envelope.source) sent an unexpected message (tag \(envelope.tag))")
                }
                locked { load.handlingSeconds += Clocks.monotonic() - start }
            }
        } catch {
            fail(error)
        }
    }

    /// Waits without spinning for the next message from any worker; nil when something else needs
    /// the serving thread first (a result handed over, or the sweep failed).
    private func nextMessage() throws -> MPIWorld.Envelope? {
        enum Wake { case message(MPIWorld.Envelope), other }
        let wake = try world.polling.wait { () throws -> Wake? in
            if locked({ failure != nil || !handedOver.isEmpty }) { return .other }
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
    /// assignment at once; the result it brought is returned, to be recorded.
    private func answerReport(from rank: Int) throws -> Finished? {
        let (report, _) = try world.receive(WorkerReport.self, from: rank, tag: SweepTag.report)
        if let used = report.memory { locked { memory[rank] = RankMemory(rank: rank, host: report.host, memory: used) } }
        if let index = take(forRank: rank) {
            let saved = try output.readCheckpoint(trialID: trials[index].trialID)
            try world.send(Assignment(trialIndex: index, spec: trials[index], resumes: saved != nil), to: rank,
                           tag: SweepTag.assignment)
            if let saved { try world.sendBytes(saved.bytes, to: rank, tag: SweepTag.resumeData) }
        } else {
            try world.send(Assignment.end, to: rank, tag: SweepTag.assignment)
            locked { _ = finishedWorkers.insert(rank) }
        }
        return report.finished.map { Finished(trial: $0, rank: rank, host: report.host) }
    }
}
