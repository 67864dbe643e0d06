// The memory a trial needs, computed from its shapes and sizes before anything is allocated, so
// that a setting no rank can hold (an extra 9 in a width, a probe set of a million examples) is
// refused with one line instead of ending an MPI job in an allocation trap: Swift cannot catch a
// failed allocation, and one rank's trap takes every rank of the job with it.
//
// The estimate is an upper bound of what the engine allocates: every buffer of `Trainer`,
// `Optimizer`, `PatternSet` and the networks' `reserve` functions is counted from the same
// formulas, and `ResourceEstimateTests` checks the bound against glibc's count of live heap bytes
// and against the peak resident size for MLPs, CNNs and ViTs.

// MARK: Sizes that must not overflow

/// A rule of docs/architectures.md that a layer breaks, or a size beyond 64-bit integers (the
/// message, without the `arch '...'` prefix the parser adds).
public struct ShapeRuleError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The product of sizes, or an error when it does not fit a 64-bit integer.
func checkedProduct(_ factors: Int...) throws -> Int {
    var product = 1
    for factor in factors {
        let (value, overflow) = product.multipliedReportingOverflow(by: factor)
        if overflow { throw ShapeRuleError("a size overflows 64-bit integers (\(factors.map(String.init).joined(separator: " x ")))") }
        product = value
    }
    return product
}

/// The sum of sizes, or an error when it does not fit a 64-bit integer.
func checkedSum(_ terms: Int...) throws -> Int {
    var sum = 0
    for term in terms {
        let (value, overflow) = sum.addingReportingOverflow(term)
        if overflow { throw ShapeRuleError("a size overflows 64-bit integers (\(terms.map(String.init).joined(separator: " + ")))") }
        sum = value
    }
    return sum
}

/// Products and sums of byte counts clamp at `Int.max`: such a total exceeds any budget, which is
/// all it is compared with (and it is printed as "more than 9.22 EB").
func saturatingProduct(_ factors: Int...) -> Int {
    var product = 1
    for factor in factors {
        let (value, overflow) = product.multipliedReportingOverflow(by: factor)
        product = overflow ? Int.max : value
    }
    return product
}

func saturatingSum(_ terms: [Int]) -> Int {
    var sum = 0
    for term in terms {
        let (value, overflow) = sum.addingReportingOverflow(term)
        sum = overflow ? Int.max : value
    }
    return sum
}

// MARK: Per-architecture sizes

/// What an architecture's shapes fix, per example, computed with overflow checks (an
/// architecture whose sizes overflow is refused when it is parsed).
///
/// The workspace formulas are those of each network's `reserve`, for a capacity of R examples:
/// - MLP `D0-...-DL`: `Z_l` (l = 1..L) and `H_l = relu(Z_l)` (hidden l) of R x D_l floats, two
///   gradient scratch buffers of R x max(D_1..D_{L-1}) floats (dH of the hidden layers), and,
///   independent of R, the forward weights packed for the GEMM (`GEMMPackedB.floats`: D_{l-1} x
///   D_l with D_l rounded up to 32 per column panel).
/// - CNN: the channel-last copy of the input when C > 1 (R x C*H*W), every op's output (R x its
///   size), two gradient scratch buffers of R x the widest op input or output, and the `cols` and
///   `dcols` convolution scratch, each the largest `ConvGeometry.scratchCount` of an im2col chunk
///   of whole examples (about 256 KB) or of the direct path's padded image and weights; per spatial
///   block of examples (about 512 KB of activations), two gradients of the widest spatial output
///   but the last and the probe pass's outputs of the spatial ops but the last.
/// - ViT with T tokens, width D, F = 4D, H heads, L blocks, Np patches of C*P*P values, K classes:
///   patches R*Np x CPP, the class-token embedding R*Np x D, X0 R*T x D; per block LN1, QKV (3D),
///   attention output, X', LN2 and X'' (8 R*T x D in all), four R*T mean/rstd vectors, the
///   softmax probabilities (R x H x T x T rounded up to 16 columns) and the ReLU layer R*T x F;
///   the final LayerNorm (R*T x D and two R*T vectors), pooled, logits, dX, dtmp (R*T x D each),
///   dwide (R*T x max(F, 3D)), dpooled; plus, independent of R, the attention scratch and the grouped
///   backward's packed operands (each block's W2, W1, Wo, Wqkv and dW2^T; a group's activation rows,
///   twice: a shorter last group packs its own).
public struct ArchitectureSizes: Sendable {
    public let parameterCount: Int
    /// Parameter groups (layers whose weight update is measured): curve columns.
    public let parameterGroupCount: Int
    /// Units per example of each pattern layer.
    public let patternUnits: [Int]
    /// 64-bit words per example of the bit-packed pattern (`PatternSet`): sum of ceil(units / 64).
    public let patternWordsPerExample: Int
    /// Workspace floats per example of capacity.
    public let workspaceFloatsPerExample: Int
    /// Workspace floats independent of the capacity (the MLP's packed weights, the ViT's attention scratch).
    public let fixedWorkspaceFloats: Int
    /// The convolutions, whose im2col scratch depends on the capacity through the chunk size.
    let convolutions: [ConvGeometry]
    /// Whether the trainer keeps the probe input packed for the first GEMM (`Network.prepareFixedInput`: the MLP).
    /// Without, the probe is kept as Floats, or (the ViT) as patch rows, which are at most as many.
    public let packsProbeInput: Bool
    /// CNN: floats per example of a spatial block (the input and every conv/pool output), and per
    /// example of the block buffers: two gradients of the widest spatial output but the last, and
    /// the probe pass's outputs of the spatial ops but the last (`CNN.blockGradients`, `blockOutputs`).
    var spatialFloatsPerExample = 0
    var blockFloatsPerExample = 0

