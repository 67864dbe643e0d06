/// Sizes a trial cannot work with, refused with a one-line error naming the setting.
///
/// Before any data is read (`TrialSpec.validate`):
/// - an image architecture (`cnn:`, `vit:`) must read images of the data set's shape `CxHxW`
///   (an MLP, its number of features), with one output per class;
/// - `iterations x batch_size` must fit a 64-bit integer: it is the last position in the endless
///   sequence of epochs that batches are cut from;
/// - `record_every` may not exceed `iterations` (the curve would hold the last iteration only).
///
/// Once the data is read (`validate(data:)`, by `regime plan`, `sweep`, `train` and `Trainer`):
/// - the examples as read must have the shape, feature count and class count the architecture
///   expects (a file at `dataset.path` may hold other images than the data set's name promises);
/// - `batch_size` may not exceed the training examples (`dataset.train_subset`, or the whole
///   split). Batches are consecutive slices of an endless sequence of epochs, each a fresh
///   permutation of the training examples (`Trainer.loadBatch`); a larger batch would always
///   repeat examples within itself. `batch_size` equal to the training examples is full-batch
///   training: every batch is exactly one epoch.
/// The subsets themselves (`train_subset`, `probe_subset`, `val_subset` at most the examples of
/// their split) are checked where they are taken, in `DatasetCache.prepare`.
extension TrialSpec {
    /// The data-independent limits (called by `validate()`, which has parsed `architecture`).
    func checkLimits(_ architecture: Architecture) throws {
        let geometry = dataset.geometry
        if let input = architecture.imageInput {
            guard input == geometry.shape else {
                throw SpecError("arch: '\(arch)' reads \(input) images but \(dataset.name) examples are \(geometry.shape)")
            }
        } else {
            guard architecture.inputSize == geometry.features else {
                throw SpecError("arch: '\(arch)' takes \(architecture.inputSize) inputs but \(dataset.name) examples have \(geometry.features) features")
            }
        }
        guard architecture.classCount == geometry.classes else {
            throw SpecError("arch: '\(arch)' has \(architecture.classCount) outputs but \(dataset.name) has \(geometry.classes) classes")
        }
        guard !iterations.multipliedReportingOverflow(by: batchSize).overflow else {
            throw SpecError("iterations: \(iterations) iterations of batch_size \(batchSize) examples overflow a 64-bit count of examples")
        }
        guard recordEvery <= iterations else {
            throw SpecError("record_every: \(recordEvery) exceeds iterations (\(iterations)): the curve would hold the last iteration only")
        }
    }

    /// The limits that depend on the data as read (see the type's documentation).
    public func validate(data: PreparedData) throws {
        let architecture = try Architecture(parsing: arch)
        let train = data.train
        guard train.count > 0 else { throw SpecError("dataset: the training split is empty") }
        if let input = architecture.imageInput {
            let shape = ImageShape(channels: train.shape.channels, height: train.shape.height, width: train.shape.width)
            guard input == shape, shape.checkedCount == train.featureCount else {
                throw SpecError("arch: '\(arch)' reads \(input) images but the \(dataset.name) examples as read are \(shape)")
            }
        }
        guard architecture.inputSize == train.featureCount else {
            throw SpecError("arch: '\(arch)' takes \(architecture.inputSize) inputs but the \(dataset.name) examples as read have \(train.featureCount) features")
        }
        guard architecture.classCount == train.classCount else {
            throw SpecError("arch: '\(arch)' has \(architecture.classCount) outputs but \(dataset.name) as read has \(train.classCount) classes")
        }
        guard batchSize <= train.count else {
            let subset = dataset.trainSubset == nil ? "training split" : "training subset"
            throw SpecError("batch_size: \(batchSize) exceeds the \(train.count) examples of the \(subset): every batch would repeat examples (batch_size \(train.count) is full-batch training)")
        }
    }
}

extension Architecture {
    /// The image shape a `cnn:` or `vit:` architecture reads (nil for an MLP).
    public var imageInput: ImageShape? {
        switch self {
        case .mlp: return nil
        case .cnn(let spec): return spec.input
        case .vit(let spec): return spec.input
        }
    }
}

extension SpecError {
    /// The setting an error is about: the text before its first colon, e.g. `dataset.probe_subset`.
    public var key: String { description.split(separator: ":", maxSplits: 1).first.map(String.init) ?? "" }
    /// The top-level setting of `key`, e.g. `dataset`.
    public var rootKey: String { key.split(separator: ".").first.map(String.init) ?? key }
}
