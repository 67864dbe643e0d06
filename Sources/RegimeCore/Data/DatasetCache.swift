import Foundation

/// Loads and prepares data sets for the trials of one process, keeping what it loaded so that
/// the trials of a sweep that share a data set on one rank open it once.
///
/// Image data sets come from `files`, the host's shared read-only copies (`DatasetFileCache`):
/// this process maps them and holds no copy of the pixels. A prepared data set (a train subset,
/// standardisation, a probe draw) is a set of views of the mapped bytes plus its labels: it costs
/// kilobytes, not the megabytes of a Float copy.
public final class DatasetCache: @unchecked Sendable {
    /// Where the image data sets are mapped from (nil: read into this process's memory).
    public let files: DatasetFileCache?
    private var raw: [String: Dataset] = [:]
    private var mapped: [String: MappedFile] = [:]
    private var prepared: [DatasetSpec: PreparedData] = [:]
    private let lock = NSLock()

    public init(files: DatasetFileCache? = .standard) { self.files = files }

    public func prepare(_ spec: DatasetSpec) throws -> PreparedData {
        lock.lock(); defer { lock.unlock() }
        var key = spec
        key.path = spec.path ?? DatasetSpec.defaultDirectory(for: spec.name)
        if let hit = prepared[key] { return hit }
        let dataset = try loadRaw(spec)
        let data = try Self.prepare(dataset: dataset, spec: spec)
        prepared[key] = data
        return data
    }

    /// Bytes this cache can make resident in this process: its own memory (labels, row lists,
    /// Float data, pixels read into memory: every data set as read and every prepared variant,
    /// counted apart even where they share storage) plus the whole of each mapped file (its pages
    /// are shared with the host's other processes, so for the host this is an upper bound).
    public var heldBytes: Int {
        lock.lock(); defer { lock.unlock() }
        func bytes(_ splits: LabeledSplit...) -> Int { splits.reduce(0) { $0 + $1.rows.privateBytes + 4 * $1.labels.count } }
        return raw.values.reduce(0) { $0 + bytes($1.train, $1.test) }
            + prepared.values.reduce(0) { $0 + bytes($1.train, $1.validation, $1.probe) }
            + mapped.values.reduce(0) { $0 + $1.bytes.count }
    }

    /// The host-shared files this process has mapped, by path.
    public var mappedFiles: [MappedFile] {
        lock.lock(); defer { lock.unlock() }
        return mapped.values.sorted { $0.path < $1.path }
    }

    private func loadRaw(_ spec: DatasetSpec) throws -> Dataset {
        let directory = spec.path ?? DatasetSpec.defaultDirectory(for: spec.name) ?? ""
        let key = spec.name + "\u{0}" + directory
        if let hit = raw[key] { return hit }
        let dataset: Dataset
        if let files, spec.name != "synthetic" {
            let opened = try files.open(name: spec.name, sourceDirectory: directory)
            dataset = opened.dataset
            mapped[key] = opened.file
        } else {
            dataset = try Self.loadFiles(name: spec.name, directory: directory)
        }
        raw[key] = dataset
        return dataset
    }

    /// Reads a data set's files into this process's memory (no shared file, no normalisation).
    public static func loadFiles(name: String, directory: String) throws -> Dataset {
        switch name {
        case "synthetic": return SyntheticTeacher.standard()
        case "fashion-mnist", "mnist", "cifar10": return try DatasetFile.readIntoMemory(name: name, directory: directory)
        default: throw SpecError("dataset.name: unknown data set '\(name)'")
        }
    }

    /// Takes the train subset, standardises every split by the subset's scalar mean and standard
    /// deviation (accumulated in Double, in file order: deterministic), and draws the probe set
    /// from the held-out split with `probeSeed`. Image splits stay bytes: standardising changes
    /// their 256-entry conversion table (see `FeatureRows`), not their pixels.
    public static func prepare(dataset: Dataset, spec: DatasetSpec) throws -> PreparedData {
        var train = spec.trainSubset.map { dataset.train.prefix($0) } ?? dataset.train
        if let n = spec.trainSubset, n > dataset.train.count {
            throw SpecError("dataset.train_subset: \(n) exceeds the \(dataset.train.count) training examples of \(spec.name)")
        }
        guard spec.probeSubset <= dataset.test.count else {
            throw SpecError("dataset.probe_subset: \(spec.probeSubset) exceeds the \(dataset.test.count) held-out examples of \(spec.name)")
        }
        if let n = spec.valSubset, n > dataset.test.count {
            throw SpecError("dataset.val_subset: \(n) exceeds the \(dataset.test.count) held-out examples of \(spec.name)")
        }
        let moments = train.rows.moments()
        let n = Double(max(moments.count, 1))
        let mean = moments.sum / n
        let std = max((moments.sumSquares / n - mean * mean).squareRoot(), 1e-6)
        let (m, s) = (Float(mean), Float(1 / std))
        train.rows = train.rows.standardised(mean: m, scale: s)
        var test = dataset.test
        test.rows = test.rows.standardised(mean: m, scale: s)
        var rng = Xoshiro256(seed: spec.probeSeed, stream: .probe)
        let probeIndices = Array(rng.permutation(test.count).prefix(spec.probeSubset))
        let validation = spec.valSubset.map { test.prefix($0) } ?? test
        return PreparedData(train: train, validation: validation, probe: test.subset(probeIndices), mean: m, std: Float(std))
    }
}