    public init(_ architecture: Architecture) throws {
        var units: [Int] = []
        var convolutions: [ConvGeometry] = []
        switch architecture {
        case .mlp(let widths):
            var parameters = 0, perExample = 0
            for l in 1..<widths.count {
                parameters = try checkedSum(parameters, try checkedProduct(widths[l], widths[l - 1]), widths[l])
                let hidden = l < widths.count - 1
                perExample = try checkedSum(perExample, hidden ? try checkedProduct(2, widths[l]) : widths[l])
                if hidden { units.append(widths[l]) }
            }
            parameterCount = parameters
            parameterGroupCount = widths.count - 1
            workspaceFloatsPerExample = try checkedSum(perExample, try checkedProduct(2, widths.dropFirst().dropLast().max() ?? 0))
            // The forward weights packed for the GEMM (`GEMMPackedB`, held between passes).
            fixedWorkspaceFloats = try (1..<widths.count).reduce(0) {
                try checkedSum($0, try checkedProduct(widths[$1 - 1], GEMMPackedB.paddedColumns(n: widths[$1])))
            }
            packsProbeInput = true

        case .cnn(let spec):
            var shape = spec.input
            var parameters = 0, outputs = 0, widest = spec.input.count, groups = 0
            var spatialOutputs: [Int] = [], spatial = true  // the conv/pool outputs before the first dense layer
            var denseLayers: [(inputs: Int, outputs: Int)] = []
            func dense(_ inputs: Int, _ outputCount: Int) throws {
                parameters = try checkedSum(parameters, try checkedProduct(inputs, outputCount), outputCount)
                groups += 1
                denseLayers.append((inputs, outputCount))
            }
            for layer in spec.layers {
                let out = try CNNSpec.outputShape(of: layer, after: shape)
                switch layer {
                case .conv(let channels, let kernel, let stride, let same):
                    let pad = same ? kernel / 2 : 0
                    let patch = try checkedProduct(kernel, kernel, shape.channels)
                    parameters = try checkedSum(parameters, try checkedProduct(channels, patch), channels)
                    groups += 1
                    units.append(out.count)
                    // The same sizes `ConvGeometry` computes unchecked: im2col rows of one example,
                    // and the direct path's transposed weights, bias and zero-padded image.
                    let paddedChannels = try checkedProduct(try checkedSum(channels, 15) / 16, 16)
                    _ = try checkedProduct(out.height, out.width, patch)
                    _ = try checkedSum(try checkedProduct(patch, paddedChannels), paddedChannels, 16,
                                       try checkedProduct(try checkedSum(shape.height, 2 * pad), try checkedSum(shape.width, 2 * pad),
                                                          shape.channels))
                    convolutions.append(ConvGeometry(inChannels: shape.channels, inHeight: shape.height, inWidth: shape.width,
                                                     outChannels: channels, kernel: kernel, stride: stride, pad: pad))
                case .maxPool:
                    break
                case .dense(let count):
                    try dense(shape.count, count)
                    units.append(count)
                    spatial = false
                }
                if spatial { spatialOutputs.append(out.count) }
                outputs = try checkedSum(outputs, out.count)
                widest = max(widest, shape.count, out.count)
                shape = out
            }
            try dense(shape.count, spec.classes)
            outputs = try checkedSum(outputs, spec.classes)
            widest = max(widest, shape.count, spec.classes)
            parameterCount = parameters
            parameterGroupCount = groups
            workspaceFloatsPerExample = try checkedSum(spec.input.channels > 1 ? spec.input.count : 0, outputs,
                                                       try checkedProduct(2, widest))
            // The fully-connected layers' W^T packed for the GEMM (`CNN.packedDense`, held between passes).
            fixedWorkspaceFloats = try denseLayers.reduce(0) {
                try checkedSum($0, try checkedProduct($1.inputs, GEMMPackedB.paddedColumns(n: $1.outputs)))
            }
            packsProbeInput = false
            spatialFloatsPerExample = try checkedSum(spec.input.count, spatialOutputs.reduce(0) { try checkedSum($0, $1) })
            let beforeLast = spatialOutputs.dropLast()
            blockFloatsPerExample = try checkedSum(try checkedProduct(2, beforeLast.max() ?? 0),
                                                   beforeLast.reduce(0) { try checkedSum($0, $1) })

        case .vit(let spec):
            let (D, H, L, K) = (spec.dim, spec.heads, spec.depth, spec.classes)
            let F = try checkedProduct(4, D)
            let patch = try checkedProduct(spec.input.channels, spec.patch, spec.patch)
            let Np = spec.patchCount, T = try checkedSum(Np, spec.classToken ? 1 : 0)
            let TD = try checkedProduct(T, D)
            let paddedTokens = try checkedProduct(try checkedSum(T, 15) / 16, 16)
            let probs = try checkedProduct(H, T, paddedTokens)
            let perBlock = try checkedSum(try checkedProduct(2, D),                // ln1 gamma, beta
                                          try checkedProduct(4, D, D),             // Wqkv, Wo
                                          D,                                        // bo
                                          try checkedProduct(2, D),                // ln2 gamma, beta
                                          try checkedProduct(2, F, D),             // W1, W2
                                          F, D)                                     // b1, b2
            parameterCount = try checkedSum(try checkedProduct(D, patch), D, spec.classToken ? D : 0, TD,
                                            try checkedProduct(L, perBlock),
                                            try checkedProduct(2, D), try checkedProduct(K, D), K)
            parameterGroupCount = 2 + 2 * L
            units = Array(repeating: try checkedProduct(T, F), count: L)
            let blockFloats = try checkedSum(try checkedProduct(8, TD), try checkedProduct(4, T), probs, try checkedProduct(T, F))
            workspaceFloatsPerExample = try checkedSum(
                try checkedProduct(Np, patch),                          // patches
                spec.classToken ? try checkedProduct(Np, D) : 0,        // E (class-token case)
                TD,                                                     // X0
                try checkedProduct(L, blockFloats),
                TD, try checkedProduct(2, T),                           // LNf and its statistics
                D, K,                                                   // pooled, logits
                try checkedProduct(2, TD),                              // dX, dtmp
                try checkedProduct(T, max(F, try checkedProduct(3, D))), // dwide
                D)                                                      // dpooled
            _ = try checkedSum(try checkedProduct(2, D / H, paddedTokens), try checkedProduct(T, paddedTokens))
            let attention = AttentionShape(tokens: T, dim: D, heads: H)
            // The grouped backward pass's operands: per block W2, W1, Wo, Wqkv packed and dW2^T,
            // and a group's rows of an activation packed (at most `gemmKC` rows; a shorter last
            // group has a pack of its own, so two).
            let backwardPacked = try checkedSum(GEMMPackedB.floats(k: D, n: F), GEMMPackedB.floats(k: F, n: D),
                                                GEMMPackedB.floats(k: D, n: D), GEMMPackedB.floats(k: try checkedProduct(3, D), n: D),
                                                try checkedProduct(F, D))
            fixedWorkspaceFloats = try checkedSum(max(attention.scratchCount, D) + 1,  // + the 1-float placeholder of E without a class token
                                                  try checkedProduct(L, backwardPacked), try checkedProduct(2, GEMMPackedB.floats(k: gemmKC, n: D)))
            packsProbeInput = false
        }
        patternUnits = units
        patternWordsPerExample = try units.reduce(0) { try checkedSum($0, (try checkedSum($1, 63)) / 64) }
        self.convolutions = convolutions
    }

