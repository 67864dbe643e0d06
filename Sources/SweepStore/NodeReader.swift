import Foundation
import RegimeAnalysis
import RegimeCore
import Yams

/// Typed reads of YAML nodes, each failure an error naming the file, line and key and what was expected.
struct NodeReader {
    let file: String

    func error(_ node: Node, _ message: String) -> SweepError {
        SweepError(file: file, line: node.mark?.line, message)
    }

    func mapping(_ node: Node, key: String) throws -> [(String, Node)] {
        guard case .mapping(let mapping) = node else { throw error(node, "\(key): expected a mapping of keys to values") }
        var pairs: [(String, Node)] = []
        for (k, v) in mapping {
            guard let name = k.scalar?.string else { throw error(k, "\(key): keys must be plain strings") }
            if pairs.contains(where: { $0.0 == name }) { throw error(k, "\(key): key '\(name)' appears twice") }
            pairs.append((name, v))
        }
        return pairs
    }

    func scalarText(_ node: Node, key: String, expected: String) throws -> String {
        guard let scalar = node.scalar else { throw error(node, "\(key): expected \(expected)") }
        return scalar.string
    }

    func string(_ node: Node, key: String) throws -> String {
        let text = try scalarText(node, key: key, expected: "a string")
        guard !text.isEmpty else { throw error(node, "\(key): expected a non-empty string") }
        return text
    }

    func int(_ node: Node, key: String) throws -> Int {
        let text = try scalarText(node, key: key, expected: "an integer")
        guard let value = Int(text) else { throw error(node, "\(key): expected an integer, got '\(text)'") }
        return value
    }

    func positiveInt(_ node: Node, key: String) throws -> Int {
        let value = try int(node, key: key)
        guard value > 0 else { throw error(node, "\(key): expected a positive integer, got \(value)") }
        return value
    }

    func nonNegativeInt(_ node: Node, key: String) throws -> Int {
        let value = try int(node, key: key)
        guard value >= 0 else { throw error(node, "\(key): expected an integer >= 0, got \(value)") }
        return value
    }

    func seed(_ node: Node, key: String) throws -> UInt64 {
        let text = try scalarText(node, key: key, expected: "a non-negative integer seed")
        guard let value = UInt64(text) else { throw error(node, "\(key): expected a non-negative integer seed, got '\(text)'") }
        return value
    }

    func double(_ node: Node, key: String) throws -> Double {
        let text = try scalarText(node, key: key, expected: "a number")
        guard let value = Double(text), value.isFinite else { throw error(node, "\(key): expected a number, got '\(text)'") }
        return value
    }

    func positiveDouble(_ node: Node, key: String) throws -> Double {
        let value = try double(node, key: key)
        guard value > 0 else { throw error(node, "\(key): expected a positive number, got \(value)") }
        return value
    }

