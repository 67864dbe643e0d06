import Foundation
import RegimeCore

/// What the geometric instruments (docs/numerics.md) cost the tracked training loop, as
/// `regime bench` reports it: all ratios of rates measured in the same run.
public struct InstrumentBenchmark: Sendable, Equatable, Codable {
    public var arch: String
    public var batch: Int
    public var probe: Int
    /// Tracked steps per second (every iteration recorded) without and with margins, flip
    /// sensitivity and lag distances: medians of `rounds` alternating measurements (CPU time).
    public var trackedPerSecond: [Double]
    public var geometryPerSecond: [Double]
    /// geometry / tracked rate per round (1 = free; 0.9 = 10% slower).
    public var geometryRatios: [Double]
    /// Whole tracked trials of `iterations` steps with everything on, without and with the null
    /// model at its default cadence: CPU seconds per trial, alternating, `rounds` each.
    public var iterations: Int
    public var withoutNullSeconds: [Double]
    public var withNullSeconds: [Double]
    /// with / without per round (1.1 = 10% more).
    public var nullRatios: [Double]
}

/// Times the tracked loop of `arch` (random data of its shape, SGD with momentum) with and
/// without the geometric instruments, alternating `rounds` times (`seconds` each, by
/// `benchmarkSteps`), then whole `iterations`-step trials with and without the null model.
public func benchmarkInstruments(arch: String, batch: Int, probe: Int, seconds: Double, iterations: Int,
                                 rounds: Int = 3) throws -> InstrumentBenchmark {
    let architecture = try Architecture(parsing: arch)
    let (data, name) = try benchmarkData(architecture, arch: arch, batch: batch, probe: probe)
    func spec(iterations: Int, nullModel: NullModelSpec?) -> TrialSpec {
        var s = TrialSpec(arch: arch, dataset: DatasetSpec(name: name, probeSubset: probe),
                          optimizer: OptimizerSpec(kind: .sgd, lr: 1e-3, momentum: 0.9), batchSize: batch,
                          iterations: iterations, seed: 1, recordEvery: 1, evalEvery: iterations)
        s.nullModel = nullModel
        return s
    }
    var tracked: [Double] = [], geometry: [Double] = []
    for _ in 0..<rounds {
        for on in [false, true] {
            let trainer = try Trainer(spec: spec(iterations: 1 << 40, nullModel: NullModelSpec(points: 0)), data: data)
            trainer.measuresGeometry = on
            let rate = try benchmarkSteps(trainer, seconds: seconds).perSecond
            if on { geometry.append(rate) } else { tracked.append(rate) }
        }
    }
    var without: [Double] = [], with: [Double] = []
    for _ in 0..<rounds {
        for null in [false, true] {
            let trainer = try Trainer(spec: spec(iterations: iterations, nullModel: null ? nil : NullModelSpec(points: 0)), data: data)
            let start = Clocks.threadCPU()
            try trainer.run()
            let cpu = Clocks.threadCPU() - start
            if null { with.append(cpu) } else { without.append(cpu) }
        }
    }
    return InstrumentBenchmark(arch: architecture.description, batch: batch, probe: probe, trackedPerSecond: tracked,
                               geometryPerSecond: geometry, geometryRatios: zip(geometry, tracked).map { $0 / $1 },
                               iterations: iterations, withoutNullSeconds: without, withNullSeconds: with,
                               nullRatios: zip(with, without).map { $0 / $1 })
}
