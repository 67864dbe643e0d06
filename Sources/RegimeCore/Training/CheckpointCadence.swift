import Foundation

/// How often a running trial saves a checkpoint: every N optimizer steps, or every S seconds of
/// training (a sweep's `checkpoint_every: 250` or `checkpoint_every: 60s`).
///
/// A cadence in seconds bounds the traffic into rank 0 whatever the model: with R ranks and
/// checkpoints of B bytes, at most R x B / S bytes per second reach rank 0 and its disk (1000
/// ranks, 3 MB Adam checkpoints, 60 s: 50 MB/s), where a cadence in steps scales with the
/// iteration rate. Either way a kill loses at most one cadence of work. When a checkpoint is taken
/// never changes a trial's result: resuming from any checkpoint is bit-identical.
///
/// JSON form: `{"iterations": 250}` or `{"seconds": 60}`.
public enum CheckpointCadence: Codable, Hashable, Sendable, CustomStringConvertible {
    case iterations(Int)
    case seconds(Double)

    /// A new sweep's cadence when its file sets none.
    public static let sweepDefault = CheckpointCadence.seconds(60)

    /// Parses `250` (steps) or `60s` (seconds); nil for anything else or a non-positive value.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("s"), let s = Double(trimmed.dropLast()), s.isFinite, s > 0 {
            self = .seconds(s)
        } else if let n = Int(trimmed), n > 0 {
            self = .iterations(n)
        } else {
            return nil
        }
    }

    /// Whether to save after `iteration` when the last save was `secondsSinceLast` ago.
    public func isDue(iteration: Int, secondsSinceLast: Double) -> Bool {
        switch self {
        case .iterations(let n): return iteration % n == 0
        case .seconds(let s): return secondsSinceLast >= s
        }
    }

    public var description: String {
        switch self {
        case .iterations(let n): return "\(n)"
        case .seconds(let s): return "\(s)s"
        }
    }
}
