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

/// What rank 0 broadcasts before anything runs: how to run the trials, or the reason the sweep
/// cannot start. The trials themselves travel one at a time with their ``Assignment``s, so a
/// worker's memory does not grow with the sweep (and workers need no sweep file and no shared
/// file system).
public struct SweepStart: Codable, Sendable {
    public var error: String?
    public var checkpointEvery: CheckpointCadence?
    public var trialTimeout: Double?

    public init(error: String?, checkpointEvery: CheckpointCadence? = nil, trialTimeout: Double? = nil) {
        self.error = error; self.checkpointEvery = checkpointEvery; self.trialTimeout = trialTimeout
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

/// A trial's training result and curve, as a worker sends them, with how long the worker waited
/// on rank 0 for it (rank 0 adds these up in the manifest's statistics).
public struct FinishedTrial: Codable, Sendable {
    public var trialIndex: Int
    public var result: TrialResult
    /// The curve as its file `curves/<trial_id>.csv` holds it (``Curve/csv()``), nil when the trial
    /// stopped before its first record. Formatted where the trial ran, so rank 0 only writes it:
    /// parsing and formatting numbers would cost rank 0 about 60 ns per byte of curve.
    public var curveCSV: String?
    /// The settling curve as its file `curves/<trial_id>.settling.csv` holds it (``SettlingCurve/csv()``),
    /// nil for a trial that did not run to the end.
    public var settlingCSV: String?
    /// Seconds from sending the report that asked for this trial to holding its assignment (and
    /// its checkpoint, when it resumed).
    public var assignmentWaitSeconds: Double
    /// Seconds spent handing this trial's checkpoints to rank 0 (each send returns once rank 0
    /// has taken it).
    public var checkpointSendSeconds: Double

    public init(trialIndex: Int, result: TrialResult, curve: Curve?, settling: SettlingCurve? = nil,
                assignmentWaitSeconds: Double = 0, checkpointSendSeconds: Double = 0) {
        self.trialIndex = trialIndex; self.result = result; curveCSV = curve?.csv(); settlingCSV = settling?.csv()
        self.assignmentWaitSeconds = assignmentWaitSeconds; self.checkpointSendSeconds = checkpointSendSeconds
    }
}

/// What rank 0 tells a worker: the next trial, or (both nil) that the sweep is over.
public struct Assignment: Codable, Sendable {
    /// Index into the sweep's trial list (echoed back in the ``FinishedTrial``).
    public var trialIndex: Int?
    /// The trial to run.
    public var spec: TrialSpec?
    /// A checkpoint follows (tag `resumeData`): continue the trial from it.
    public var resumes = false

    public init(trialIndex: Int?, spec: TrialSpec?, resumes: Bool = false) {
        self.trialIndex = trialIndex; self.spec = spec; self.resumes = resumes
    }

    /// The end of the sweep.
    public static let end = Assignment(trialIndex: nil, spec: nil)
}
