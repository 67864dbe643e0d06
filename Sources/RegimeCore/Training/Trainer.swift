import Foundation

/// Trains one trial and records its instruments: the engine behind `regime train` and every
/// trial of a sweep.
///
/// Iteration t = 1...T: take batch t of the seeded epoch order, forward, loss, backward, one
/// optimizer step at the scheduled rate. On a recorded iteration the update is measured against
/// a copy of the parameters from before the step, and the probe set's patterns are compared with
/// the previous recorded iteration's and with those at initialisation. A trial with `gates`
/// freezes its activation gates after the step of its freeze iteration and trains on inside them
/// (docs/numerics.md, "Gated training").
public final class Trainer {
    public let spec: TrialSpec
    public let network: Network
    public let data: PreparedData
    public let optimizer: Optimizer
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    /// The parameters at the previous recorded iteration (the initial ones before the first): the
    /// weight update of a row spans the same steps as its pattern change (docs/numerics.md). Not
    /// written at step t when step t + 1 reads θ_p from before its own update
    /// (`measuresAgainstPreviousStep`).
    let previousParameters: FloatBuffer
    public let initialPatterns: PatternSet
    public let previousPatterns: PatternSet
    private let currentPatterns: PatternSet
    public private(set) var iteration = 0
    public private(set) var curve: Curve
    public private(set) var lastLoss: Double = .nan

    /// The frozen gates once a gated trial has frozen them (docs/numerics.md, "Gated training").
    var gates: FrozenGates?
    /// The online regime detector, fed every recorded `pattern_change`.
    public private(set) var detector: RegimeDetector
    private let gateCacheLimitBytes: Int
    /// Margins, flip sensitivity, null model and lag distances (docs/numerics.md).
    let instruments: ProbeInstruments

    private let batchInput: FloatBuffer
    private var batchLabels: [Int32]
    /// The training examples of the current batch (keys of the gate cache).
    private var batchExamples: [Int]
    private let dlogits: FloatBuffer
    private var epochOrder: [Int] = []
    private var epochOfOrder = -1
    /// Rows per forward pass when measuring the probe or validation sets (bounds workspace memory).
    static let evaluationChunk = 256
    /// One chunk of probe or validation examples converted to Floats.
    private let chunkInput: FloatBuffer
    /// The whole probe set converted to Floats once (the probe is fixed and read at every recorded
    /// iteration; the same conversion as per chunk, so the same Floats), for networks that read it
    /// as it is; nil when the network keeps it prepared instead (`preparedProbeInput`).
    private(set) var probeInput: FloatBuffer?
    /// The probe's chunks in the form the network's first product reads them, prepared once
    /// (`Network.prepareFixedInput`: the MLP's packed GEMM operand, 1.6 MiB for 512 x 784; the
    /// ViT's patch rows, at most the size of the Floats); empty for the CNN.
    let preparedProbeInput: [PreparedInput]
    /// Whether the network's last plain pass read `parameters` as they are now, so that the next
    /// may reuse the weights it packed (`Network.reusePackedWeights`): true after the training
    /// forward, a probe pass or a validation pass of the trainer's own parameters and after the
    /// optimizer's update (during which the network packed the new weights:
    /// `Network.parametersUpdated`), false after a pass of other parameters (the null model's) and
    /// a restore.
    var networkReadCurrentParameters = false

