import Foundation
import RegimeAnalysis
import RegimeCore
import Yams

/// A sweep file: trial settings at the top level and a `grid` whose lists multiply into trials.
///
/// ```yaml
/// name: quick
/// dataset: {name: fashion-mnist, train_subset: 10000, probe_subset: 512, probe_seed: 7}
/// iterations: 1500
/// batch_size: 128
/// checkpoint_every: 250
/// analysis: {smoothing: 25, thresholds: [0.05, 0.1, 0.2]}
/// grid:
///   seed: [1, 2, 3]
///   arch: ["mlp:784-256-256-10"]
///   optimizer:
///     - {name: sgd, lr: 0.05, momentum: 0.9}
///     - {name: adam, lr: 0.001}
/// ```
/// Trial settings (at the top level or as a grid list): `arch`, `dataset`, `optimizer`,
/// `schedule`, `iterations`, `batch_size`, `seed`, `record_every`, `eval_every`, `gates`, `null_model`.
/// Sweep settings (top level only): `name`, `checkpoint_every` (steps, or seconds as `60s`;
/// default `60s`), `trial_timeout` (seconds), and
/// `analysis` (``AnalysisOptions``: how the stored curves are analysed; it is not part of any
/// trial, so changing it renames no trial and is applied by `regime analyze` without training).
/// The trials are the product of the grid lists, in the order the keys are written, the last key
/// varying fastest. Everything is validated before anything runs; errors name the file, the line
/// and the key.
public struct SweepFile: Sendable {
    public var name: String
    public var path: String
    public var text: String
    public var checkpointEvery: CheckpointCadence
    public var trialTimeout: Double?
    public var analysis: AnalysisOptions
    public var trials: [TrialSpec]
    /// Per trial, where each of its settings was written (for errors found after parsing).
    public var sources: [[String: SettingSource]] = []

    public static let trialKeys = ["arch", "dataset", "optimizer", "schedule", "iterations", "batch_size", "seed",
                                   "record_every", "eval_every", "gates", "null_model"]
    public static let sweepKeys = ["name", "checkpoint_every", "trial_timeout", "analysis", "grid"]

    /// The error for a `decay:` mapping, the analysis settings' place in regime 0.1.
    static func movedDecay(_ reader: NodeReader, _ node: Node, at place: String) -> SweepError {
        reader.error(node, "\(place)'decay' is no longer a trial setting: move its keys to a top-level 'analysis:' section (analysis settings change no trial and no trial id; peak_window/peak_skip become reference: {mode: early_peak, window: W, skip: S})")
    }

