import Foundation
import RegimeCore

/// Throughput of one architecture's training loop, as `regime bench` reports it.
public struct ArchitectureBenchmark: Sendable, Equatable, Codable {
    public var arch: String
    public var batch: Int
    public var probe: Int
    /// Training steps per second without instruments (no iteration recorded): 1 / the median step
    /// time, measured in the thread's CPU time so that other processes sharing the core do not count.
    public var iterationsPerSecond: Double
    /// Achieved GFLOP/s of that loop: iterations/s x batch x (forward + backward FLOPs per example).
    public var gflops: Double
    /// Steps per second when every iteration is recorded with every instrument a trial records
    /// (weight update, probe-set patterns, and the geometric instruments: margins, flip
    /// sensitivity, lags; docs/numerics.md).
    public var trackedIterationsPerSecond: Double
    /// GFLOP/s of the tracked loop, counting the probe forward pass as well (the instruments'
    /// own arithmetic is not counted: it is overhead against the GEMM rate).
    public var trackedGflops: Double
    /// The tracked loop without the geometric instruments (`Trainer.measuresGeometry` off): weight
    /// update and probe patterns only, the tracked loop of regime before those instruments, so
    /// rates stay comparable across versions. nil in JSON written before it was measured.
    public var patternsOnlyIterationsPerSecond: Double?
    public var patternsOnlyGflops: Double?
    /// The same two rates from the median wall-clock step time (equal to the above on an idle core).
    public var wallIterationsPerSecond: Double
    public var trackedWallIterationsPerSecond: Double
    /// FLOPs of one untracked and one tracked iteration.
    public var flopsPerIteration: Double
    public var trackedFlopsPerIteration: Double
}

/// Random data of the architecture's shape for timing the training loop, and the name of the
/// known data set whose geometry fits it (no file is read: the examples are N(0, 1) noise with
/// uniform labels, which does not change the work done). Training split `max(4 batch, 256)`.
func benchmarkData(_ architecture: Architecture, arch: String, batch: Int, probe: Int) throws -> (data: PreparedData, name: String) {
    guard batch > 0, probe > 0 else { throw SpecError("bench: batch and probe must be positive") }
    let features = architecture.inputSize, classes = architecture.classCount
    guard let name = DatasetSpec.knownNames.first(where: {
        let g = DatasetSpec(name: $0).geometry
        return g.features == features && g.classes == classes
    }) else {
        throw SpecError("bench: arch '\(arch)' takes \(features) inputs and \(classes) classes, which fits no known data set")
    }
    let shape: (channels: Int, height: Int, width: Int)
    switch architecture {
    case .cnn(let s): shape = (s.input.channels, s.input.height, s.input.width)
    case .vit(let s): shape = (s.input.channels, s.input.height, s.input.width)
    case .mlp: shape = (1, 1, features)
    }
    var rng = Xoshiro256(seed: 2026, stream: .synthetic)
    func split(_ count: Int) -> LabeledSplit {
        LabeledSplit(features: (0..<(count * features)).map { _ in Float(rng.nextNormal()) },
                     labels: (0..<count).map { _ in Int32(rng.nextInt(below: classes)) },
                     featureCount: features, classCount: classes, shape: shape)
    }
    return (PreparedData(train: split(max(4 * batch, 256)), validation: split(1), probe: split(probe), mean: 0, std: 1), name)
}

/// Times `trainer.step()`: 2 untimed warm-up steps, then at least 5 timed steps and at least
/// `seconds`; returns 1 / the median step time in thread CPU time and in wall-clock time.
func benchmarkSteps(_ trainer: Trainer, seconds: Double) throws -> (perSecond: Double, wallPerSecond: Double) {
    for _ in 0..<2 { try trainer.step() }
    let start = Clocks.monotonic()
    var cpu: [Double] = [], wall: [Double] = []
    while cpu.count < 5 || Clocks.monotonic() - start < seconds {
        let (c0, w0) = (Clocks.threadCPU(), Clocks.monotonic())
        try trainer.step()
        cpu.append(Clocks.threadCPU() - c0)
        wall.append(Clocks.monotonic() - w0)
    }
    cpu.sort(); wall.sort()
    return (1 / cpu[cpu.count / 2], 1 / wall[wall.count / 2])
}

/// Times the real `Trainer` loop on random data of the architecture's shape (`benchmarkData`):
/// `seconds` untracked (instruments never recorded), then `seconds` tracked (`record_every: 1`, so
/// every step also measures the weight update and the probe set's patterns) without and then
/// with the geometric instruments, each by `benchmarkSteps`. Optimizer: SGD, momentum 0.9, lr 1e-3.
public func benchmarkArchitecture(arch: String, batch: Int, probe: Int, seconds: Double) throws -> ArchitectureBenchmark {
    let architecture = try Architecture(parsing: arch)
    let (data, name) = try benchmarkData(architecture, arch: arch, batch: batch, probe: probe)
    let forever = 1 << 40

    func run(tracked: Bool, geometry: Bool = true) throws -> (perSecond: Double, wallPerSecond: Double, network: Network) {
        let spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: name, probeSubset: probe),
                             optimizer: OptimizerSpec(kind: .sgd, lr: 1e-3, momentum: 0.9), batchSize: batch,
                             iterations: forever, seed: 1, recordEvery: tracked ? 1 : forever, evalEvery: forever)
        let trainer = try Trainer(spec: spec, data: data)
        trainer.measuresGeometry = geometry
        let rates = try benchmarkSteps(trainer, seconds: seconds)
        return (rates.perSecond, rates.wallPerSecond, trainer.network)
    }
    let untracked = try run(tracked: false)
    let patternsOnly = try run(tracked: true, geometry: false)
    let tracked = try run(tracked: true)
    let counts = untracked.network as? FlopCounting
    let forward = counts?.flopsPerExampleForward ?? 0, backward = counts?.flopsPerExampleBackward ?? 0
    let perIteration = Double(batch) * (forward + backward)
    let perTrackedIteration = perIteration + Double(probe) * forward
    return ArchitectureBenchmark(arch: architecture.description, batch: batch, probe: probe,
                                 iterationsPerSecond: untracked.perSecond, gflops: untracked.perSecond * perIteration / 1e9,
                                 trackedIterationsPerSecond: tracked.perSecond,
                                 trackedGflops: tracked.perSecond * perTrackedIteration / 1e9,
                                 patternsOnlyIterationsPerSecond: patternsOnly.perSecond,
                                 patternsOnlyGflops: patternsOnly.perSecond * perTrackedIteration / 1e9,
                                 wallIterationsPerSecond: untracked.wallPerSecond,
                                 trackedWallIterationsPerSecond: tracked.wallPerSecond,
                                 flopsPerIteration: perIteration, trackedFlopsPerIteration: perTrackedIteration)
}