    /// `gateCacheLimitBytes` bounds the training-set gate cache of a gated trial (see `FrozenGates`;
    /// the result does not depend on it).
    public init(spec: TrialSpec, data: PreparedData, gateCacheLimitBytes: Int = FrozenGates.defaultCacheLimitBytes) throws {
        try spec.validate()
        try spec.validate(data: data)
        self.spec = spec
        self.data = data
        network = try Architecture(parsing: spec.arch).makeNetwork()
        // Nothing reads this network's `patternSource` after a training forward pass.
        (network as? CNN)?.recomputesFirstConvolution = true
        optimizer = Optimizer(spec: spec.optimizer, parameterCount: network.parameterCount)
        parameters = FloatBuffer(count: network.parameterCount)
        gradients = FloatBuffer(count: network.parameterCount)
        previousParameters = FloatBuffer(count: network.parameterCount)
        let units = network.patternLayers.map(\.unitsPerExample)
        initialPatterns = PatternSet(exampleCount: data.probe.count, unitsPerExample: units)
        previousPatterns = PatternSet(exampleCount: data.probe.count, unitsPerExample: units)
        currentPatterns = PatternSet(exampleCount: data.probe.count, unitsPerExample: units)
        curve = Curve(layerNames: network.parameterGroups.map(\.name), patternLayerNames: network.patternLayers.map(\.name),
                      gated: spec.gates != nil)
        detector = RegimeDetector(options: spec.gates?.detector ?? RegimeDetectorOptions())
        self.gateCacheLimitBytes = gateCacheLimitBytes
        batchInput = FloatBuffer(count: spec.batchSize * data.train.featureCount)
        batchLabels = [Int32](repeating: 0, count: spec.batchSize)
        batchExamples = [Int](repeating: 0, count: spec.batchSize)
        dlogits = FloatBuffer(count: spec.batchSize * data.train.classCount)
        chunkInput = FloatBuffer(count: Self.evaluationChunk * data.train.featureCount)
        instruments = ProbeInstruments(spec: spec, network: network, probeCount: data.probe.count)
        curve.probe = ProbeColumns(patternLayerCount: network.patternLayers.count, parameterGroupCount: network.parameterGroups.count)
        let probeFloats = Self.convertProbe(data)
        let prepared = stride(from: 0, to: data.probe.count, by: Self.evaluationChunk).map { [network] first in
            network.prepareFixedInput(probeFloats.pointer + first * data.probe.featureCount,
                                      batch: min(Self.evaluationChunk, data.probe.count - first))
        }
        preparedProbeInput = prepared.allSatisfy { $0 != nil } ? prepared.compactMap { $0 } : []
        probeInput = preparedProbeInput.isEmpty ? probeFloats : nil

        var rng = Xoshiro256(seed: spec.seed, stream: .initialization)
        network.initialize(parameters: parameters.pointer, rng: &rng)
        measurePatterns(into: initialPatterns)
        previousPatterns.copy(from: initialPatterns)
        previousParameters.copy(from: parameters)
        instruments.start(parameters: parameters, patterns: initialPatterns)
        if spec.gates?.freezeAt == .step(0) { freezeGates(at: 0) }
    }

    public var isFinished: Bool { iteration >= spec.iterations }

    /// Margins, flip sensitivity and lag distances on (always, except for `regime bench`, which
    /// times the loop without them; their columns are then empty).
    public var measuresGeometry: Bool {
        get { instruments.geometry }
        set { instruments.geometry = newValue }
    }

    /// Sets the progress counters from a checkpoint (see `restore(_:source:)`).
    func restoreProgress(iteration: Int, curve: Curve, lastLoss: Double) {
        self.iteration = iteration
        self.curve = curve
        // A checkpoint written before (some of) the geometric instruments: their earlier rows are empty.
        self.curve.probe = .continuing(curve.probe, patternLayerCount: network.patternLayers.count,
                                       parameterGroupCount: network.parameterGroups.count, rows: curve.count)
        self.lastLoss = lastLoss
        detector = RegimeDetector(options: detector.options)
        for (t, c) in zip(curve.iteration, curve.patternChange) { detector.observe(iteration: t, patternChange: c) }
    }

    /// Why a trial stopped early.
    public enum Failure: Error, CustomStringConvertible {
        case diverged(iteration: Int, reason: String)
        public var description: String {
            switch self {
            case .diverged(let iteration, let reason): return "diverged at iteration \(iteration): \(reason)"
            }
        }
    }

