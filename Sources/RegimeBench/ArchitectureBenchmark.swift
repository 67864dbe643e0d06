import Foundation
import RegimeCore

/// Throughput of one architecture's training loop, as `regime bench` reports it.
public struct ArchitectureBenchmark: Sendable, Equatable, Codable {
    public var arch: String
    public var batch: Int
    public var probe: Int
    /// Rounds of turns the loops were timed in (`benchmarkStepsInTurns`); nil in JSON written
    /// when each loop was timed in one block.
    public var rounds: Int?
    /// Training steps per second without instruments (no iteration recorded): 1 / the median step
    /// time, measured in the thread's CPU time so that other processes sharing the core do not count.
    public var iterationsPerSecond: Double
    /// Achieved GFLOP/s of that loop: iterations/s x batch x (forward + backward FLOPs per example).
    public var gflops: Double
    /// Steps per second when every iteration is recorded with every instrument a trial records
    /// (weight update, probe-set patterns, and the geometric instruments: margins, flip
    /// sensitivity, lags; docs/numerics.md).
    public var trackedIterationsPerSecond: Double
    /// GFLOP/s of the tracked loop, counting the probe forward pass as well, as far as it goes
    /// (`FlopCounting.flopsPerExampleProbe`; the instruments' own arithmetic is not counted: it is
    /// overhead against the GEMM rate).
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
    /// What the kernels of each loop's steps did (`KernelClock`, measured on every step of the same
    /// rounds); nil in JSON written before session 13.
    public var kernels: LoopKernels?

    /// The kernels' share of the three loops' steps.
    public struct LoopKernels: Sendable, Equatable, Codable {
        public var untracked: KernelTime
        public var patternsOnly: KernelTime
        public var tracked: KernelTime
        /// The tracked loop's kernel calls grouped by shape, per step: over the steps that made the
        /// median number of calls (not the rarer ones that run the probe pass again, such as a
        /// margin band's miss or the null model's iterations). nil in JSON written before they were listed.
        public var trackedShapes: [KernelShapeTime]?
    }

    /// One kernel shape's calls in a step.
    public struct KernelShapeTime: Sendable, Equatable, Codable {
        /// `KernelClock.Shape.description`.
        public var shape: String
        public var callsPerStep: Double
        public var milliseconds: Double
        public var flops: Double
        public var gflops: Double { milliseconds > 0 ? flops / (milliseconds * 1e6) : 0 }
        /// Milliseconds more than the same FLOPs take at `reference` GFLOP/s.
        public func millisecondsLost(at reference: Double) -> Double { milliseconds - (reference > 0 ? flops / (reference * 1e6) : 0) }

        public init(shape: String, callsPerStep: Double, milliseconds: Double, flops: Double) {
            (self.shape, self.callsPerStep, self.milliseconds, self.flops) = (shape, callsPerStep, milliseconds, flops)
        }

        /// The calls of the steps (one list per step) that made the median number of calls,
        /// grouped by shape, per step; in decreasing time.
        static func grouped(_ steps: [[KernelClock.Call]]) -> [KernelShapeTime] {
            let median = Int(upperMedian(steps.map { Double($0.count) }))
            let typical = steps.filter { $0.count == median }
            guard !typical.isEmpty else { return [] }
            var groups: [KernelClock.Shape: (calls: Int, seconds: Double, flops: Double)] = [:]
            for call in typical.joined() {
                let g = groups[call.shape] ?? (0, 0, 0)
                groups[call.shape] = (g.calls + 1, g.seconds + call.seconds, g.flops + call.flops)
            }
            let n = Double(typical.count)
            return groups.map { shape, g in
                KernelShapeTime(shape: shape.description, callsPerStep: Double(g.calls) / n, milliseconds: 1000 * g.seconds / n,
                                flops: g.flops / n)
            }.sorted { ($0.milliseconds, $0.shape) > ($1.milliseconds, $1.shape) }
        }
    }

    /// The median over a loop's steps of the time its kernels took (wall clock), and of their FLOPs.
    public struct KernelTime: Sendable, Equatable, Codable {
        public var milliseconds: Double
        public var flops: Double
        /// The kernels' own rate: their FLOPs over their time.
        public var gflops: Double { milliseconds > 0 ? flops / (milliseconds * 1e6) : 0 }

        public init(milliseconds: Double, flops: Double) {
            self.milliseconds = milliseconds
            self.flops = flops
        }

        /// From one reading per step.
        init(_ readings: [KernelClock.Reading]) {
            self.init(milliseconds: 1000 * upperMedian(readings.map(\.seconds)), flops: upperMedian(readings.map(\.flops)))
        }
    }
}

/// The median of `x`, the upper middle value for an even count (the bench's step times have always
/// been taken so); 0 for none.
func upperMedian(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.sorted()[x.count / 2] }

