import Foundation

/// Which data a trial trains on, and the probe set its patterns are measured on.
public struct DatasetSpec: Codable, Hashable, Sendable {
    /// `fashion-mnist`, `mnist` (IDX files), `cifar10` (binary batches) or `synthetic` (teacher network).
    public var name: String
    /// Directory of the files; nil means the default for `name` (see `defaultDirectory`).
    /// Not part of a trial's identity: the same data may live at different paths on different hosts.
    public var path: String? = nil
    /// Train on the first `trainSubset` training examples (nil: all). The files' order is kept, so
    /// every trial of a sweep sees the same subset.
    public var trainSubset: Int? = nil
    /// Probe examples drawn once from the held-out split by `probeSeed` (shared by all trials).
    public var probeSubset: Int = 512
    public var probeSeed: UInt64 = 7
    /// Validation accuracy on the first `valSubset` held-out examples (nil: all).
    public var valSubset: Int? = nil

    public init(name: String, path: String? = nil, trainSubset: Int? = nil, probeSubset: Int = 512,
                probeSeed: UInt64 = 7, valSubset: Int? = nil) {
        self.name = name; self.path = path; self.trainSubset = trainSubset
        self.probeSubset = probeSubset; self.probeSeed = probeSeed; self.valSubset = valSubset
    }

    enum CodingKeys: String, CodingKey {
        case name, path, trainSubset = "train_subset", probeSubset = "probe_subset", probeSeed = "probe_seed",
             valSubset = "val_subset"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        trainSubset = try c.decodeIfPresent(Int.self, forKey: .trainSubset)
        probeSubset = try c.decodeIfPresent(Int.self, forKey: .probeSubset) ?? 512
        probeSeed = try c.decodeIfPresent(UInt64.self, forKey: .probeSeed) ?? 7
        valSubset = try c.decodeIfPresent(Int.self, forKey: .valSubset)
    }

    public static let knownNames = ["fashion-mnist", "mnist", "cifar10", "synthetic"]

    public static func defaultDirectory(for name: String) -> String? {
        switch name {
        case "fashion-mnist": return "/usr/share/datasets/fashion-mnist"
        case "mnist": return "/usr/share/datasets/mnist"
        case "cifar10": return "/usr/share/datasets/cifar10"
        default: return nil
        }
    }

    public func validate() throws {
        guard Self.knownNames.contains(name) else {
            throw SpecError("dataset.name: unknown data set '\(name)' (known: \(Self.knownNames.joined(separator: ", ")))")
        }
        if let trainSubset, trainSubset <= 0 { throw SpecError("dataset.train_subset: expected a positive integer, got \(trainSubset)") }
        if probeSubset <= 0 { throw SpecError("dataset.probe_subset: expected a positive integer, got \(probeSubset)") }
        if let valSubset, valSubset <= 0 { throw SpecError("dataset.val_subset: expected a positive integer, got \(valSubset)") }
    }

    /// Input features per example, number of classes and the shape of an example, without reading any file.
    public var geometry: (features: Int, classes: Int, shape: ImageShape) {
        switch name {
        case "cifar10": return (3072, 10, ImageShape(channels: 3, height: 32, width: 32))
        case "synthetic": return (SyntheticTeacher.standardInputSize, 10, ImageShape(channels: 1, height: 1, width: SyntheticTeacher.standardInputSize))
        default: return (784, 10, ImageShape(channels: 1, height: 28, width: 28))
        }
    }
}

/// The tensors a trial trains and measures on: normalised train subset, validation split and probe set.
public struct PreparedData: Sendable {
    public var train: LabeledSplit
    public var validation: LabeledSplit
    public var probe: LabeledSplit
    /// Scalar mean and standard deviation of the training subset's features, used to standardise all splits.
    public var mean: Float
    public var std: Float

    public init(train: LabeledSplit, validation: LabeledSplit, probe: LabeledSplit, mean: Float, std: Float) {
        self.train = train; self.validation = validation; self.probe = probe; self.mean = mean; self.std = std
    }
}

