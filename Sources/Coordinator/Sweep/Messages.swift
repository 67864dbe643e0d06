import RegimeCore

/// MPI tags of the sweep protocol.
enum SweepTag {
    /// Worker to rank 0: ready for a trial, possibly with the result of the previous one.
    static let report = 11
    /// Rank 0 to worker: a trial to run, or the end of the sweep.
    static let assignment = 12
    /// Worker to rank 0, once at the start: its host name, for the manifest.
    static let host = 13
    /// Worker to rank 0: a checkpoint of the running trial (bytes of `TrainerCheckpoint`).
    static let checkpoint = 14
    /// Rank 0 to worker, right after an assignment that resumes: the checkpoint to continue from.
    static let resumeData = 15
}

/// What a worker tells rank 0.
struct WorkerReport: Codable {
    var rank: Int
    var host: String
    /// The trial just finished (absent in a worker's first report).
    var finished: FinishedTrial?
}

struct FinishedTrial: Codable {
    var trialIndex: Int
    var result: TrialResult
    var curve: Curve?
}

/// What rank 0 tells a worker.
struct Assignment: Codable {
    /// Index into the sweep's trial list; nil means the sweep is over.
    var trialIndex: Int?
    /// A checkpoint follows (tag `resumeData`): continue the trial from it.
    var resumes = false
}

/// What rank 0 broadcasts before anything runs: the sweep file's text (workers need no shared file
/// system), or the reason the sweep cannot start.
struct SweepStart: Codable {
    var error: String?
    var path: String
    var text: String
    /// Trials already finished in an earlier run (resume): not run again.
    var skip: [Int]
}