    func bool(_ node: Node, key: String) throws -> Bool {
        let text = try scalarText(node, key: key, expected: "true or false")
        switch text.lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        default: throw error(node, "\(key): expected true or false, got '\(text)'")
        }
    }

    /// Reads a mapping whose keys must all be in `known`.
    func fields(_ node: Node, key: String, known: [String]) throws -> [String: Node] {
        var out: [String: Node] = [:]
        for (name, value) in try mapping(node, key: key) {
            guard known.contains(name) else {
                throw error(value, "unknown key '\(key).\(name)'\(suggestion(name, known)); expected one of: \(known.joined(separator: ", "))")
            }
            out[name] = value
        }
        return out
    }

    // MARK: Trial settings

    func trialSpec(_ settings: [(String, Node)]) throws -> TrialSpec {
        var values: [String: Node] = [:]
        for (key, node) in settings { values[key] = node }
        func required(_ key: String) throws -> Node {
            guard let node = values[key] else {
                throw SweepError(file: file, line: nil, "missing trial setting '\(key)' (set it at the top level or in the grid)")
            }
            return node
        }
        let archNode = try required("arch")
        let arch = try string(archNode, key: "arch")
        do { _ = try Architecture(parsing: arch) } catch { throw self.error(archNode, "\(error)") }
        let datasetNode = try required("dataset")
        let dataset = try datasetSpec(datasetNode)
        let optimizerNode = try required("optimizer")
        let optimizer = try optimizerSpec(optimizerNode)
        let iterationsNode = try required("iterations")
        let iterations = try positiveInt(iterationsNode, key: "iterations")
        let schedule = try values["schedule"].map { try scheduleSpec($0) } ?? LearningRateSchedule()
        var spec = TrialSpec(
            arch: arch, dataset: dataset, optimizer: optimizer, schedule: schedule,
            batchSize: try positiveInt(try required("batch_size"), key: "batch_size"),
            iterations: iterations, seed: try seed(try required("seed"), key: "seed"))
        if let node = values["record_every"] { spec.recordEvery = try positiveInt(node, key: "record_every") }
        if let node = values["eval_every"] { spec.evalEvery = try positiveInt(node, key: "eval_every") }
        spec.gates = try values["gates"].flatMap { try gateSpec($0) }
        // Cross-field checks (schedule vs iterations, arch vs data set) name the setting they blame.
        do {
            try spec.validate()
        } catch let error as SpecError {
            throw self.error(values[error.rootKey] ?? archNode, error.description)
        }
        return spec
    }

    func datasetSpec(_ node: Node) throws -> DatasetSpec {
        let f = try fields(node, key: "dataset", known: ["name", "path", "train_subset", "probe_subset", "probe_seed", "val_subset"])
        guard let nameNode = f["name"] else { throw error(node, "dataset: missing key 'name' (one of \(DatasetSpec.knownNames.joined(separator: ", ")))") }
        let name = try string(nameNode, key: "dataset.name")
        guard DatasetSpec.knownNames.contains(name) else {
            throw error(nameNode, "dataset.name: unknown data set '\(name)'\(suggestion(name, DatasetSpec.knownNames)); known: \(DatasetSpec.knownNames.joined(separator: ", "))")
        }
        var spec = DatasetSpec(name: name)
        if let n = f["path"] { spec.path = try string(n, key: "dataset.path") }
        if let n = f["train_subset"] { spec.trainSubset = try positiveInt(n, key: "dataset.train_subset") }
        if let n = f["probe_subset"] { spec.probeSubset = try positiveInt(n, key: "dataset.probe_subset") }
        if let n = f["probe_seed"] { spec.probeSeed = try seed(n, key: "dataset.probe_seed") }
        if let n = f["val_subset"] { spec.valSubset = try positiveInt(n, key: "dataset.val_subset") }
        return spec
    }

    func optimizerSpec(_ node: Node) throws -> OptimizerSpec {
        let known = ["name", "lr", "momentum", "nesterov", "weight_decay", "beta1", "beta2", "eps"]
        let f = try fields(node, key: "optimizer", known: known)
        guard let nameNode = f["name"] else { throw error(node, "optimizer: missing key 'name' (sgd, adam or adamw)") }
        let name = try string(nameNode, key: "optimizer.name")
        guard let kind = OptimizerSpec.Kind(rawValue: name) else {
            let names = OptimizerSpec.Kind.allCases.map(\.rawValue)
            throw error(nameNode, "optimizer.name: unknown optimizer '\(name)'\(suggestion(name, names)); known: \(names.joined(separator: ", "))")
        }
        guard let lrNode = f["lr"] else { throw error(node, "optimizer: missing key 'lr' (the base learning rate)") }
        var spec = OptimizerSpec(kind: kind, lr: try positiveDouble(lrNode, key: "optimizer.lr"))
        if let n = f["momentum"] { spec.momentum = try double(n, key: "optimizer.momentum") }
        if let n = f["nesterov"] { spec.nesterov = try bool(n, key: "optimizer.nesterov") }
        if let n = f["weight_decay"] { spec.weightDecay = try double(n, key: "optimizer.weight_decay") }
        if let n = f["beta1"] { spec.beta1 = try double(n, key: "optimizer.beta1") }
        if let n = f["beta2"] { spec.beta2 = try double(n, key: "optimizer.beta2") }
        if let n = f["eps"] { spec.eps = try double(n, key: "optimizer.eps") }
        if kind != .sgd, f["momentum"] != nil || f["nesterov"] != nil {
            throw error(node, "optimizer: 'momentum'/'nesterov' apply to sgd only (\(name) has beta1/beta2)")
        }
        if kind == .sgd, f["beta1"] != nil || f["beta2"] != nil || f["eps"] != nil {
            throw error(node, "optimizer: 'beta1'/'beta2'/'eps' apply to adam and adamw only")
        }
        do { try spec.validate() } catch { throw self.error(node, "\(error)") }
        return spec
    }

    func scheduleSpec(_ node: Node) throws -> LearningRateSchedule {
        let names = LearningRateSchedule.Kind.allCases.map(\.rawValue)
        func kind(_ text: String, _ at: Node) throws -> LearningRateSchedule.Kind {
            guard let kind = LearningRateSchedule.Kind(rawValue: text) else {
                throw error(at, "schedule.name: unknown schedule '\(text)'\(suggestion(text, names)); known: \(names.joined(separator: ", "))")
            }
            return kind
        }
        if let scalar = node.scalar { return LearningRateSchedule(kind: try kind(scalar.string, node)) }
        let f = try fields(node, key: "schedule", known: ["name", "warmup", "step_size", "gamma", "lr_min"])
        guard let nameNode = f["name"] else { throw error(node, "schedule: missing key 'name' (\(names.joined(separator: ", ")))") }
        var schedule = LearningRateSchedule(kind: try kind(try string(nameNode, key: "schedule.name"), nameNode))
        if let n = f["warmup"] { schedule.warmup = try nonNegativeInt(n, key: "schedule.warmup") }
        if let n = f["step_size"] { schedule.stepSize = try positiveInt(n, key: "schedule.step_size") }
        if let n = f["gamma"] { schedule.gamma = try positiveDouble(n, key: "schedule.gamma") }
        if let n = f["lr_min"] { schedule.lrMin = try double(n, key: "schedule.lr_min") }
        return schedule
    }

    /// `gates: {freeze_at: N | auto | never, window, drop, flattening, patience}`; nil for "never"
    /// with the default detector (the same trial as no `gates`). `freeze_at` below the trial's
    /// iterations is checked with the whole spec.
    func gateSpec(_ node: Node) throws -> GateSpec? {
        let f = try fields(node, key: "gates", known: ["freeze_at"] + RegimeDetectorOptions.keys)
        let expected = "a number of optimizer steps (0, 1, ...), 'auto' or 'never'"
        guard let freezeNode = f["freeze_at"] else { throw error(node, "gates: missing key 'freeze_at' (\(expected))") }
        let text = try scalarText(freezeNode, key: "gates.freeze_at", expected: expected)
        guard let freezeAt = GateSpec.FreezeAt(text: text) else {
            throw error(freezeNode, "gates.freeze_at: expected \(expected), got '\(text)'")
        }
        if case .step(let n) = freezeAt, n < 0 { throw error(freezeNode, "gates.freeze_at: expected \(expected), got \(n)") }
        var detector = RegimeDetectorOptions()
        if let n = f["window"] { detector.window = try positiveInt(n, key: "gates.window") }
        if let n = f["drop"] { detector.drop = try double(n, key: "gates.drop") }
        if let n = f["flattening"] { detector.flattening = try double(n, key: "gates.flattening") }
        if let n = f["patience"] { detector.patience = try positiveInt(n, key: "gates.patience") }
        do { try detector.validate() } catch { throw self.error(node, "\(error)") }
        return GateSpec.setting(freezeAt: freezeAt, detector: detector)
    }

    // MARK: Analysis settings

    /// The `analysis:` mapping (``AnalysisOptions``; keys as in its JSON form). `key` names the
    /// mapping in errors (`analysis`).
    func analysisOptions(_ node: Node, key: String = "analysis") throws -> AnalysisOptions {
        let f = try fields(node, key: key, known: ["smoothing", "thresholds", "reference", "epsilon_grid", "area_fraction",
                                                   "knee_flattening", "knee_minimum_improvement", "minimum_decay_factor",
                                                   "time_constant_floor", "minimum_fit_points", "theil_sen_max_points",
                                                   "settling"])
        var options = AnalysisOptions()
        func numbers(_ n: Node, _ name: String) throws -> [Double] {
            guard case .sequence(let list) = n else { throw error(n, "\(key).\(name): expected a list of numbers in (0, 1)") }
            return try list.map { try double($0, key: "\(key).\(name)") }
        }
        if let n = f["smoothing"] { options.smoothing = try positiveInt(n, key: "\(key).smoothing") }
        if let n = f["thresholds"] { options.thresholds = try numbers(n, "thresholds") }
        options.epsilonGrid = try f["epsilon_grid"].map { try numbers($0, "epsilon_grid") }
            ?? Array(Set(AnalysisOptions().epsilonGrid + options.thresholds)).sorted()
        if let n = f["reference"] { options.normalization = try reference(n, key: "\(key).reference") }
        if let n = f["area_fraction"] { options.areaFraction = try double(n, key: "\(key).area_fraction") }
        if let n = f["knee_flattening"] { options.kneeFlattening = try double(n, key: "\(key).knee_flattening") }
        if let n = f["knee_minimum_improvement"] {
            options.kneeMinimumImprovement = try double(n, key: "\(key).knee_minimum_improvement")
        }
        if let n = f["minimum_decay_factor"] { options.minimumDecayFactor = try double(n, key: "\(key).minimum_decay_factor") }
        if let n = f["time_constant_floor"] { options.timeConstantFloor = try double(n, key: "\(key).time_constant_floor") }
        if let n = f["minimum_fit_points"] { options.minimumFitPoints = try positiveInt(n, key: "\(key).minimum_fit_points") }
        if let n = f["theil_sen_max_points"] { options.theilSenMaxPoints = try positiveInt(n, key: "\(key).theil_sen_max_points") }
        if let n = f["settling"] { options.settling = try numbers(n, "settling") }
        do { try options.validate() } catch { throw self.error(node, "\(key): \(error)") }
        return options
    }

    /// `{mode: early_peak, window: H, skip: k}`, `{mode: value_at, iteration: I}` or
    /// `{mode: fraction, fraction: f}`.
    func reference(_ node: Node, key: String) throws -> DecayNormalization {
        let f = try fields(node, key: key, known: ["mode", "window", "skip", "iteration", "fraction"])
        guard let modeNode = f["mode"] else { throw error(node, "\(key): missing 'mode' (early_peak, value_at or fraction)") }
        switch try string(modeNode, key: "\(key).mode") {
        case "early_peak":
            if let n = f["iteration"] { throw error(n, "\(key).iteration: goes with mode value_at, not early_peak") }
            if let n = f["fraction"] { throw error(n, "\(key).fraction: goes with mode fraction, not early_peak") }
            guard case .earlyPeak(let window, let skip) = DecayNormalization.standard else { preconditionFailure() }
            return .earlyPeak(window: try f["window"].map { try positiveInt($0, key: "\(key).window") } ?? window,
                              skip: try f["skip"].map { try nonNegativeInt($0, key: "\(key).skip") } ?? skip)
        case "value_at":
            guard let n = f["iteration"] else { throw error(node, "\(key): mode value_at needs 'iteration'") }
            if let w = f["window"] ?? f["skip"] ?? f["fraction"] { throw error(w, "\(key): window, skip and fraction go with other modes") }
            return .valueAt(iteration: try positiveInt(n, key: "\(key).iteration"))
        case "fraction":
            guard let n = f["fraction"] else { throw error(node, "\(key): mode fraction needs 'fraction'") }
            if let w = f["window"] ?? f["skip"] ?? f["iteration"] { throw error(w, "\(key): window, skip and iteration go with other modes") }
            return .fractionOfRun(try double(n, key: "\(key).fraction"))
        case let other:
            throw error(modeNode, "\(key).mode: expected early_peak, value_at or fraction, got '\(other)'")
        }
    }
}
