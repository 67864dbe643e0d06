import Foundation
import RegimeCore

/// What gated training costs (`regime bench`): steps per second of the same untracked training
/// loop ordinary, gated with the training-set gate cache (`FrozenGates`: a step expands its
/// batch's gate bits), and gated recomputing the gates with θ_g at every step (a step adds one
/// forward pass of the gate network), on the data of `benchmarkData` (SGD, momentum 0.9, lr 1e-3;
/// gates frozen at step 0: when they froze does not change the work). The three loops are timed
/// in turns of 5 steps for `3 seconds` in all, so that a change of load on a shared machine hits
/// them alike; a rate is 1 / the median step time in thread CPU time.
public struct GatedTrainingBenchmark: Sendable, Equatable, Codable {
    public var arch: String
    public var batch: Int
    public var iterationsPerSecond: Double
    public var cachedIterationsPerSecond: Double
    public var recomputedIterationsPerSecond: Double
    /// Bytes of the gate cache per training example (a bit per unit, whole 64-bit words per layer).
    public var cacheBytesPerExample: Int
}

public func benchmarkGatedTraining(arch: String, batch: Int, seconds: Double) throws -> GatedTrainingBenchmark {
    let architecture = try Architecture(parsing: arch)
    let (data, name) = try benchmarkData(architecture, arch: arch, batch: batch, probe: 1)
    let forever = 1 << 40
    func trainer(gates: GateSpec?, cacheLimit: Int) throws -> Trainer {
        let spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: name, probeSubset: 1),
                             optimizer: OptimizerSpec(kind: .sgd, lr: 1e-3, momentum: 0.9), batchSize: batch,
                             iterations: forever, seed: 1, recordEvery: forever, evalEvery: forever, gates: gates)
        return try Trainer(spec: spec, data: data, gateCacheLimitBytes: cacheLimit)
    }
    let frozen = GateSpec(freezeAt: .step(0))
    let trainers = [try trainer(gates: nil, cacheLimit: 0), try trainer(gates: frozen, cacheLimit: .max),
                    try trainer(gates: frozen, cacheLimit: 0)]
    var times: [[Double]] = trainers.map { _ in [] }
    for trainer in trainers { for _ in 0..<2 { try trainer.step() } }
    let start = Clocks.monotonic()
    while times[0].count < 5 || Clocks.monotonic() - start < 3 * seconds {
        for (k, trainer) in trainers.enumerated() {
            for _ in 0..<5 {
                let c0 = Clocks.threadCPU()
                try trainer.step()
                times[k].append(Clocks.threadCPU() - c0)
            }
        }
    }
    let rates = times.map { 1 / upperMedian($0) }
    let units = trainers[0].network.patternLayers.map(\.unitsPerExample)
    return GatedTrainingBenchmark(arch: architecture.description, batch: batch, iterationsPerSecond: rates[0],
                                  cachedIterationsPerSecond: rates[1], recomputedIterationsPerSecond: rates[2],
                                  cacheBytesPerExample: FrozenGates.cacheBytes(unitsPerExample: units, examples: 1))
}