    /// Floats of network workspace for a capacity of `examples` (saturating at `Int.max`).
    public func workspaceFloats(examples: Int) -> Int {
        let scratch = convolutions.map { $0.scratchCount(chunk: $0.chunkExamples(batch: examples)) }.max() ?? 0
        // The CNN's spatial block of examples (`CNN.spatialBlock`).
        let block = max(1, min(examples, cnnSpatialBlockFloats / max(spatialFloatsPerExample, 1)))
        return saturatingSum([saturatingProduct(examples, workspaceFloatsPerExample), saturatingProduct(2, scratch),
                              fixedWorkspaceFloats, saturatingProduct(block, blockFloatsPerExample)])
    }
}

// MARK: The estimate

/// The memory one trial needs on its rank, term by term, in bytes (each saturating at `Int.max`).
///
/// With P parameters, B the batch size, n the training examples, p the probe examples, v the
/// validation examples, E = 256 the evaluation chunk (`Trainer.evaluationChunk`), R = max(B,
/// min(E, p), min(E, v)) the examples a network's workspaces are sized for, W the pattern words
/// per probe example, N = iterations / record_every + 1 the recorded iterations and
/// c = 8 + 2 x (parameter groups + pattern layers) + 2 x (12 + 6 x pattern layers + 2 x (pattern
/// layers + 2 x parameter groups)) the curve's columns (the geometric instruments' optional
/// columns, the per-layer lag distances among them, count twice):
///
/// | term | bytes | held |
/// |---|---|---|
/// | parameters | 4P | always |
/// | gradients | 4P | always |
/// | weight-update copy | 4P (the parameters before the step) | always |
/// | optimizer state | 4P x (0 for SGD, 1 with momentum, 2 for Adam/AdamW) | always |
/// | activations and workspaces | 4 x workspace(R) (`ArchitectureSizes`) | always |
/// | probe as Floats | CNN, ViT: 4p x features (the probe set converted once, read at every recorded iteration) | always |
/// | probe packed | MLP, instead: 4 x features x (sum over the probe's chunks of E of the chunk's rows rounded up to 12): the probe packed for the first GEMM (`GEMMPackedA`; the certified pattern pass converts a Float copy when it is switched on) | always |
/// | batch and epoch order | 4B x (features + 1 + classes) + 16n (the epoch's order and the next one being drawn) + 4E x (features + 1) (a probe or validation chunk converted to Floats, and its predictions) | always |
/// | pattern storage | 3 copies (initial, previous, current) x p x W x 8 | always |
/// | margin bands | 4 x min(n, max(4096, n/16)) per pattern layer of n = p x units pairs: the values a probe pass keeps near the margin limits (`MarginMeter.bytes`) | always |
/// | lag snapshots and null model | 2 x 4P + 3 x p x W x 8: two lag snapshots, the null model's patterns (its perturbed parameters use the gradient block) (`ProbeInstruments`) | always |
/// | curve | N x (c x 8 + 8) x 2: Doubles (validation accuracy an optional of 16 bytes), arrays grown by doubling | always |
/// | allocation overhead | 4 KB per buffer: 256 KB + 64 KB per parameter group | always |
/// | workspace regrowth | 4 x workspace(R2), R2 the largest of the three capacities below R: a network grows its workspaces when a larger call comes, and the old ones live until the new ones exist | moment |
/// | GEMM packing | 4 x (KC x NC + MC x KC): the packed panels of one `sgemm` call | moment |
/// | curve as text and analysis | N x (c x 25 x 3 + 16 x 8): the CSV, the message to rank 0 and its decoded copy (25 characters bound a Double's shortest form and its separator), and the decay analysis's working arrays | moment |
/// | checkpoint | 4 x (4P x (4 + moments + 1 if gated) + 4 x p x W x 8 + N x c x 25) (with the previous recorded parameters and two lag snapshots): its arrays, its encoding grown by doubling, and rank 0's copy; only when the sweep checkpoints | moment |
/// | frozen gates | gated trials (`FrozenGates`): 4P (theta_g) + 4 x workspace(Rg) of the gate network, Rg = max(R, min(E, n)) (it also runs the training set in chunks) + p x W x 8 (the probe's gates) + within the 128 MiB cache bound n x W x 8 (the training set's gates) and 4B x units (the batch's masks) | always |
/// | frozen gates regrowth | gated trials: 4 x workspace of the gate network's next smaller capacity | moment |
/// | settling replay | 4P + 2 x p x W x 8 + 514 x (2 + groups + pattern layers) x 8 x 2: θ_T, the final and the current probe patterns, and the settling curve (at most 2 x 256 + 2 rows, arrays grown by doubling), held while the trial is replayed by a fresh trainer after the trained one is released (`SettlingReplay`; the trainer's own terms are counted above) | moment |
/// | process baseline | 64 MB: runtime, Foundation and OpenMPI (a rank measured 31 MB at its peak under mpirun) | always |
/// | data sets | what the rank's data cache holds (given by the caller) | always |
///
/// "moment" terms are transient, but they can coincide, so they are added rather than maximised.
public struct ResourceEstimate: Sendable {
    /// The setting a term grows with, to name in an error.
    public enum Cause: Sendable {
        case architecture, batch, probe, iterations, dataSets, fixed
    }

