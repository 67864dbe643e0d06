import Foundation
import RegimeCore

/// What converting pixels where they are used costs: the tracked training loop (every iteration
/// records, so every iteration converts its batch and the whole probe set) on Fashion-MNIST held
/// as bytes, against the same loop on the same data converted to standardised Floats up front
/// (the former path; identical results, 4x the memory). Ratios of rates measured in this run.
public struct DataPathBenchmark: Sendable, Codable {
    public var arch: String
    public var batch: Int
    public var probe: Int
    /// Tracked iterations per second (CPU-time medians), bytes and Floats.
    public var bytesIterationsPerSecond: Double
    public var floatsIterationsPerSecond: Double
    public var ratio: Double { bytesIterationsPerSecond / floatsIterationsPerSecond }
}

/// Times `arch` on both data paths, alternating twice and keeping each path's better rate.
public func benchmarkDataPath(arch: String, batch: Int, probe: Int, seconds: Double) throws -> DataPathBenchmark {
    let bytes = try DatasetCache().prepare(DatasetSpec(name: "fashion-mnist", probeSubset: probe))
    func floats(_ split: LabeledSplit) -> LabeledSplit {
        LabeledSplit(features: split.materializedFeatures(), labels: split.labels, featureCount: split.featureCount,
                     classCount: split.classCount, shape: split.shape)
    }
    let converted = PreparedData(train: floats(bytes.train), validation: floats(bytes.validation.prefix(1)),
                                 probe: floats(bytes.probe), mean: bytes.mean, std: bytes.std)
    let forever = 1 << 40
    let spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: "fashion-mnist", probeSubset: probe),
                         optimizer: OptimizerSpec(kind: .sgd, lr: 1e-3, momentum: 0.9), batchSize: batch,
                         iterations: forever, seed: 1, recordEvery: 1, evalEvery: forever)
    var best = (bytes: 0.0, floats: 0.0)
    for _ in 0..<2 {
        best.bytes = max(best.bytes, try benchmarkSteps(try Trainer(spec: spec, data: bytes), seconds: seconds).perSecond)
        best.floats = max(best.floats, try benchmarkSteps(try Trainer(spec: spec, data: converted), seconds: seconds).perSecond)
    }
    return DataPathBenchmark(arch: arch, batch: batch, probe: probe, bytesIterationsPerSecond: best.bytes,
                             floatsIterationsPerSecond: best.floats)
}
