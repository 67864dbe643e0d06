import Foundation
import RegimeCore

/// Runs one trial on this rank: loads its data (through a cache shared by the rank's trials),
/// trains, checkpoints, and turns any failure into a recorded result instead of an exit.
public struct TrialRunner {
    public let cache: DatasetCache
    /// Called after every iteration with the trainer (`regime train` draws its progress bar here);
    /// an error it throws stops the trial (a sweep's rank 0 stops its own trial when the sweep fails).
    public var betweenIterations: (Trainer) throws -> Void = { _ in }
    /// Called after every step of the settling replay with the replaying trainer (nil: `betweenIterations`).
    public var betweenReplaySteps: ((Trainer) throws -> Void)?
    /// When to save a checkpoint (nil: never). The last iteration is checkpointed, when the cadence
    /// is due there, before the settling replay, so that a trial killed during its replay resumes
    /// with the replay only; the finished result replaces any checkpoint.
    public var checkpointEvery: CheckpointCadence?
    public var saveCheckpoint: (TrainerCheckpoint) throws -> Void = { _ in }
    /// Stop a trial that has trained longer than this many seconds (nil: no limit).
    public var timeout: Double?
    /// Refuse (as a failed trial) one whose memory estimate exceeds this (nil: no check).
    public var memoryBudget: MemoryBudget?

    public init(cache: DatasetCache = DatasetCache()) { self.cache = cache }

    /// A finished trial: its result and its curve (the curve may be partial if it failed), and for
    /// a trial that ran to the end its distances to the final state (``SettlingReplay``).
    public struct Outcome {
        public var result: TrialResult
        public var curve: Curve?
        public var settling: SettlingCurve?
        /// Seconds the settling replay took (included in `result.wallSeconds`), and its CPU seconds.
        public var settlingSeconds: Double?
        public var settlingCPUSeconds: Double?
    }

    /// Reads the trial's data (through the cache) and checks the trial against it and, when there
    /// is a budget, its memory estimate against the budget; returns the data. `regime train` calls
    /// it before writing anything; `run` calls it again, so that a rank whose host has less memory
    /// (or lacks the data) records the trial as failed instead of trapping in an allocation.
    public func check(_ spec: TrialSpec) throws -> PreparedData {
        let data = try cache.prepare(spec.dataset)
        try spec.validate(data: data)
        if let memoryBudget {
            try ResourceEstimate(spec: spec, data: data, checkpoints: checkpointEvery != nil, dataBytes: cache.heldBytes)
                .check(memoryBudget)
        }
        return data
    }

    /// Runs `spec`, continuing from `checkpoint` when given (bit-identical to an uninterrupted run).
    public func run(_ spec: TrialSpec, resumingFrom checkpoint: (TrainerCheckpoint, source: String)? = nil) -> Outcome {
        let start = Date()
        let carried = checkpoint?.0.metadata.elapsedSeconds ?? 0
        func elapsed() -> Double { carried + Date().timeIntervalSince(start) }
        var (outcome, target, data) = train(spec, resumingFrom: checkpoint, elapsed: elapsed)
        // The trained trainer is released here; the replay holds one trainer again (bounded memory).
        guard let target, let data else { return outcome }
        let replayStart = elapsed(), replayCPU = Clocks.threadCPU()
        do {
            outcome.settling = try SettlingReplay.run(target, data: data) { replay in
                try (betweenReplaySteps ?? betweenIterations)(replay)
                if let timeout, elapsed() > timeout { throw TrialTimeout(seconds: elapsed(), iteration: replay.iteration) }
            }
        } catch {
            outcome.result.status = error is TrialTimeout ? .timedOut : .failed
            outcome.result.error = "settling replay: \(error)"
        }
        outcome.settlingSeconds = elapsed() - replayStart
        outcome.settlingCPUSeconds = Clocks.threadCPU() - replayCPU
        outcome.result.wallSeconds = elapsed()
        return outcome
    }

    /// Trains `spec` (from `checkpoint` when given); for a trial that ran to the end, also its
    /// settling target and data.
    private func train(_ spec: TrialSpec, resumingFrom checkpoint: (TrainerCheckpoint, source: String)?,
                       elapsed: () -> Double) -> (Outcome, SettlingTarget?, PreparedData?) {
        let trainer: Trainer
        let data: PreparedData
        do {
            data = try check(spec)
            trainer = try Trainer(spec: spec, data: data)
            if let (saved, source) = checkpoint { try trainer.restore(saved, source: source) }
        } catch {
            let result = TrialResult(trialID: spec.trialID, params: spec, status: .failed, iterations: 0, finalLoss: nil,
                                     finalValAccuracy: nil, wallSeconds: elapsed(), error: "\(error)")
            return (Outcome(result: result, curve: nil), nil, nil)
        }
        var failure: Error?
        var lastSaved = elapsed()
        do {
            while !trainer.isFinished {
                try trainer.step()
                try betweenIterations(trainer)
                if let checkpointEvery, !trainer.isFinished,
                   checkpointEvery.isDue(iteration: trainer.iteration, secondsSinceLast: elapsed() - lastSaved) {
                    try saveCheckpoint(trainer.checkpoint(elapsedSeconds: elapsed()))
                    lastSaved = elapsed()
                }
                if let timeout, elapsed() > timeout, !trainer.isFinished {
                    throw TrialTimeout(seconds: elapsed(), iteration: trainer.iteration)
                }
            }
            // The finished state, for a resume during the settling replay (below).
            // (Only when the cadence is due there too: a sweep's checkpoint traffic stays within its cadence.)
            if let checkpointEvery, checkpointEvery.isDue(iteration: trainer.iteration, secondsSinceLast: elapsed() - lastSaved) {
                try saveCheckpoint(trainer.checkpoint(elapsedSeconds: elapsed()))
            }
        } catch {
            failure = error
        }
        let outcome = Outcome(result: trainer.result(wallSeconds: elapsed(), failure: failure), curve: trainer.curve)
        return outcome.result.status == .ok ? (outcome, trainer.settlingTarget(), data) : (outcome, nil, nil)
    }
}