    public struct Term: Sendable, CustomStringConvertible {
        public let name: String
        public let bytes: Int
        public let cause: Cause
        /// Held for the whole trial (false: a moment's allocation).
        public let persistent: Bool
        public var description: String { "\(name) \(formatBytes(bytes))" }
    }

    public static let processBaselineBytes = 64_000_000
    /// Characters that bound one value of the curve in text (CSV or JSON): 24 for the longest
    /// shortest-round-trip Double, 1 for the separator.
    static let textBytesPerValue = 25

    public let spec: TrialSpec
    public let sizes: ArchitectureSizes
    public let terms: [Term]

    /// The sum of every term.
    public var total: Int { saturatingSum(terms.map(\.bytes)) }
    /// The sum of the terms held for the whole trial.
    public var persistent: Int { saturatingSum(terms.filter(\.persistent).map(\.bytes)) }

    public func bytes(_ name: String) -> Int { terms.first { $0.name == name }?.bytes ?? 0 }

    /// The three largest terms, "activations and workspaces 38.1 GB, parameters 1.20 GB, ...".
    public var largestTerms: String {
        terms.sorted { $0.bytes > $1.bytes }.prefix(3).map(\.description).joined(separator: ", ") + ", ..."
    }

    /// The estimate for `spec` on the data as prepared; `dataBytes` is what the rank's data cache
    /// holds (`DatasetCache.heldBytes`); `checkpoints` whether the trial will be checkpointed.
    public init(spec: TrialSpec, data: PreparedData, checkpoints: Bool, dataBytes: Int) throws {
        try self.init(spec: spec, trainExamples: data.train.count, validationExamples: data.validation.count,
                      probeExamples: data.probe.count, checkpoints: checkpoints, dataBytes: dataBytes)
    }

