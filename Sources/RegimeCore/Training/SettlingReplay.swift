import Foundation

/// What the settling replay compares with: a finished trial's final parameters θ_T and final probe
/// patterns, and when a gated trial froze its gates (docs/numerics.md, "Settling to the final
/// state"). A copy: the trainer that produced it can be released before the replay.
public struct SettlingTarget {
    public let spec: TrialSpec
    public let parameters: FloatBuffer
    public let patterns: PatternSet
    /// The iteration after which the gates froze (nil: never, or not a gated trial).
    public let gatesFrozenAt: Int?
}

extension Trainer {
    /// The final state of a finished trial, for ``SettlingReplay``: θ_T copied and the probe
    /// patterns measured at θ_T (one probe pass).
    public func settlingTarget() -> SettlingTarget {
        precondition(isFinished, "the settling target is the state of a finished trial")
        let theta = FloatBuffer(count: parameters.count)
        theta.copy(from: parameters)
        let patterns = PatternSet(exampleCount: initialPatterns.exampleCount, unitsPerExample: initialPatterns.unitsPerExample)
        measurePatterns(into: patterns)
        return SettlingTarget(spec: spec, parameters: theta, patterns: patterns, gatesFrozenAt: gates?.frozenAt)
    }
}

/// The distance-to-final curve of a finished trial, by replaying its training deterministically.
///
/// The distance of θ_s to θ_T needs θ_T, which exists only at the end. Instead of keeping
/// snapshots of θ_s (4P bytes each: 256 snapshots of the paper MLP are 276 MB, on a worker's
/// local disk that a resume on another host would not see), the trial is trained a second time
/// from its seed with a trainer that records nothing but the last iteration: the same batches, the
/// same steps, the same Floats (a trial's result depends only on its spec and seed), stopping at
/// each ``SettlingSchedule`` iteration to measure the probe patterns and the distances to the
/// target. A gated trial's replay freezes at the iteration the trial froze (also after `auto`).
///
/// Memory: the replay trainer (the trained one is released first) plus θ_T and two pattern sets.
/// Disk: none. Time: T untracked steps, 257+ probe passes and one validation pass. Everything the
/// replay needs is the spec and θ_T, so a trial killed during its replay resumes from its last
/// checkpoint, finishes training and replays again: the same curve, bit for bit.
///
/// The replay checks itself: at T its parameters must equal θ_T bit for bit, or it throws.
public enum SettlingReplay {
    /// The spec the replay trains: `spec` recording only its last iteration, validating only
    /// there, and with the gates (if any froze before T) frozen at `gatesFrozenAt` as a number.
    static func replaySpec(_ target: SettlingTarget) -> TrialSpec {
        var spec = target.spec
        spec.recordEvery = spec.iterations
        spec.evalEvery = spec.iterations
        spec.gates = target.gatesFrozenAt.flatMap { $0 < spec.iterations ? GateSpec(freezeAt: .step($0)) : nil }
        return spec
    }

    /// Replays the trial of `target` on `data` and returns its settling curve. `between` is called
    /// with the replaying trainer after every step (progress, timeouts, a stopping sweep); an error
    /// it throws stops the replay.
    public static func run(_ target: SettlingTarget, data: PreparedData,
                           between: (Trainer) throws -> Void = { _ in }) throws -> SettlingCurve {
        let replay = try Trainer(spec: replaySpec(target), data: data)
        let groups = replay.network.parameterGroups
        var curve = SettlingCurve(layerNames: groups.map(\.name), patternLayerNames: replay.network.patternLayers.map(\.name))
        let patterns = PatternSet(exampleCount: target.patterns.exampleCount, unitsPerExample: target.patterns.unitsPerExample)
        func measure() {
            let t = replay.iteration
            if t == 0 { patterns.copy(from: replay.initialPatterns) } else { replay.measurePatterns(into: patterns) }
            let pairs = (0..<patterns.unitsPerExample.count).map { patterns.differingPairs(layer: $0, from: target.patterns) }
            curve.append(iteration: t, differingPairs: pairs,
                         weight: WeightUpdate(new: replay.parameters.pointer, old: target.parameters.pointer, groups: groups))
        }
        let snapshots = SettlingSchedule.iterations(total: target.spec.iterations)
        var next = 0
        if snapshots[next] == 0 { measure(); next += 1 }
        while !replay.isFinished {
            try replay.step()
            try between(replay)
            if next < snapshots.count, replay.iteration == snapshots[next] { measure(); next += 1 }
        }
        guard memcmp(replay.parameters.pointer, target.parameters.pointer, target.parameters.count * MemoryLayout<Float>.stride) == 0
        else {
            throw SettlingError("the settling replay of trial \(target.spec.trialID) did not reproduce its trained parameters at iteration \(target.spec.iterations): training is not deterministic")
        }
        return curve
    }
}

/// The settling replay could not measure a trial.
public struct SettlingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