    public static func load(path: String) throws -> SweepFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SweepError(file: path, line: nil, "cannot read the file (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SweepError(file: path, line: nil, "not UTF-8 text")
        }
        return try parse(text: text, path: path)
    }

    public static func parse(text: String, path: String) throws -> SweepFile {
        let root = try composeRoot(text, path: path)
        let reader = NodeReader(file: path)
        let top = try reader.mapping(root, key: "top level")
        var common: [(String, Node)] = []
        var grid: [(String, Node)] = []
        var name: String?
        var checkpointEvery = CheckpointCadence.sweepDefault
        var trialTimeout: Double?
        var analysis = AnalysisOptions()
        for (key, value) in top {
            switch key {
            case "name": name = try reader.string(value, key: key)
            case "checkpoint_every":
                guard case .scalar(let scalar) = value, let cadence = CheckpointCadence(parsing: scalar.string) else {
                    throw reader.error(value, "checkpoint_every: expected a positive number of iterations (250) or of seconds (60s)")
                }
                checkpointEvery = cadence
            case "trial_timeout": trialTimeout = try reader.positiveDouble(value, key: key)
            case "analysis": analysis = try reader.analysisOptions(value)
            case "decay": throw movedDecay(reader, value, at: "")
            case "grid":
                for (gridKey, list) in try reader.mapping(value, key: "grid") {
                    if gridKey == "decay" { throw movedDecay(reader, list, at: "grid: ") }
                    guard trialKeys.contains(gridKey) else {
                        throw reader.error(list, "unknown grid key 'grid.\(gridKey)'\(suggestion(gridKey, trialKeys)); grid keys are trial settings: \(trialKeys.joined(separator: ", "))")
                    }
                    guard case .sequence(let sequence) = list else {
                        throw reader.error(list, "grid.\(gridKey): expected a list of values, e.g. [1, 2, 3]")
                    }
                    guard !sequence.isEmpty else { throw reader.error(list, "grid.\(gridKey): empty list (the grid would have no trials)") }
                    if common.contains(where: { $0.0 == gridKey }) {
                        throw reader.error(list, "'\(gridKey)' is set both at the top level and in the grid")
                    }
                    grid.append((gridKey, list))
                }
            default:
                guard trialKeys.contains(key) else {
                    throw reader.error(value, "unknown key '\(key)'\(suggestion(key, trialKeys + sweepKeys))")
                }
                if grid.contains(where: { $0.0 == key }) {
                    throw reader.error(value, "'\(key)' is set both at the top level and in the grid")
                }
                common.append((key, value))
            }
        }
        guard let name else { throw SweepError(file: path, line: nil, "missing key 'name' (the sweep's name)") }
        guard top.contains(where: { $0.0 == "grid" }) else {
            throw SweepError(file: path, line: nil, "missing key 'grid' (lists of trial settings whose product is the trials)")
        }
        guard !grid.isEmpty else { throw SweepError(file: path, line: nil, "grid: empty (expected at least one key with a list)") }

        // The product of the grid lists, last key fastest.
        var combinations: [[(String, Node)]] = [[]]
        var origins: [[String: SettingSource]] = [[:]]
        for (key, list) in grid {
            let values = Array(list.sequence!)
            combinations = combinations.flatMap { prefix in values.map { prefix + [(key, $0)] } }
            origins = origins.flatMap { prefix in values.indices.map { prefix.merging([key: SettingSource(grid: key, index: $0, node: values[$0])]) { $1 } } }
        }
        let commonSources = Dictionary(common.map { ($0.0, SettingSource(key: $0.0, node: $0.1)) }, uniquingKeysWith: { a, _ in a })
        var trials: [TrialSpec] = []
        var sources: [[String: SettingSource]] = []
        var seen: [String: Int] = [:]
        for (index, combination) in combinations.enumerated() {
            let settings = common + combination
            let spec = try reader.trialSpec(settings)
            if let other = seen[spec.trialID] {
                throw SweepError(file: path, line: nil, "trials \(other + 1) and \(trials.count + 1) of the grid are identical (id \(spec.trialID)): the grid repeats a value")
            }
            seen[spec.trialID] = trials.count
            trials.append(spec)
            sources.append(commonSources.merging(origins[index]) { $1 })
        }
        return SweepFile(name: name, path: path, text: text, checkpointEvery: checkpointEvery, trialTimeout: trialTimeout,
                         analysis: analysis, trials: trials, sources: sources)
    }

    /// The YAML document's root node; malformed or empty text is a one-line error naming the file.
    static func composeRoot(_ text: String, path: String) throws -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw SweepError(file: path, line: nil, "empty file") }
            return node
        } catch let error as SweepError {
            throw error
        } catch let error as YamlError {
            throw SweepError(file: path, line: nil, "malformed YAML: \(Self.oneLine(error))")
        } catch {
            throw SweepError(file: path, line: nil, "malformed YAML: \(error)")
        }
    }

    static func oneLine(_ error: YamlError) -> String {
        "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}

/// An invalid sweep file: "FILE:LINE: message".
public struct SweepError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var message: String
    public init(file: String, line: Int?, _ message: String) {
        self.file = file; self.line = line; self.message = message
    }
    public var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
}

/// " (did you mean 'x'?)" when a known key is within two edits of `key`.
func suggestion(_ key: String, _ known: [String]) -> String {
    let scored = known.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 }
    guard let (best, distance) = scored, distance <= max(2, key.count / 3) else { return "" }
    return " (did you mean '\(best)'?)"
}

/// Levenshtein distance.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

/// A file that holds only an `analysis:` mapping (`regime analyze DIR --analysis FILE.yaml`): the
/// analysis settings that replace the sweep's. Errors name the file, the line and the key.
public enum AnalysisFile {
    public static func load(path: String) throws -> AnalysisOptions {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw SweepError(file: path, line: nil, "cannot read the file (missing, unreadable or not UTF-8)")
        }
        let root = try SweepFile.composeRoot(text, path: path)
        let reader = NodeReader(file: path)
        var options: AnalysisOptions?
        for (key, value) in try reader.mapping(root, key: "top level") {
            guard key == "analysis" else {
                throw reader.error(value, "unknown key '\(key)'\(suggestion(key, ["analysis"])): an analysis file holds one 'analysis:' mapping")
            }
            options = try reader.analysisOptions(value)
        }
        guard let options else { throw SweepError(file: path, line: nil, "missing key 'analysis' (the analysis settings)") }
        return options
    }
}
