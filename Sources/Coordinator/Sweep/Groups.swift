import Foundation
import RegimeCore

/// Trials that differ only in their seed form a group: the unit of cross-seed statistics.
struct TrialGroup {
    var id: String
    /// The shared spec with seed 0 (for display and summary files).
    var spec: TrialSpec
    var trialIndices: [Int]
    /// Recorded iterations of every trial in the group (identical: same iterations and record_every).
    var iterations: [Int]

    /// A short human label: arch, optimizer and its main settings, schedule.
    var label: String {
        var optimizer = "\(spec.optimizer.kind.rawValue) lr=\(spec.optimizer.lr)"
        if spec.optimizer.kind == .sgd && spec.optimizer.momentum > 0 {
            optimizer += " m=\(spec.optimizer.momentum)\(spec.optimizer.nesterov ? " nesterov" : "")"
        }
        if spec.optimizer.weightDecay > 0 { optimizer += " wd=\(spec.optimizer.weightDecay)" }
        var schedule = spec.schedule.kind.rawValue
        if spec.schedule.warmup > 0 { schedule += "+warmup\(spec.schedule.warmup)" }
        return "\(spec.arch) \(optimizer) \(schedule) b=\(spec.batchSize) T=\(spec.iterations)"
    }

    /// Groups in order of first appearance in `trials`.
    static func make(_ trials: [TrialSpec]) -> [TrialGroup] {
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
    static func recordedIterations(_ spec: TrialSpec) -> [Int] {
        (1...spec.iterations).filter { $0 % spec.recordEvery == 0 || $0 == spec.iterations }
    }
}

/// The instruments whose per-iteration mean and standard deviation a sweep reports per group.
enum CurveInstrument: String, CaseIterable {
    case loss
    case weightUpdateAbs = "weight_update_abs"
    case weightUpdateRel = "weight_update_rel"
    case patternChange = "pattern_change"
    case patternChangeInit = "pattern_change_init"
}

/// Per-group, per-instrument exact moment accumulators over the curves a rank has seen, laid out
/// in one fixed order so that every rank's words line up for one MPI reduction.
struct CurveMoments {
    let groups: [TrialGroup]
    private(set) var moments: [[ExactMoments]]  // [group][instrument]
    private let groupOfTrial: [Int: Int]

    init(groups: [TrialGroup]) {
        self.groups = groups
        moments = groups.map { g in CurveInstrument.allCases.map { _ in ExactMoments(length: g.iterations.count) } }
        var map: [Int: Int] = [:]
        for (g, group) in groups.enumerated() { for t in group.trialIndices { map[t] = g } }
        groupOfTrial = map
    }

    mutating func add(trial: Int, curve: Curve) {
        guard let g = groupOfTrial[trial] else { return }
        for (k, instrument) in CurveInstrument.allCases.enumerated() {
            moments[g][k].add(curve.column(instrument.rawValue) ?? [])
        }
    }

    var words: [Int64] { moments.flatMap { $0.flatMap(\.words) } }

    mutating func replaceWords(_ all: [Int64]) {
        var offset = 0
        for g in moments.indices {
            for k in moments[g].indices {
                let n = moments[g][k].words.count
                moments[g][k] = ExactMoments(length: moments[g][k].length, words: Array(all[offset..<(offset + n)]))!
                offset += n
            }
        }
    }
}
