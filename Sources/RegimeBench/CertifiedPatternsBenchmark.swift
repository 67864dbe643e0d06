import Foundation
import RegimeCore

/// What the certified probe pass (`PatternPass.certified`, `CertifiedPatterns`) saves over a whole
/// cosine run: the same tracked trial (every iteration recorded) with the full and the certified
/// pass, stepped in turns (one step of each) so that a change of load on a shared machine hits both
/// alike, each step timed in thread CPU time. The certified run's curve is compared with the full
/// run's: a difference is an error, not a number.
public struct CertifiedPatternsBenchmark: Sendable, Codable {
    public var arch: String
    public var dataset: String
    public var batch: Int
    public var probe: Int
    public var iterations: Int
    public var lr: Double
    /// Tracked iterations per second of each pass over the second half of the run (total CPU time).
    public var fullSecondHalf: Double
    public var certifiedSecondHalf: Double
    /// The same over the whole run.
    public var fullWhole: Double
    public var certifiedWhole: Double
    /// Mean fraction of the probe examples certified (not recomputed) per quarter of the run.
    public var certifiedFractionPerQuarter: [Double]
    /// Over the measurements that tried the bounds, per quarter: the mean fraction of first-layer
    /// (example, unit) pairs certified (nil for a quarter without such a measurement).
    public var firstLayerUnitFractionPerQuarter: [Double?]
    /// Measurements that tried the bounds (the others were full passes).
    public var attempts: Int
    public var speedupSecondHalf: Double { certifiedSecondHalf / fullSecondHalf }
}

public struct CertifiedPatternsMismatch: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `arch` on Fashion-MNIST (SGD, momentum 0.9, cosine from `lr` to 0 over `iterations`,
/// record_every 1) with both passes as described above.
public func benchmarkCertifiedPatterns(arch: String, batch: Int, probe: Int, iterations: Int, lr: Double) throws -> CertifiedPatternsBenchmark {
    let dataset = "fashion-mnist"
    let data = try DatasetCache().prepare(DatasetSpec(name: dataset, probeSubset: probe))
    let spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: dataset, probeSubset: probe),
                         optimizer: OptimizerSpec(kind: .sgd, lr: lr, momentum: 0.9),
                         schedule: LearningRateSchedule(kind: .cosine), batchSize: batch,
                         iterations: iterations, seed: 1, recordEvery: 1, evalEvery: iterations)
    let full = try Trainer(spec: spec, data: data)
    let certified = try Trainer(spec: spec, data: data)
    certified.patternPass = .certified
    var times = (full: [Double](), certified: [Double]())
    while !full.isFinished {
        var t0 = Clocks.threadCPU()
        try full.step()
        times.full.append(Clocks.threadCPU() - t0)
        t0 = Clocks.threadCPU()
        try certified.step()
        times.certified.append(Clocks.threadCPU() - t0)
    }
    guard full.curve == certified.curve else {
        throw CertifiedPatternsMismatch(description: "bench: the certified run's curve differs from the full run's (\(arch))")
    }
    let half = iterations / 2
    func rate(_ t: [Double]) -> Double { Double(t.count) / t.reduce(0, +) }
    let fractions = certified.certifiedPatterns?.certifiedFractions ?? []  // one per recorded iteration
    let quarter = max(1, fractions.count / 4)
    let quarters = stride(from: 0, to: fractions.count, by: quarter).prefix(4).map { start -> Double in
        let part = Array(fractions)[start..<min(fractions.count, start + quarter)]
        return part.reduce(0, +) / Double(part.count)
    }
    let attempts = certified.certifiedPatterns?.attempts ?? []
    let unitFractions = certified.certifiedPatterns?.firstLayerUnitFractions ?? []
    let unitQuarters = (0..<4).map { q -> Double? in
        let part = zip(attempts, unitFractions).filter { $0.0 * 4 / max(1, fractions.count) == q }.map(\.1)
        return part.isEmpty ? nil : part.reduce(0, +) / Double(part.count)
    }
    return CertifiedPatternsBenchmark(arch: arch, dataset: dataset, batch: batch, probe: probe, iterations: iterations, lr: lr,
                                      fullSecondHalf: rate(Array(times.full[half...])),
                                      certifiedSecondHalf: rate(Array(times.certified[half...])),
                                      fullWhole: rate(times.full), certifiedWhole: rate(times.certified),
                                      certifiedFractionPerQuarter: quarters, firstLayerUnitFractionPerQuarter: unitQuarters,
                                      attempts: unitFractions.count)
}
