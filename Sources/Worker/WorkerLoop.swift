import Foundation
import RegimeCore
import RegimeMPI

/// What every rank but 0 does in a sweep: ask rank 0 for a trial, train it (checkpoints go to
/// rank 0, the only writer), send back its result and curve, and ask again, until rank 0 says the
/// sweep is over. Workers only train and measure; rank 0 analyses.
///
/// A worker holds one trial at a time: the spec comes with its assignment, so its memory does not
/// depend on the size of the sweep. It measures how long it waits on rank 0 (for each assignment,
/// and for each checkpoint to be taken) and reports it with the finished trial.
public enum WorkerLoop {
    /// Runs the worker side of a sweep. Returns normally when rank 0 ends the sweep, or when rank
    /// 0 broadcast an error instead of trials (it reports it; this rank exits non-zero).
    /// `memoryBudget`: this rank's memory; a trial estimated to need more is recorded as failed.
    public static func run(world: MPIWorld, memoryBudget: MemoryBudget? = nil) throws -> Bool {
        let start = try JSONDecoder().decode(SweepStart.self, from: Data(try world.broadcast([])))
        guard start.error == nil else { return false }
        try world.send(world.processorName, to: 0, tag: SweepTag.host)
        var runner = TrialRunner()
        runner.checkpointEvery = start.checkpointEvery
        runner.timeout = start.trialTimeout
        runner.memoryBudget = memoryBudget
        // Checkpoints go to rank 0; the send returns once rank 0 has taken it.
        var checkpointSeconds = 0.0
        runner.saveCheckpoint = { checkpoint in
            let bytes = try checkpoint.encoded()
            let sent = Clocks.monotonic()
            try world.sendBytes(bytes, to: 0, tag: SweepTag.checkpoint)
            checkpointSeconds += Clocks.monotonic() - sent
        }
        var report = WorkerReport(rank: world.rank, host: world.processorName, finished: nil)
        while true {
            report.memory = ProcessMemory.current(mappedBy: runner.cache)
            let asked = Clocks.monotonic()
            try world.send(report, to: 0, tag: SweepTag.report)
            report.finished = nil
            let (assignment, _) = try world.receive(Assignment.self, from: 0, tag: SweepTag.assignment)
            guard let index = assignment.trialIndex, let spec = assignment.spec else { return true }
            var resume: (TrainerCheckpoint, source: String)?
            if assignment.resumes {
                let (bytes, _) = try world.receiveBytes(from: 0, tag: SweepTag.resumeData)
                let source = "checkpoint of trial \(spec.trialID) from rank 0"
                resume = (try TrainerCheckpoint(decoding: bytes, source: source), source)
            }
            let waited = Clocks.monotonic() - asked
            checkpointSeconds = 0
            let outcome = runner.run(spec, resumingFrom: resume)
            report.finished = FinishedTrial(trialIndex: index, result: outcome.result, curve: outcome.curve, settling: outcome.settling,
                                            assignmentWaitSeconds: waited, checkpointSendSeconds: checkpointSeconds)
        }
    }
}
