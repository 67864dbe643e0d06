import RegimeCore

/// MPI tags of the sweep protocol between rank 0 and the workers.
public enum SweepTag {
    /// Worker to rank 0: ready for a trial, possibly with the result of the previous one.
    public static let report = 11
    /// Rank 0 to worker: a trial to run, or the end of the sweep.
    public static let assignment = 12
    /// Worker to rank 0, once at the start: its host name, for the manifest.
    public static let host = 13
    /// Worker to rank 0: a checkpoint of the running trial (bytes of `TrainerCheckpoint`).
    public static let checkpoint = 14
    /// Rank 0 to worker, right after an assignment that resumes: the checkpoint to continue from.
    public static let resumeData = 15
}

/// What rank 0 broadcasts before anything runs: the trials (workers need no sweep file and no
/// shared file system) and how to run them, or the reason the sweep cannot start.
public struct SweepStart: Codable, Sendable {
    public var error: String?
    public var trials: [TrialSpec]
    public var checkpointEvery: CheckpointCadence?
    public var trialTimeout: Double?

    public init(error: String?, trials: [TrialSpec] = [], checkpointEvery: CheckpointCadence? = nil, trialTimeout: Double? = nil) {
        self.error = error; self.trials = trials; self.checkpointEvery = checkpointEvery; self.trialTimeout = trialTimeout
    }
}

/// What a worker tells rank 0.
public struct WorkerReport: Codable, Sendable {
    public var rank: Int
    public var host: String
    /// The trial just finished (absent in a worker's first report).
    public var finished: FinishedTrial?
    /// The worker's memory when it sent the report (its peak so far, and the data files it mapped).
    public var memory: ProcessMemory?

    public init(rank: Int, host: String, finished: FinishedTrial?, memory: ProcessMemory? = nil) {
        self.rank = rank; self.host = host; self.finished = finished; self.memory = memory
    }
}

/// A trial's training result and curve, as a worker sends them.
public struct FinishedTrial: Codable, Sendable {
    public var trialIndex: Int
    public var result: TrialResult
    public var curve: Curve?

    public init(trialIndex: Int, result: TrialResult, curve: Curve?) {
        self.trialIndex = trialIndex; self.result = result; self.curve = curve
    }
}

/// What rank 0 tells a worker.
public struct Assignment: Codable, Sendable {
    /// Index into the sweep's trial list; nil means the sweep is over.
    public var trialIndex: Int?
    /// A checkpoint follows (tag `resumeData`): continue the trial from it.
    public var resumes = false

    public init(trialIndex: Int?, resumes: Bool = false) { self.trialIndex = trialIndex; self.resumes = resumes }
}
