import Foundation
import RegimeCore

/// Runs one trial on this rank: loads its data (through a cache shared by the rank's trials),
/// trains, and turns any failure into a recorded result instead of an exit.
public struct TrialRunner {
    public let cache: DatasetCache
    /// Called after every iteration with the trainer; a sweep's rank 0 serves other ranks here.
    public var betweenIterations: (Trainer) -> Void = { _ in }

    public init(cache: DatasetCache = DatasetCache()) { self.cache = cache }

    /// A finished trial: its result and its curve (the curve may be partial if it failed).
    public struct Outcome {
        public var result: TrialResult
        public var curve: Curve?
    }

    public func run(_ spec: TrialSpec) -> Outcome {
        let start = Date()
        let trainer: Trainer
        do {
            trainer = try Trainer(spec: spec, data: try cache.prepare(spec.dataset))
        } catch {
            let result = TrialResult(trialID: spec.trialID, params: spec, status: .failed, iterations: 0, finalLoss: nil,
                                     finalValAccuracy: nil, wallSeconds: Date().timeIntervalSince(start), decay: nil,
                                     error: "\(error)")
            return Outcome(result: result, curve: nil)
        }
        var failure: Error?
        do {
            try trainer.run { _ in betweenIterations(trainer) }
        } catch {
            failure = error
        }
        return Outcome(result: trainer.result(wallSeconds: Date().timeIntervalSince(start), failure: failure),
                       curve: trainer.curve)
    }
}
