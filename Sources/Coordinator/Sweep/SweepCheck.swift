import Foundation
import RegimeCore
import SweepStore

/// Every check `regime sweep` makes before it runs or writes anything, in one place, so that
/// `regime plan` refuses exactly what `regime sweep` would (new sweeps, and resumed or extended
/// ones alike). Parsing the file has already applied every rule that needs no data
/// (`TrialSpec.validate`: shapes, sizes, overflow). This then
/// 1. reads every data set the sweep names, once (a missing or corrupt file, or a subset larger
///    than its split, stops here);
/// 2. checks each trial against its data as read (`TrialSpec.validate(data:)`: shapes, batch size);
/// 3. checks each trial's memory (`ResourceEstimate`, with the data sets this rank then holds)
///    against the memory a rank has.
/// Each error is one line naming the file, the line and the key of the setting to change.
struct SweepCheck {
    /// The data sets read while checking (rank 0 reuses them for its own trials).
    let cache: DatasetCache
    /// The trial with the largest memory estimate, and that estimate.
    let largest: (index: Int, estimate: ResourceEstimate)

    init(_ sweep: SweepFile, budget: MemoryBudget) throws {
        let cache = DatasetCache()
        var prepared: [PreparedData] = []
        for (index, trial) in sweep.trials.enumerated() {
            do {
                let data = try cache.prepare(trial.dataset)
                try trial.validate(data: data)
                prepared.append(data)
            } catch let error as SpecError {
                throw Self.error(sweep, trial: index, key: error.key, error.description)
            } catch {
                throw Self.error(sweep, trial: index, key: "dataset", "dataset: \(error)")
            }
        }
        let dataBytes = cache.heldBytes
        var largest: (index: Int, estimate: ResourceEstimate)?
        for (index, trial) in sweep.trials.enumerated() {
            // A sweep always checkpoints (`CheckpointCadence.sweepDefault` when its file sets no cadence).
            let estimate = try ResourceEstimate(spec: trial, data: prepared[index], checkpoints: true, dataBytes: dataBytes)
            do {
                try estimate.check(budget)
            } catch let shortfall as ResourceShortfall {
                let (label, line) = Self.locate(sweep, trial: index, key: shortfall.blamedKey)
                throw SweepError(file: sweep.path, line: line, shortfall.message(naming: label))
            }
            if largest == nil || estimate.total > largest!.estimate.total { largest = (index, estimate) }
        }
        self.cache = cache
        self.largest = largest!
    }

    /// Where setting `key` (e.g. `dataset.probe_subset`) of a trial was written: its top-level
    /// key's source, if the file names one.
    static func source(_ sweep: SweepFile, trial: Int, key: String) -> (root: String, source: SettingSource?) {
        let root = key.split(separator: ".").first.map(String.init) ?? key
        return (root, trial < sweep.sources.count ? sweep.sources[trial][root] : nil)
    }

    /// How the sweep file names setting `key` of a trial, and its line: `dataset.probe_subset` when
    /// the dataset is set at the top level, `grid.dataset[1].probe_subset` when it comes from the grid.
    static func locate(_ sweep: SweepFile, trial: Int, key: String) -> (label: String, line: Int?) {
        let (root, source) = Self.source(sweep, trial: trial, key: key)
        guard let source else { return (key, nil) }
        return (source.label + key.dropFirst(root.count), source.line)
    }

    /// "FILE:LINE: MESSAGE", the message prefixed with the grid value it concerns when there is one.
    static func error(_ sweep: SweepFile, trial: Int, key: String, _ message: String) -> SweepError {
        let source = Self.source(sweep, trial: trial, key: key).source
        let prefix = source?.isGrid == true ? "\(source!.label): " : ""
        return SweepError(file: sweep.path, line: source?.line, prefix + message)
    }

    /// One line for `regime plan`: the largest trial's memory against the budget.
    func memoryLine(_ sweep: SweepFile, budget: MemoryBudget) -> String {
        let (index, estimate) = largest
        return "memory: at most \(formatBytes(estimate.total)) per rank (trial \(sweep.trials[index].trialID), arch '\(estimate.spec.arch)': \(estimate.largestTerms)); a rank has \(budget)"
    }
}
