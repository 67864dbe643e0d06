import Foundation

/// The outcome of training one trial: one line of a sweep's `trials.jsonl` (and the training part
/// of `regime train`'s `result.json`). Decay times are not part of it: they are an analysis of the
/// stored curve (RegimeAnalysis), recomputed whenever the analysis settings change.
public struct TrialResult: Codable, Equatable, Sendable {
    /// `ok`: ran to the end. `diverged`: a non-finite loss or update. `failed`: an error (bad data,
    /// corrupt checkpoint, ...). `timed_out`: ran past the sweep's `trial_timeout`.
    public enum Status: String, Codable, Sendable { case ok, diverged, failed, timedOut = "timed_out" }

    public var trialID: String
    public var params: TrialSpec
    public var status: Status
    /// Iterations completed (less than `params.iterations` for a diverged or failed trial).
    public var iterations: Int
    public var finalLoss: Double?
    public var finalValAccuracy: Double?
    public var wallSeconds: Double
    /// Why a trial diverged or failed.
    public var error: String?
    /// The iteration at which the online regime detector fired on `pattern_change` (null: it did not).
    public var detectedAt: Int?
    /// A gated trial's freeze (absent for trials without `gates`).
    public var freeze: FreezeSummary?

    enum CodingKeys: String, CodingKey {
        case trialID = "trial_id", params, status, iterations, finalLoss = "final_loss",
             finalValAccuracy = "final_val_accuracy", wallSeconds = "wall_seconds", error,
             detectedAt = "detected_at", freeze
    }

    public init(trialID: String, params: TrialSpec, status: Status, iterations: Int, finalLoss: Double?,
                finalValAccuracy: Double?, wallSeconds: Double, error: String?) {
        self.trialID = trialID; self.params = params; self.status = status; self.iterations = iterations
        self.finalLoss = finalLoss; self.finalValAccuracy = finalValAccuracy; self.wallSeconds = wallSeconds
        self.error = error
    }

    /// Writes nulls explicitly: a censored or missing value is data, not an absent key.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(trialID, forKey: .trialID)
        try c.encode(params, forKey: .params)
        try c.encode(status, forKey: .status)
        try c.encode(iterations, forKey: .iterations)
        try c.encode(finalLoss.flatMap { $0.isFinite ? $0 : nil }, forKey: .finalLoss)
        try c.encode(finalValAccuracy, forKey: .finalValAccuracy)
        try c.encode(wallSeconds, forKey: .wallSeconds)
        try c.encode(error, forKey: .error)
        try c.encodeOrNull(detectedAt, forKey: .detectedAt)
        try c.encodeIfPresent(freeze, forKey: .freeze)
    }
}

extension Trainer {
    /// The result of the trial as it stands (call after `run()` or a failure).
    public func result(wallSeconds: Double, failure: Error? = nil) -> TrialResult {
        var status = TrialResult.Status.ok
        switch failure {
        case nil: break
        case is Trainer.Failure: status = .diverged
        case is TrialTimeout: status = .timedOut
        default: status = .failed
        }
        var result = TrialResult(trialID: spec.trialID, params: spec, status: status, iterations: iteration,
                                 finalLoss: lastLoss.isFinite ? lastLoss : nil,
                                 finalValAccuracy: curve.valAccuracy.last ?? nil, wallSeconds: wallSeconds,
                                 error: failure.map { "\($0)" })
        result.detectedAt = detector.detectedAt
        result.freeze = spec.gates.map { FreezeSummary(gates: $0, frozenAt: gates?.frozenAt, detectedAt: detector.detectedAt) }
        return result
    }
}

/// A trial stopped because it ran longer than the sweep's `trial_timeout`.
public struct TrialTimeout: Error, CustomStringConvertible {
    public var seconds: Double
    public var iteration: Int
    public init(seconds: Double, iteration: Int) { self.seconds = seconds; self.iteration = iteration }
    public var description: String { "timed out after \(String(format: "%.1f", seconds)) s at iteration \(iteration)" }
}
