import Foundation
import RegimeCore

/// Trials that differ only in their seed form a group: the unit of cross-seed statistics.
public struct TrialGroup: Sendable {
    public var id: String
    /// The shared spec with seed 0 (for display and summary files).
    public var spec: TrialSpec
    public var trialIndices: [Int]
    /// Recorded iterations of every trial in the group (identical: same iterations and record_every).
    public var iterations: [Int]

    /// A short human label: arch, optimizer and its main settings, schedule.
    public var label: String {
        var optimizer = "\(spec.optimizer.kind.rawValue) lr=\(spec.optimizer.lr)"
        if spec.optimizer.kind == .sgd && spec.optimizer.momentum > 0 {
            optimizer += " m=\(spec.optimizer.momentum)\(spec.optimizer.nesterov ? " nesterov" : "")"
        }
        if spec.optimizer.weightDecay > 0 { optimizer += " wd=\(spec.optimizer.weightDecay)" }
        var schedule = spec.schedule.kind.rawValue
        if spec.schedule.warmup > 0 { schedule += "+warmup\(spec.schedule.warmup)" }
        let gates = spec.gates.map { " freeze=\($0.freezeAt)" } ?? ""
        return "\(spec.arch) \(optimizer) \(schedule) b=\(spec.batchSize) T=\(spec.iterations)\(gates)"
    }

    /// Groups in order of first appearance in `trials`.
    public static func make(_ trials: [TrialSpec]) -> [TrialGroup] {
        var groups: [TrialGroup] = []
        var index: [String: Int] = [:]
        for (i, trial) in trials.enumerated() {
            var shared = trial
            shared.seed = 0
            let id = String(shared.trialID.prefix(12))
            if let g = index[id] {
                groups[g].trialIndices.append(i)
            } else {
                index[id] = groups.count
                groups.append(TrialGroup(id: id, spec: shared, trialIndices: [i], iterations: recordedIterations(trial)))
            }
        }
        return groups
    }

    /// The iterations at which a trial records its instruments.
    public static func recordedIterations(_ spec: TrialSpec) -> [Int] {
        (1...spec.iterations).filter { $0 % spec.recordEvery == 0 || $0 == spec.iterations }
    }
}