    /// Takes one training step and records the instruments if the iteration is a recorded one.
    /// Throws `Failure.diverged` on a non-finite loss or parameter update.
    public func step() throws {
        precondition(!isFinished)
        let t = iteration + 1
        let lr = spec.schedule.rate(step: t, totalSteps: spec.iterations, baseRate: spec.optimizer.lr)
        loadBatch(t)
        let batch = spec.batchSize
        let masks = gates?.trainingMasks(examples: batchExamples, input: batchInput.pointer)
        network.reusePackedWeights = networkReadCurrentParameters
        let logits = network.forward(parameters: parameters.pointer, input: batchInput.pointer, batch: batch, gates: masks)
        networkReadCurrentParameters = true
        let loss = batchLabels.withUnsafeBufferPointer {
            softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: batch, classes: data.train.classCount,
                                dlogits: dlogits.pointer)
        }
        lastLoss = loss
        guard loss.isFinite else { throw Failure.diverged(iteration: t, reason: "training loss is \(loss)") }
        network.backward(parameters: parameters.pointer, input: batchInput.pointer, dlogits: dlogits.pointer,
                         batch: batch, gradients: gradients.pointer, gates: masks)
        let recorded = isRecorded(t)
        // The network derives what its next pass reads from the new parameters as the optimizer
        // writes them (`Network.parametersUpdated`), so that pass may reuse it.
        let (network, updatedParameters) = (network, UnsafePointer(parameters.pointer))
        let updated: (Range<Int>) -> Void = { network.parametersUpdated(updatedParameters, through: $0.upperBound) }
        // On a recorded iteration the optimizer's pass also takes the sums of the weight update and
        // of flip sensitivity between θ_t and θ_p, and θ_p becomes θ_t in it, unless the null
        // model reads θ_p afterwards (its rows). θ_p is written into `previousParameters` only
        // when a later pass reads it there: not when step t + 1's pass reads θ_t as the
        // parameters before its update (`measuresAgainstPreviousStep`).
        var squares: ParameterSquares?
        let replacesPrevious = replacesPrevious(t)
        if recorded {
            let old: ParameterSquares.Old = measuresAgainstPreviousStep(t) ? .overwritten : .block(previousParameters.pointer)
            let writesPrevious = replacesPrevious && !measuresAgainstPreviousStep(t + 1)
            squares = optimizer.update(parameters: parameters.pointer, gradients: gradients.pointer, lr: lr,
                                       measuringAgainst: old, ends: squareEnds,
                                       replacing: writesPrevious ? previousParameters.pointer : nil, updated: updated)
        } else {
            optimizer.update(parameters: parameters.pointer, gradients: gradients.pointer, lr: lr, updated: updated)
        }
        networkReadCurrentParameters = true
        iteration = t
        if let squares { try record(iteration: t, loss: loss, lr: lr, squares: squares, previousReplaced: replacesPrevious) }
        if t % spec.evalEvery == 0 || t == spec.iterations {
            curve.valAccuracy[curve.count - 1] = validationAccuracy()
        }
        if gates == nil, let freezeAt = spec.gates?.freezeAt,
           freezeAt == .step(t) || (freezeAt == .auto && detector.detectedAt == t) {
            freezeGates(at: t)
        }
    }

    /// Whether step t records the instruments.
    private func isRecorded(_ t: Int) -> Bool { t % spec.recordEvery == 0 || t == spec.iterations }

    /// Whether step t's recorded row makes θ_p θ_t (every recorded row but the null model's, which
    /// reads θ_p afterwards).
    private func replacesPrevious(_ t: Int) -> Bool { isRecorded(t) && !instruments.nullModel.iterations.contains(t) }

    /// Whether step t's measuring pass takes θ_p as the parameters before its own update
    /// (`ParameterSquares.Old.overwritten`): steps t - 1 and t both record and replace θ_p, so θ_p
    /// is θ_{t-1}, which step t - 1 then need not write into `previousParameters`. A function of t
    /// alone: after a restore at t - 1, `previousParameters` holds θ_{t-1} as well.
    private func measuresAgainstPreviousStep(_ t: Int) -> Bool {
        t >= 2 && t <= spec.iterations && replacesPrevious(t - 1) && replacesPrevious(t)
    }

    /// Runs the remaining iterations, calling `progress` after each.
    public func run(progress: (Int) -> Void = { _ in }) throws {
        while !isFinished {
            try step()
            progress(iteration)
        }
    }

    // MARK: Data order

    /// Fills the batch of step t: positions (t-1)B ..< tB of the endless sequence of epochs, each
    /// epoch a permutation of the training subset drawn from (seed, epoch). A function of t alone,
    /// so a trial resumed at any iteration continues exactly.
    private func loadBatch(_ t: Int) {
        // The split and the batch's arrays taken out of `self` once, so that the loops neither read
        // the split through `self` nor check exclusive access to the arrays at every element.
        let train = data.train, input = batchInput.pointer
        let n = train.count, width = train.featureCount
        let batch = spec.batchSize
        var examples = batchExamples, labels = batchLabels, order = epochOrder
        batchExamples = []
        batchLabels = []
        defer { batchExamples = examples; batchLabels = labels }
        for j in 0..<batch {
            let position = (t - 1) * batch + j
            let epoch = position / n
            if epoch != epochOfOrder {
                var rng = Xoshiro256(seed: spec.seed, stream: .batchOrder, index: UInt64(epoch))
                order = rng.permutation(n)
                epochOrder = order
                epochOfOrder = epoch
            }
            let example = order[position % n]
            labels[j] = train.labels[example]
            examples[j] = example
        }
        // The examples sit at random places of the split: converting example j while the rows of
        // j + 1 and j + 2 are prefetched overlaps their cache misses (the conversion waited on
        // each line in turn: 1.9% of a tracked MLP step).
        let ahead = 2
        for j in 0..<min(ahead, batch) { train.prefetchFeatures(of: examples[j]) }
        for j in 0..<batch {
            if j + ahead < batch { train.prefetchFeatures(of: examples[j + ahead]) }
            train.copyFeatures(of: examples[j], into: input + j * width)
        }
    }

    // MARK: Instruments

    /// The pieces of the weight update's sums: the groups cut at the feeding prefixes.
    private lazy var squareEnds = ParameterSquares.ends(groups: network.parameterGroups, cuts: network.feedingParameterCounts)

    /// Appends row t; `squares`: the sums between θ_t and θ_p over `squareEnds`;
    /// `previousReplaced`: whether the optimizer's pass already made `previousParameters` θ_t.
    private func record(iteration t: Int, loss: Double, lr: Double, squares: ParameterSquares, previousReplaced: Bool) throws {
        let update = WeightUpdate(squares: squares, groups: network.parameterGroups)
        guard update.abs.isFinite else { throw Failure.diverged(iteration: t, reason: "parameter update is not finite") }
        let margins = instruments.measure { measurePatterns(into: currentPatterns, margins: $0) }
        let change = currentPatterns.changeFractions(from: previousPatterns)
        let changeInit = currentPatterns.changeFractions(from: initialPatterns)
        // The null model builds its perturbed parameters in the gradient block: the step's update
        // has used it and the next backward pass overwrites it.
        instruments.record(iteration: t, seed: spec.seed, into: &curve.probe!, network: network, scratch: gradients,
                           margins: margins, current: parameters, currentPatterns: currentPatterns,
                           previous: previousParameters, previousPatterns: previousPatterns,
                           update: update, squares: squares, change: change) { measurePatterns(parameters: $0, into: $1) }
        previousPatterns.copy(from: currentPatterns)
        if !previousReplaced { previousParameters.copy(from: parameters) }

        curve.iteration.append(t)
        curve.loss.append(loss)
        curve.lr.append(lr)
        curve.weightUpdateAbs.append(update.abs)
        curve.weightUpdateRel.append(update.rel)
        curve.patternChange.append(change.global)
        curve.patternChangeInit.append(changeInit.global)
        curve.valAccuracy.append(nil)
        curve.gateDisagreement?.append(gates.map { currentPatterns.changeFractions(from: $0.probeGates).global })
        detector.observe(iteration: t, patternChange: change.global)
        for l in update.layerAbs.indices {
            curve.layerWeightUpdateAbs[l].append(update.layerAbs[l])
            curve.layerWeightUpdateRel[l].append(update.layerRel[l])
        }
        for l in change.perLayer.indices {
            curve.layerPatternChange[l].append(change.perLayer[l])
            curve.layerPatternChangeInit[l].append(changeInit.perLayer[l])
        }
    }

    /// How recorded iterations compute the probe's patterns (the same bits in every mode; the
    /// initial patterns always come from the full pass). `.certified` and `.checked` apply to MLPs,
    /// and only while the margins are not measured (`measuresGeometry` off): the margins need
    /// every example's pre-activations, which only the full pass computes.
    public var patternPass: PatternPass = .full {
        didSet {
            guard patternPass != .full, let mlp = network as? MLP else { certifiedPatterns = nil; return }
            certifiedPatterns = certifiedPatterns ?? CertifiedPatterns(network: mlp, probeCount: data.probe.count,
                                                                       featureCount: data.probe.featureCount,
                                                                       chunk: Self.evaluationChunk)
        }
    }
    public private(set) var certifiedPatterns: CertifiedPatterns?

    /// The probe set as Floats for the certified mode's bounds (its row norms and the rows it
    /// recomputes), made when the bounds are first tried.
    private lazy var certifiedProbeInput: FloatBuffer = probeInput ?? Self.convertProbe(data)

    /// The probe set's patterns with `parameters` (the trainer's own by default) into `patterns`,
    /// and, given a margin meter, its pre-activations: the probe pass (`probePass`), or, in the
    /// certified modes, what `CertifiedPatterns.next()` says.
    func measurePatterns(parameters: UnsafePointer<Float>? = nil, into patterns: PatternSet, margins: MarginMeter? = nil) {
        guard parameters == nil, margins == nil, let certifiedPatterns, iteration > 0 else {
            probePass(parameters: parameters, into: patterns, then: margins.map { m in { m.tap(chunkFirst: $0) } })
            return
        }
        switch certifiedPatterns.next() {
        case .fullPass(let renewsReference):
            probePass(into: patterns, then: renewsReference ? { certifiedPatterns.referenceTap(chunkFirst: $0) } : nil)
            if renewsReference {
                certifiedPatterns.renewReference(parameters: self.parameters.pointer, input: certifiedProbeInput.pointer,
                                                 patterns: patterns)
            }
        case .bounds:
            certifiedPatterns.measure(parameters: self.parameters.pointer, input: certifiedProbeInput.pointer, into: patterns)
            networkReadCurrentParameters = false
            if patternPass == .checked {
                let full = PatternSet(exampleCount: patterns.exampleCount, unitsPerExample: patterns.unitsPerExample)
                probePass(into: full)
                certifiedPatterns.countMismatches(patterns, full: full)
                patterns.copy(from: full)  // the full pass's bits are the ones kept
            }
        }
    }

    /// Forward passes over the probe set up to its last pattern layer with `parameters` (the
    /// trainer's own by default), storing its activation pattern as the pass produces it and handing
    /// each chunk's pre-activations to `then(chunkFirst)`'s tap.
    private func probePass(parameters: UnsafePointer<Float>? = nil, into patterns: PatternSet,
                           then next: ((Int) -> PreActivationTap)? = nil) {
        let width = data.probe.featureCount
        for first in stride(from: 0, to: data.probe.count, by: Self.evaluationChunk) {
            let rows = min(Self.evaluationChunk, data.probe.count - first)
            // The patterns are stored by the tap, while the pass's pre-activations are in cache.
            network.preActivationTap = patterns.tap(chunkFirst: first, then: next?(first))
            // The chunks after the first read the parameters the first one packed.
            network.reusePackedWeights = first > 0 || (parameters == nil && networkReadCurrentParameters)
            let parameters = parameters ?? UnsafePointer(self.parameters.pointer)
            if let probeInput {
                network.forwardPatterns(parameters: parameters, input: probeInput.pointer + first * width, batch: rows)
            } else {
                network.forwardPatterns(parameters: parameters, prepared: preparedProbeInput[first / Self.evaluationChunk])
            }
            networkReadCurrentParameters = parameters == UnsafePointer(self.parameters.pointer)
        }
        network.preActivationTap = nil
    }

    /// The probe set as Floats (examples x features).
    private static func convertProbe(_ data: PreparedData) -> FloatBuffer {
        let floats = FloatBuffer(count: data.probe.count * data.probe.featureCount)
        data.probe.copyFeatures(of: 0..<data.probe.count, into: floats.pointer)
        return floats
    }

    /// Accuracy of the current parameters (with the frozen gates, once frozen) on the validation split.
    public func validationAccuracy() -> Double {
        let split = data.validation
        var correct = 0
        var predictions = [Int32](repeating: 0, count: Self.evaluationChunk)
        split.forEachChunk(rows: Self.evaluationChunk, buffer: chunkInput) { first, rows, input in
            let masks = gates?.computeMasks(input: input, rows: rows)
            network.reusePackedWeights = first > 0 || networkReadCurrentParameters
            let logits = network.forward(parameters: parameters.pointer, input: input, batch: rows, gates: masks)
            networkReadCurrentParameters = true
            predictions.withUnsafeMutableBufferPointer { argmaxRows(logits, rows: rows, classes: split.classCount, into: $0.baseAddress!) }
            for r in 0..<rows where predictions[r] == split.labels[first + r] { correct += 1 }
        }
        return split.count > 0 ? Double(correct) / Double(split.count) : .nan
    }

    /// Freezes the gates at the current parameters (after the optimizer step of iteration t). The
    /// row of iteration t, if recorded, gets its `gate_disagreement`: 0, since θ_v = θ_g there.
    private func freezeGates(at t: Int) {
        let frozen = makeGates(frozenAt: t, parameters: parameters)
        gates = frozen
        if curve.iteration.last == t {
            let row = curve.count - 1
            curve.gateDisagreement?[row] = previousPatterns.changeFractions(from: frozen.probeGates).global
        }
    }

    /// The frozen gates θ_g = `parameters` (copied), for a freeze after iteration `frozenAt`.
    func makeGates(frozenAt: Int, parameters: FloatBuffer) -> FrozenGates {
        FrozenGates(frozenAt: frozenAt, parameters: parameters, architecture: network.architecture, data: data,
                    batchSize: spec.batchSize, chunk: Self.evaluationChunk, cacheLimitBytes: gateCacheLimitBytes)
    }
}