    public init(spec: TrialSpec, trainExamples n: Int, validationExamples v: Int, probeExamples p: Int,
                checkpoints: Bool, dataBytes: Int) throws {
        let architecture = try Architecture(parsing: spec.arch)
        let sizes = try ArchitectureSizes(architecture)
        self.spec = spec
        self.sizes = sizes
        let P = sizes.parameterCount, B = spec.batchSize, E = Trainer.evaluationChunk
        let parameterBytes = saturatingProduct(4, P)
        let moments: Int
        switch spec.optimizer.kind {
        case .sgd: moments = spec.optimizer.momentum > 0 ? 1 : 0
        case .adam, .adamw: moments = 2
        }
        // Workspace capacities: the probe chunks at initialisation, the batch, the validation chunks.
        let capacities = [min(E, p), B, min(E, v)]
        let R = capacities.max()!
        let R2 = capacities.filter { $0 < R }.max() ?? 0
        let recorded = spec.iterations / spec.recordEvery + 1
        let layerLagColumns = LagSnapshot.lags.count * (sizes.patternUnits.count + 2 * sizes.parameterGroupCount)
        let columns = 8 + 2 * (sizes.parameterGroupCount + sizes.patternUnits.count) + 2 * (12 + 6 * sizes.patternUnits.count + layerLagColumns)
        let patternCopy = saturatingProduct(p, sizes.patternWordsPerExample, 8)
        let curveText = saturatingProduct(recorded, columns, Self.textBytesPerValue)
        let gemmFloats = gemmKC * gemmNC + gemmMC * gemmKC

        func term(_ name: String, _ bytes: Int, _ cause: Cause, persistent: Bool = true) -> Term {
            Term(name: name, bytes: bytes, cause: cause, persistent: persistent)
        }
        var terms = [
            term("parameters", parameterBytes, .architecture),
            term("gradients", parameterBytes, .architecture),
            term("weight-update copy", parameterBytes, .architecture),
            term("optimizer state", saturatingProduct(moments, parameterBytes), .architecture),
            term("activations and workspaces", saturatingProduct(4, sizes.workspaceFloats(examples: R)),
                 B >= min(E, max(p, v)) ? .batch : .architecture),
            term("batch and epoch order", saturatingSum([saturatingProduct(4, B, architecture.inputSize + 1 + architecture.classCount),
                                                         saturatingProduct(16, n),
                                                         saturatingProduct(4, E, architecture.inputSize + 1)]), .batch),
            term("probe as Floats", sizes.packsProbeInput ? 0 : saturatingProduct(4, p, architecture.inputSize), .probe),
            term("probe packed", !sizes.packsProbeInput ? 0
                    : saturatingProduct(4, architecture.inputSize, saturatingSum([saturatingProduct(p / E, gemmRoundUp(E, gemmMR)),
                                                                                gemmRoundUp(p % E, gemmMR)])), .probe),
            term("pattern storage", saturatingProduct(3, patternCopy), .probe),
            term("margin bands", MarginMeter.bytes(exampleCount: p, unitsPerExample: sizes.patternUnits), .probe),
            term("lag snapshots and null model", saturatingSum([saturatingProduct(2, parameterBytes), saturatingProduct(3, patternCopy)]),
                 .architecture),
            term("curve", saturatingProduct(recorded, columns * 8 + 8, 2), .iterations),
            term("allocation overhead", 262_144 + 65_536 * sizes.parameterGroupCount, .fixed),
            term("workspace regrowth", saturatingProduct(4, R2 > 0 ? sizes.workspaceFloats(examples: R2) : 0), .batch,
                 persistent: false),
            term("GEMM packing", 4 * gemmFloats, .fixed, persistent: false),
            term("curve as text and analysis", saturatingSum([saturatingProduct(curveText, 3), saturatingProduct(recorded, 16 * 8)]),
                 .iterations, persistent: false),
        ]
        if spec.gates != nil {
            let gateCapacities = capacities + [min(E, n)]
            let Rg = gateCapacities.max()!, R2g = gateCapacities.filter { $0 < Rg }.max() ?? 0
            let cache = FrozenGates.cacheBytes(unitsPerExample: sizes.patternUnits, examples: n)
            let cached = cache <= FrozenGates.defaultCacheLimitBytes
            let masks = saturatingProduct(4, B, saturatingSum(sizes.patternUnits))
            terms.append(term("frozen gates", saturatingSum([parameterBytes, saturatingProduct(4, sizes.workspaceFloats(examples: Rg)),
                                                             patternCopy, cached ? cache : 0, cached ? masks : 0]), .architecture))
            terms.append(term("frozen gates regrowth", saturatingProduct(4, R2g > 0 ? sizes.workspaceFloats(examples: R2g) : 0),
                              .architecture, persistent: false))
        }
        let settlingRows = 2 * SettlingSchedule.minimumSnapshots + 2
        let settlingColumns = 2 + sizes.parameterGroupCount + sizes.patternUnits.count
        terms.append(term("settling replay", saturatingSum([parameterBytes, saturatingProduct(2, patternCopy),
                                                            saturatingProduct(settlingRows, settlingColumns, 16)]), .architecture, persistent: false))
        if checkpoints {
            // theta, the previous recorded theta, two lag snapshots, the moments, theta_g of a gated trial
            let copies = 4 + moments + (spec.gates == nil ? 0 : 1)
            let state = saturatingProduct(parameterBytes, copies), patterns = saturatingProduct(4, patternCopy)
            let content = saturatingSum([state, patterns, curveText])
            // The checkpoint is blamed on whichever part of it dominates: the model, the probe, or the curve.
            let blame: Cause = curveText >= max(state, patterns) ? .iterations : (patterns > state ? .probe : .architecture)
            terms.append(term("checkpoint", saturatingProduct(4, content), blame, persistent: false))
        }
        terms.append(term("process baseline", Self.processBaselineBytes, .fixed))
        terms.append(term("data sets", dataBytes, .dataSets))
        self.terms = terms
    }