/// The optimizer of the bench's training loops by name: "sgd" (momentum 0.9), "adam" or "adamw"
/// (weight decay 0.01), each at lr 1e-3; nil for another name.
public func benchmarkOptimizer(named name: String) -> OptimizerSpec? {
    switch name {
    case "sgd": return OptimizerSpec(kind: .sgd, lr: 1e-3, momentum: 0.9)
    case "adam": return OptimizerSpec(kind: .adam, lr: 1e-3)
    case "adamw": return OptimizerSpec(kind: .adamw, lr: 1e-3, weightDecay: 0.01)
    default: return nil
    }
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
    try benchmarkStepsInTurns([trainer.step], seconds: seconds, rounds: 1)[0]
}

/// Times several loops in turns (a loop: one step of it per call, a trainer's `step` or a GEMM):
/// 2 untimed warm-up steps each, then `rounds` rounds in which every loop takes one untimed step
/// (the others ran in between: its caches are cold) and then timed steps for at least
/// `seconds / rounds` (and at least 5 / `rounds`). Returns per loop 1 / the median of all its
/// timed steps, in thread CPU time and in wall-clock time.
///
/// Why turns: the machine this runs on has periods of minutes in which everything runs at about
/// two thirds of its rate (a shared host; the guest's CPU clock does not see it). A loop measured
/// in one block falls wholly inside or outside such a period, and a ratio of two loops measured one
/// after the other was off by up to 1.5x; in turns a period falls on every loop alike, and the
/// median of the pooled steps is that of the machine's usual rate as long as the slow periods
/// cover under half of the run.
func benchmarkStepsInTurns(_ loops: [() throws -> Void], seconds: Double,
                           rounds: Int) throws -> [(perSecond: Double, wallPerSecond: Double)] {
    precondition(rounds >= 1, "benchmarkStepsInTurns: rounds >= 1")
    for step in loops { for _ in 0..<2 { try step() } }
    let slice = seconds / Double(rounds), minimumSteps = (5 + rounds - 1) / rounds
    var cpu = [[Double]](repeating: [], count: loops.count), wall = cpu
    for _ in 0..<rounds {
        for (index, step) in loops.enumerated() {
            if rounds > 1 { try step() }
            let start = Clocks.monotonic()
            var steps = 0
            while steps < minimumSteps || Clocks.monotonic() - start < slice {
                let (c0, w0) = (Clocks.threadCPU(), Clocks.monotonic())
                try step()
                cpu[index].append(Clocks.threadCPU() - c0)
                wall[index].append(Clocks.monotonic() - w0)
                steps += 1
            }
        }
    }
    return zip(cpu, wall).map { c, w in (1 / upperMedian(c), 1 / upperMedian(w)) }
}

