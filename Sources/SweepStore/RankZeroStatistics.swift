import Foundation
import RegimeCore

/// How long the workers of a run waited on rank 0 (`manifest.json`: `statistics.worker_waits`),
/// measured on the workers: from sending the report that asks for a trial to holding its
/// assignment, and while handing checkpoints over. Rank 0 adds up what the workers report with
/// each finished trial; the wait for the message that ends the sweep is not counted.
public struct WorkerWaitStatistics: Codable, Sendable, Equatable {
    /// Trials the workers ran (and reported) in this run.
    public var trials = 0
    /// Their training time (wall seconds, summed).
    public var computeSeconds = 0.0
    /// Total and longest wait for an assignment.
    public var assignmentSeconds = 0.0
    public var assignmentMaxSeconds = 0.0
    /// Total time spent handing checkpoints to rank 0.
    public var checkpointSeconds = 0.0

    public init() {}

    /// Waits as a fraction of the training time they interrupt: (assignment + checkpoint waits) /
    /// compute (nil before any worker finished a trial).
    public var fraction: Double? {
        computeSeconds > 0 ? (assignmentSeconds + checkpointSeconds) / computeSeconds : nil
    }

    public mutating func add(computeSeconds compute: Double, assignmentWait: Double, checkpointWait: Double) {
        trials += 1
        computeSeconds += compute
        assignmentSeconds += assignmentWait
        assignmentMaxSeconds = max(assignmentMaxSeconds, assignmentWait)
        checkpointSeconds += checkpointWait
    }

    enum CodingKeys: String, CodingKey {
        case trials, computeSeconds = "compute_seconds", assignmentSeconds = "assignment_seconds",
             assignmentMaxSeconds = "assignment_max_seconds", checkpointSeconds = "checkpoint_seconds", fraction
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        trials = try c.decode(Int.self, forKey: .trials)
        computeSeconds = try c.decode(Double.self, forKey: .computeSeconds)
        assignmentSeconds = try c.decode(Double.self, forKey: .assignmentSeconds)
        assignmentMaxSeconds = try c.decode(Double.self, forKey: .assignmentMaxSeconds)
        checkpointSeconds = try c.decode(Double.self, forKey: .checkpointSeconds)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(trials, forKey: .trials)
        try c.encode(computeSeconds, forKey: .computeSeconds)
        try c.encode(assignmentSeconds, forKey: .assignmentSeconds)
        try c.encode(assignmentMaxSeconds, forKey: .assignmentMaxSeconds)
        try c.encode(checkpointSeconds, forKey: .checkpointSeconds)
        try c.encodeOrNull(fraction, forKey: .fraction)
    }
}

/// What recording a run's results cost rank 0 (`manifest.json`: `statistics.rank0`): the input
/// of the README's table of what rank 0 can sustain. Every result (a worker's or rank 0's own)
/// is one journal line and one curve file; `handling_seconds` is the wall time rank 0 spent on
/// the messages of the workers (receiving, writing the curve, appending and fsyncing the journal
/// line, answering with the next assignment) and on recording its own results.
public struct RankZeroLoad: Codable, Sendable, Equatable {
    /// Results recorded (journal lines written) in this run, and the group commits that wrote them
    /// (one sync of the curves and one of the journal each).
    public var results = 0
    public var commits = 0
    public var handlingSeconds = 0.0
    /// CPU time of the thread that served the workers (nil: rank 0 served between its own
    /// iterations or ran alone).
    public var servingCPUSeconds: Double?
    public var journalBytes = 0
    public var curveBytes = 0
    public var checkpoints = 0
    public var checkpointBytes = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case results, commits, handlingSeconds = "handling_seconds", servingCPUSeconds = "serving_cpu_seconds",
             journalBytes = "journal_bytes", curveBytes = "curve_bytes", checkpoints, checkpointBytes = "checkpoint_bytes"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(results, forKey: .results)
        try c.encode(commits, forKey: .commits)
        try c.encode(handlingSeconds, forKey: .handlingSeconds)
        try c.encodeOrNull(servingCPUSeconds, forKey: .servingCPUSeconds)
        try c.encode(journalBytes, forKey: .journalBytes)
        try c.encode(curveBytes, forKey: .curveBytes)
        try c.encode(checkpoints, forKey: .checkpoints)
        try c.encode(checkpointBytes, forKey: .checkpointBytes)
    }
}
