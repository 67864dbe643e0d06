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

extension SyntheticTeacher {
    public static let standardInputSize = 32
    /// The `synthetic` data set: 32 inputs, a 64-unit teacher, 10 classes, 4096 train / 1024 test, fixed seed.
    public static func standard() -> Dataset {
        makeDataset(inputSize: standardInputSize, hidden: 64, classes: 10, trainCount: 4096, testCount: 1024, seed: 2026)
    }
}