/// Loads and prepares data sets, keeping each in memory so that the trials of a sweep that share
/// a data set on one rank read its files once.
public final class DatasetCache: @unchecked Sendable {
    private var raw: [String: Dataset] = [:]
    private var prepared: [DatasetSpec: PreparedData] = [:]
    private let lock = NSLock()

    public init() {}

    /// Bytes of the examples and labels this cache holds: every data set as read and every
    /// prepared variant (counted apart even where they share storage: an upper bound).
    public var heldBytes: Int {
        lock.lock(); defer { lock.unlock() }
        func bytes(_ split: LabeledSplit) -> Int { 4 * (split.features.count + split.labels.count) }
        return raw.values.reduce(0) { $0 + bytes($1.train) + bytes($1.test) }
            + prepared.values.reduce(0) { $0 + bytes($1.train) + bytes($1.validation) + bytes($1.probe) }
    }

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

    private func loadRaw(_ spec: DatasetSpec) throws -> Dataset {
        let directory = spec.path ?? DatasetSpec.defaultDirectory(for: spec.name) ?? ""
        let key = spec.name + "\u{0}" + directory
        if let hit = raw[key] { return hit }
        let dataset = try Self.loadFiles(name: spec.name, directory: directory)
        raw[key] = dataset
        return dataset
    }

    /// Reads a data set's files (no caching, no normalisation).
    public static func loadFiles(name: String, directory: String) throws -> Dataset {
        func file(_ stem: String) -> String {
            let base = (directory as NSString).appendingPathComponent(stem)
            return FileManager.default.fileExists(atPath: base + ".gz") ? base + ".gz" : base
        }
        switch name {
        case "fashion-mnist", "mnist":
            let train = try IDXReader.readSplit(images: file("train-images-idx3-ubyte"), labels: file("train-labels-idx1-ubyte"), classCount: 10)
            let test = try IDXReader.readSplit(images: file("t10k-images-idx3-ubyte"), labels: file("t10k-labels-idx1-ubyte"), classCount: 10)
            return Dataset(name: name, train: train, test: test)
        case "cifar10":
            let batches = (1...5).map { (directory as NSString).appendingPathComponent("data_batch_\($0).bin") }
            let train = try CIFAR10Reader.readSplit(paths: batches)
            let test = try CIFAR10Reader.readSplit(paths: [(directory as NSString).appendingPathComponent("test_batch.bin")])
            return Dataset(name: name, train: train, test: test)
        case "synthetic":
            return SyntheticTeacher.standard()
        default:
            throw SpecError("dataset.name: unknown data set '\(name)'")
        }
    }

    /// Takes the train subset, standardises every split by the subset's scalar mean and standard
    /// deviation (accumulated in Double, in file order: deterministic), and draws the probe set
    /// from the held-out split with `probeSeed`.
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
        var sum = 0.0, sumSquares = 0.0
        for x in train.features { sum += Double(x); sumSquares += Double(x) * Double(x) }
        let n = Double(max(train.features.count, 1))
        let mean = sum / n
        let std = max((sumSquares / n - mean * mean).squareRoot(), 1e-6)
        let (m, s) = (Float(mean), Float(1 / std))
        func standardise(_ split: LabeledSplit) -> LabeledSplit {
            var out = split
            for i in 0..<out.features.count { out.features[i] = (out.features[i] - m) * s }
            return out
        }
        train = standardise(train)
        let test = standardise(dataset.test)
        var rng = Xoshiro256(seed: spec.probeSeed, stream: .probe)
        let probeIndices = Array(rng.permutation(test.count).prefix(spec.probeSubset))
        let validation = spec.valSubset.map { test.prefix($0) } ?? test
        return PreparedData(train: train, validation: validation, probe: test.subset(probeIndices), mean: m, std: Float(std))
    }
}

extension SyntheticTeacher {
    public static let standardInputSize = 32
    /// The `synthetic` data set: 32 inputs, a 64-unit teacher, 10 classes, 4096 train / 1024 test, fixed seed.
    public static func standard() -> Dataset {
        makeDataset(inputSize: standardInputSize, hidden: 64, classes: 10, trainCount: 4096, testCount: 1024, seed: 2026)
    }
}