/// Times the real `Trainer` loop of each architecture on random data of its shape
/// (`benchmarkData`) in three modes: untracked (instruments never recorded), tracked without the
/// geometric instruments (`record_every: 1`: every step also measures the weight update and the
/// probe set's patterns) and tracked with them. All the loops run in turns (`benchmarkStepsInTurns`,
/// `seconds` each over `rounds` rounds), so that every ratio between them, and every loop's
/// fraction of the GEMM rate, compares measurements spread over the same minutes: the three GEMM
/// variants of each of `referenceSizes` (sizes of the GEMM table) take their turns with the loops
/// (`GEMMInTurns`, each for as many seconds as each loop). Every step of a loop is also timed
/// inside its kernels (`KernelClock`; `ArchitectureBenchmark.kernels`). Optimizer:
/// `benchmarkOptimizer(named:)`, by default SGD with momentum 0.9 and lr 1e-3.
public func benchmarkArchitectures(archs: [String], batch: Int, probe: Int, seconds: Double, rounds: Int,
                                   referenceSizes: [Int] = [], optimizer: OptimizerSpec = benchmarkOptimizer(named: "sgd")!)
    throws -> (loops: [ArchitectureBenchmark], reference: [GEMMInTurns]) {
    guard rounds >= 1 else { throw SpecError("bench: rounds of turns: expected a positive integer, got \(rounds)") }
    let forever = 1 << 40
    struct Loops { var architecture: Architecture; var untracked, patternsOnly, tracked: Trainer }
    let loops = try archs.map { arch -> Loops in
        let architecture = try Architecture(parsing: arch)
        let (data, name) = try benchmarkData(architecture, arch: arch, batch: batch, probe: probe)
        func trainer(tracked: Bool, geometry: Bool = true) throws -> Trainer {
            let spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: name, probeSubset: probe),
                                 optimizer: optimizer, batchSize: batch,
                                 iterations: forever, seed: 1, recordEvery: tracked ? 1 : forever, evalEvery: forever)
            let trainer = try Trainer(spec: spec, data: data)
            trainer.measuresGeometry = geometry
            return trainer
        }
        return Loops(architecture: architecture, untracked: try trainer(tracked: false),
                     patternsOnly: try trainer(tracked: true, geometry: false), tracked: try trainer(tracked: true))
    }
    let gemms = referenceSizes.map(GEMMBenchmarkOperands.init(size:)).flatMap { operands in
        GEMMBenchmarkOperands.variants.map { (operands, $0) }
    }
    let gemmSteps: [() throws -> Void] = gemms.map { operands, variant in { operands.multiply(variant) } }
    let trainers = loops.flatMap { [$0.untracked, $0.patternsOnly, $0.tracked] }
    var kernels = [[KernelClock.Reading]](repeating: [], count: trainers.count)
    var trackedCalls = [[[KernelClock.Call]]](repeating: [], count: loops.count)
    let trainerSteps: [() throws -> Void] = trainers.enumerated().map { index, trainer in
        guard index % 3 == 2 else { return { kernels[index].append(try KernelClock.measure(trainer.step)) } }
        return {
            let (reading, calls) = try KernelClock.measureCalls(trainer.step)
            kernels[index].append(reading)
            trackedCalls[index / 3].append(calls)
        }
    }
    let rates = try benchmarkStepsInTurns(trainerSteps + gemmSteps, seconds: seconds, rounds: rounds)
    let gemm = gemms.enumerated().map { index, timed in
        let (n, variant) = (timed.0.size, timed.1)
        return GEMMInTurns(size: n, variant: variant, gflops: rates[3 * loops.count + index].perSecond * gemmFlops(m: n, n: n, k: n) / 1e9)
    }
    return (loops.enumerated().map { index, loop in
        let (untracked, patternsOnly, tracked) = (rates[3 * index], rates[3 * index + 1], rates[3 * index + 2])
        let counts = loop.untracked.network as? FlopCounting
        let forward = counts?.flopsPerExampleForward ?? 0, backward = counts?.flopsPerExampleBackward ?? 0
        let perIteration = Double(batch) * (forward + backward)
        let perTrackedIteration = perIteration + Double(probe) * (counts?.flopsPerExampleProbe ?? 0)
        return ArchitectureBenchmark(arch: loop.architecture.description, batch: batch, probe: probe, rounds: rounds,
                                     iterationsPerSecond: untracked.perSecond, gflops: untracked.perSecond * perIteration / 1e9,
                                     trackedIterationsPerSecond: tracked.perSecond,
                                     trackedGflops: tracked.perSecond * perTrackedIteration / 1e9,
                                     patternsOnlyIterationsPerSecond: patternsOnly.perSecond,
                                     patternsOnlyGflops: patternsOnly.perSecond * perTrackedIteration / 1e9,
                                     wallIterationsPerSecond: untracked.wallPerSecond,
                                     trackedWallIterationsPerSecond: tracked.wallPerSecond,
                                     flopsPerIteration: perIteration, trackedFlopsPerIteration: perTrackedIteration,
                                     kernels: .init(untracked: .init(kernels[3 * index]), patternsOnly: .init(kernels[3 * index + 1]),
                                                    tracked: .init(kernels[3 * index + 2]),
                                                    trackedShapes: ArchitectureBenchmark.KernelShapeTime.grouped(trackedCalls[index])))
    }, gemm)
}

extension ArchitectureBenchmark {
    /// A tracked step split into its parts, from the differences of the three loops' median step
    /// times (measured in the same rounds, so each difference is the cost of what one loop adds to
    /// the other; nil without the patterns-only loop): the training step (the untracked loop), the
    /// probe pass with the weight update and the patterns (patterns only − untracked), and the
    /// geometric instruments (tracked − patterns only).
    public struct TrackedStepParts: Sendable, Equatable {
        public var trainingMilliseconds: Double
        public var probeMilliseconds: Double
        /// The probe pass's FLOPs (`FlopCounting.flopsPerExampleProbe` x probe) over its time.
        public var probeGflops: Double
        public var geometryMilliseconds: Double
        public var trackedMilliseconds: Double
    }

    /// The tracked loop's GFLOP/s if nothing outside its kernels took time: its counted FLOPs over
    /// its kernels' median time (the bound that faster work outside the kernels can reach; the ViT's
    /// attention products, counted but outside, would then be free too).
    public var trackedKernelBoundGflops: Double? {
        guard let k = kernels?.tracked, k.milliseconds > 0 else { return nil }
        return trackedFlopsPerIteration / (k.milliseconds * 1e6)
    }

    public var trackedStepParts: TrackedStepParts? {
        guard let patternsOnly = patternsOnlyIterationsPerSecond, patternsOnly > 0, iterationsPerSecond > 0,
              trackedIterationsPerSecond > 0 else { return nil }
        let training = 1000 / iterationsPerSecond, patterns = 1000 / patternsOnly, tracked = 1000 / trackedIterationsPerSecond
        let probe = patterns - training
        return TrackedStepParts(trainingMilliseconds: training, probeMilliseconds: probe,
                                probeGflops: probe > 0 ? (trackedFlopsPerIteration - flopsPerIteration) / (probe * 1e6) : 0,
                                geometryMilliseconds: tracked - patterns, trackedMilliseconds: tracked)
    }
}
