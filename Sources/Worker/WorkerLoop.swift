import Foundation
import RegimeCore
import RegimeMPI

/// What every rank but 0 does in a sweep: receive the trials, then ask rank 0 for a trial, train
/// it (checkpoints go to rank 0, the only writer), send back its result and curve, and ask again,
/// until rank 0 says the sweep is over. Workers only train and measure; rank 0 analyses.
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
        runner.saveCheckpoint = { checkpoint in
            try world.sendBytes(try checkpoint.encoded(), to: 0, tag: SweepTag.checkpoint)
        }
        var report = WorkerReport(rank: world.rank, host: world.processorName, finished: nil)
        while true {
            report.memory = ProcessMemory.current(mappedBy: runner.cache)
            try world.send(report, to: 0, tag: SweepTag.report)
            let (assignment, _) = try world.receive(Assignment.self, from: 0, tag: SweepTag.assignment)
            guard let index = assignment.trialIndex else { return true }
            let spec = start.trials[index]
            var resume: (TrainerCheckpoint, source: String)?
            if assignment.resumes {
                let (bytes, _) = try world.receiveBytes(from: 0, tag: SweepTag.resumeData)
                let source = "checkpoint of trial \(spec.trialID) from rank 0"
                resume = (try TrainerCheckpoint(decoding: bytes, source: source), source)
            }
            let outcome = runner.run(spec, resumingFrom: resume)
            report.finished = FinishedTrial(trialIndex: index, result: outcome.result, curve: outcome.curve)
        }
    }
}