    /// Throws `ResourceShortfall` when the total exceeds the budget.
    public func check(_ budget: MemoryBudget) throws {
        if total > budget.bytesPerRank { throw ResourceShortfall(estimate: self, budget: budget) }
    }
}

/// A trial that needs more memory than a rank has. `message(naming:)` is the one-line error, with
/// the setting to change named the way the caller names settings (a sweep file's key and line, a
/// command-line flag).
public struct ResourceShortfall: Error, CustomStringConvertible {
    public let estimate: ResourceEstimate
    public let budget: MemoryBudget

    /// The largest term: the one the error blames.
    public var largest: ResourceEstimate.Term { estimate.terms.max { $0.bytes < $1.bytes }! }

    /// The sweep-file key of the setting the largest term grows with: `arch`, `batch_size`,
    /// `dataset.probe_subset`, `iterations` or `dataset`.
    public var blamedKey: String {
        switch largest.cause {
        case .architecture, .fixed: return "arch"
        case .batch: return "batch_size"
        case .probe: return "dataset.probe_subset"
        case .iterations: return "iterations"
        case .dataSets: return "dataset"
        }
    }

    /// The blamed setting's value as written in the error.
    var blamedValue: String {
        let spec = estimate.spec
        switch blamedKey {
        case "batch_size": return "\(spec.batchSize)"
        case "dataset.probe_subset": return "\(spec.dataset.probeSubset)"
        case "iterations": return "\(spec.iterations)" + (spec.recordEvery > 1 ? " (record_every \(spec.recordEvery))" : "")
        case "dataset": return "'\(spec.dataset.name)'"
        default: return "'\(spec.arch)'"
        }
    }

    /// "needs 318 GB for parameters alone; a rank has 11.7 GB (...)" or "needs 41.2 GB
    /// (activations and workspaces 38.1 GB, parameters 1.20 GB, ...); a rank has ...".
    public var needs: String {
        let parameters = estimate.bytes("parameters")
        let has = "a rank has \(budget)"
        if parameters > budget.bytesPerRank {
            return "needs \(formatBytes(parameters)) for parameters alone; \(has)"
        }
        return "needs \(formatBytes(estimate.total)) (\(estimate.largestTerms)); \(has)"
    }

    /// The one-line error, `label` naming the blamed setting (e.g. `grid.arch[2]`, `--arch`).
    public func message(naming label: String) -> String {
        blamedKey == "arch" ? "\(label) \(blamedValue) \(needs)" : "\(label) \(blamedValue) (arch '\(estimate.spec.arch)') \(needs)"
    }

    public var description: String { message(naming: blamedKey) }
}
