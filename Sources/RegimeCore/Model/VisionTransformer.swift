/// A ViT-style classifier `vit:CxHxW-p<P>-d<D>-h<H>-l<L>[-cls]-K` (docs/architectures.md).
///
/// Forward, per example (rows are tokens, R = B*T rows in a batch):
/// - patches: the image (C, H, W) is cut into P x P patches in row-major patch order; a patch is
///   the vector (c, dy, dx) of length C*P*P. `E = patches We^T + be`.
/// - tokens: X0[t] = E[t] + pos[t] (T = number of patches); with a class token, X0[0] = cls + pos[0]
///   and X0[1 + t] = E[t] + pos[1 + t].
/// - each of the L pre-LayerNorm blocks:
///   `A = LN1(X); QKV = A Wqkv^T; X' = X + Attn(QKV) Wo^T + bo;`
///   `Z = LN2(X') W1^T + b1; X'' = X' + relu(Z) W2^T + b2` (attention as in Kernels/Attention.swift).
/// - head: `F = LNf(X)`, pooled = mean over tokens of F (or F[0] with a class token),
///   logits = pooled Wh^T + bh.
///
/// Parameter block, in order (all matrices (out, in) row-major):
/// `We (D, C*P*P), be (D), [cls (D)], pos (T, D)`, then per block
/// `ln1.gamma (D), ln1.beta (D), Wqkv (3D, D), Wo (D, D), bo (D),
///  ln2.gamma (D), ln2.beta (D), W1 (4D, D), b1 (4D), W2 (D, 4D), b2 (D)`, then
/// `lnf.gamma (D), lnf.beta (D), Wh (K, D), bh (K)`.
/// The Q, K, V projection has no bias: a K bias gets an exactly-zero gradient (the softmax is
/// invariant to a per-row shift), which Adam would turn into a noise-driven random walk that
/// pollutes the weight-update instrument, and a V bias only duplicates `bo`.
/// Groups: `embed` (We..pos), `block<l>.attn` (ln1..bo), `block<l>.ffn` (ln2..b2), `head` (lnf..bh).
///
/// Pattern layers `block<l>.ffn`: the bits Z > 0 of the feed-forward hidden units, unit
/// u = t*4D + j for token t (class token first when present) and hidden unit j.
///
/// Init, in block order: We Xavier normal N(0, 2/(C*P*P + D)); cls and pos N(0, 0.02^2); Wqkv
/// Xavier normal per D x D projection, N(0, 1/D); Wo N(0, 1/D); W1 He normal N(0, 2/D) (it feeds
/// the ReLU); W2 Xavier N(0, 2/(5D)); Wh Xavier N(0, 2/(D + K)); biases 0; LayerNorm gamma 1, beta 0.
public final class VisionTransformer: Network {
    public let spec: ViTSpec
    public var architecture: Architecture { .vit(spec) }
    public let parameterCount: Int
    public let parameterGroups: [ParameterGroup]
    public let patternLayers: [PatternLayer]
    /// Multiply-adds x 2 of one example's forward pass: the linear maps and the two attention
    /// products (LayerNorm, softmax, ReLU, biases and residual additions are not counted).
    public let flopsPerExampleForward: Double
    /// The same for the backward pass (the patch embedding needs no input gradient).
    public let flopsPerExampleBackward: Double
    /// The probe pass, which ends at the last block's hidden units (`forwardPatterns`): the forward
    /// pass without that block's second feed-forward product and the head.
    public let flopsPerExampleProbe: Double

    struct BlockOffsets {
        var ln1Gamma, ln1Beta, qkvW, oW, oB, ln2Gamma, ln2Beta, f1W, f1B, f2W, f2B: Int
    }
    let T: Int          // tokens
    let Np: Int         // patches
    let D: Int
    let F: Int          // 4D
    let patchSize: Int  // C*P*P
    let patchW: Int, patchB: Int, cls: Int?, pos: Int
    let blocks: [BlockOffsets]
    let lnfGamma: Int, lnfBeta: Int, headW: Int, headB: Int
    let attention: AttentionShape

    // Workspaces for `capacity` examples (R = capacity * T rows).
    private var capacity = 0
    struct BlockBuffers {
        var ln1: FloatBuffer, ln1Mean: FloatBuffer, ln1Rstd: FloatBuffer
        var qkv: FloatBuffer, probs: FloatBuffer, attn: FloatBuffer, x1: FloatBuffer
        var ln2: FloatBuffer, ln2Mean: FloatBuffer, ln2Rstd: FloatBuffer
        var hidden: FloatBuffer, x2: FloatBuffer
    }
    private var patches = FloatBuffer(count: 0)
    private var embedded = FloatBuffer(count: 0)   // E, or dE in the backward pass (class-token case)
    private var x0 = FloatBuffer(count: 0)
    private var blockBuffers: [BlockBuffers] = []
    private var lnf = FloatBuffer(count: 0), lnfMean = FloatBuffer(count: 0), lnfRstd = FloatBuffer(count: 0)
    private var pooled = FloatBuffer(count: 0)
    private var logits = FloatBuffer(count: 0)
    private var dx = FloatBuffer(count: 0), dtmp = FloatBuffer(count: 0), dwide = FloatBuffer(count: 0)
    private var dpooled = FloatBuffer(count: 0)
    private let scratch: FloatBuffer
    /// A block's weight matrices transposed and packed for `sgemm(packedB:)`: the forward pass runs
    /// in groups of examples (`forwardGroupRows`), each group multiplying by the same weights.
    struct PackedBlockWeights {
        let qkv: GEMMPackedB, o: GEMMPackedB, f1: GEMMPackedB, f2: GEMMPackedB
    }
    /// We^T and each block's weights, packed by the last plain pass (`packWeights`).
    private let packedPatch: GEMMPackedB
    private let packedBlocks: [PackedBlockWeights]
    /// Whether the packed weights hold the parameters of the last plain pass.
    private var packedWeightsValid = false
    /// A block's weights as the grouped backward pass multiplies by them (W, not W^T: dH = dX W2,
    /// dLN2 = dH W1, dAttn = dX' Wo, dLN1 = dQKV Wqkv), packed once per backward pass for its groups.
    struct BackwardPackedWeights {
        let f2: GEMMPackedB, f1: GEMMPackedB, o: GEMMPackedB, qkv: GEMMPackedB
    }
    private let backwardPackedBlocks: [BackwardPackedWeights]
    /// A group's rows of an activation (X in dW = dY^T X, D columns), packed for the weight
    /// gradient's product: by the group's row count (the last group may be shorter).
    private var packedGroupRows: [Int: GEMMPackedB] = [:]
    /// Each block's dW2^T (F x D): the grouped backward sums H^T dX over the groups here and
    /// transposes it into the gradient at the end (see `backwardGroup`).
    private var ffnOutputGradientTransposed = FloatBuffer(count: 0)
    public var preActivationTap: PreActivationTap?
    /// `Network.reusePackedWeights`: set by the trainer before a plain pass that reads the
    /// parameters of the last plain pass or update; the pass then multiplies by the weights that
    /// pass or update packed (`parametersUpdated`). Every plain pass clears it.
    public var reusePackedWeights = false
    /// Tests switch reuse off to compare with packing at every pass, and count the packings.
    var reuseEnabled = true
    private(set) var weightPackings = 0

    public init(spec: ViTSpec) {
        self.spec = spec
        let D = spec.dim, F = spec.ffnWidth, T = spec.tokenCount, K = spec.classes
        let patchSize = spec.input.channels * spec.patch * spec.patch
        self.D = D; self.F = F; self.T = T; Np = spec.patchCount; self.patchSize = patchSize
        var offset = 0
        func take(_ n: Int) -> Int { defer { offset += n }; return offset }
        var groups: [ParameterGroup] = []
        patchW = take(D * patchSize); patchB = take(D)
        cls = spec.classToken ? take(D) : nil
        pos = take(T * D)
        groups.append(ParameterGroup(name: "embed", range: 0..<offset))
        var blocks: [BlockOffsets] = []
        var patterns: [PatternLayer] = []
        for l in 1...spec.depth {
            let attnStart = offset
            let ln1g = take(D), ln1b = take(D), qkvW = take(3 * D * D), oW = take(D * D), oB = take(D)
            groups.append(ParameterGroup(name: "block\(l).attn", range: attnStart..<offset))
            let ffnStart = offset
            let ln2g = take(D), ln2b = take(D), f1W = take(F * D), f1B = take(F), f2W = take(D * F), f2B = take(D)
            groups.append(ParameterGroup(name: "block\(l).ffn", range: ffnStart..<offset))
            blocks.append(BlockOffsets(ln1Gamma: ln1g, ln1Beta: ln1b, qkvW: qkvW, oW: oW, oB: oB,
                                       ln2Gamma: ln2g, ln2Beta: ln2b, f1W: f1W, f1B: f1B, f2W: f2W, f2B: f2B))
            patterns.append(PatternLayer(name: "block\(l).ffn", unitsPerExample: T * F))
        }
        let headStart = offset
        lnfGamma = take(D); lnfBeta = take(D); headW = take(K * D); headB = take(K)
        groups.append(ParameterGroup(name: "head", range: headStart..<offset))
        self.blocks = blocks
        parameterCount = offset
        parameterGroups = groups
        patternLayers = patterns
        attention = AttentionShape(tokens: T, dim: D, heads: spec.heads)
        scratch = FloatBuffer(count: max(attention.scratchCount, D))
        packedPatch = GEMMPackedB(k: patchSize, n: D)
        backwardPackedBlocks = blocks.map { _ in
            BackwardPackedWeights(f2: GEMMPackedB(k: D, n: F), f1: GEMMPackedB(k: F, n: D), o: GEMMPackedB(k: D, n: D),
                                  qkv: GEMMPackedB(k: 3 * D, n: D))
        }
        packedBlocks = blocks.map { _ in
            PackedBlockWeights(qkv: GEMMPackedB(k: D, n: 3 * D), o: GEMMPackedB(k: D, n: D), f1: GEMMPackedB(k: D, n: F),
                               f2: GEMMPackedB(k: F, n: D))
        }

        let (t, d) = (Double(T), Double(D))
        let embedFlops = 2 * Double(Np) * Double(patchSize) * d
        let blockLinear = 2 * t * d * (3 * d + d + 2 * Double(F))
        let blockFlops = blockLinear + attentionFlopsPerExample(attention)
        let headFlops = 2 * d * Double(K)
        flopsPerExampleForward = embedFlops + Double(spec.depth) * blockFlops + headFlops
        flopsPerExampleBackward = embedFlops + Double(spec.depth) * 2 * blockFlops + 2 * headFlops
        flopsPerExampleProbe = flopsPerExampleForward - 2 * t * Double(F) * d - headFlops
    }

    public func initialize(parameters: UnsafeMutablePointer<Float>, rng: inout Xoshiro256) {
        func normal(_ start: Int, _ count: Int, std: Double) {
            for i in 0..<count { parameters[start + i] = Float(rng.nextNormal() * std) }
        }
        func fill(_ start: Int, _ count: Int, _ value: Float) { (parameters + start).update(repeating: value, count: count) }
        let d = Double(D)
        normal(patchW, D * patchSize, std: (2 / Double(patchSize + D)).squareRoot())
        fill(patchB, D, 0)
        if let cls { normal(cls, D, std: 0.02) }
        normal(pos, T * D, std: 0.02)
        for b in blocks {
            fill(b.ln1Gamma, D, 1); fill(b.ln1Beta, D, 0)
            normal(b.qkvW, 3 * D * D, std: (1 / d).squareRoot())
            normal(b.oW, D * D, std: (1 / d).squareRoot()); fill(b.oB, D, 0)
            fill(b.ln2Gamma, D, 1); fill(b.ln2Beta, D, 0)
            normal(b.f1W, F * D, std: (2 / d).squareRoot()); fill(b.f1B, F, 0)
            normal(b.f2W, D * F, std: (2 / Double(D + F)).squareRoot()); fill(b.f2B, D, 0)
        }
        fill(lnfGamma, D, 1); fill(lnfBeta, D, 0)
        normal(headW, spec.classes * D, std: (2 / Double(D + spec.classes)).squareRoot())
        fill(headB, spec.classes, 0)
    }

    private func reserve(examples B: Int) {
        guard B > capacity else { return }
        capacity = B
        let R = B * T
        func buffer(_ n: Int) -> FloatBuffer { FloatBuffer(count: n) }
        patches = buffer(B * Np * patchSize)
        embedded = spec.classToken ? buffer(B * Np * D) : buffer(0)
        x0 = buffer(R * D)
        blockBuffers = blocks.map { _ in
            BlockBuffers(ln1: buffer(R * D), ln1Mean: buffer(R), ln1Rstd: buffer(R),
                         qkv: buffer(R * 3 * D), probs: buffer(B * attention.probsPerExample), attn: buffer(R * D), x1: buffer(R * D),
                         ln2: buffer(R * D), ln2Mean: buffer(R), ln2Rstd: buffer(R),
                         hidden: buffer(R * F), x2: buffer(R * D))
        }
        lnf = buffer(R * D); lnfMean = buffer(R); lnfRstd = buffer(R)
        pooled = buffer(B * D)
        logits = buffer(B * spec.classes)
        dx = buffer(R * D); dtmp = buffer(R * D); dwide = buffer(R * max(F, 3 * D))
        dpooled = buffer(B * D)
        ffnOutputGradientTransposed = buffer(blocks.count * F * D)
    }

    public func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch B: Int,
                        gates: GateMasks?) -> UnsafePointer<Float> {
        forward(parameters: parameters, input: input, batch: B, gates: gates, patternsOnly: false)
        return UnsafePointer(logits.pointer)
    }

    /// Up to the last block's feed-forward hidden units (its pattern layer): that block's second
    /// matrix, the final LayerNorm, the pooling and the head are skipped. With a
    /// `preActivationTap` set, every group of examples (`forwardGroupRows`) is computed in the
    /// first group's rows of the buffers, which stay in L2, instead of the batch's (a probe chunk's
    /// 13 MiB of activations went to memory and back; nothing reads them after the pass): the
    /// `patternSource`s are then not the batch's (the tap has had the values); without a tap they
    /// are, as the protocol says. The values computed are the same either way.
    public func forwardPatterns(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch B: Int) {
        forward(parameters: parameters, input: input, batch: B, gates: nil, patternsOnly: true,
                inCache: preActivationTap != nil)
    }

    /// The probe's patch rows, cut once: the embedding product reads them as they are.
    public func prepareFixedInput(_ input: UnsafePointer<Float>, batch B: Int) -> PreparedInput? {
        let prepared = ViTPatches(examples: B, floatsPerExample: Np * patchSize)
        vitPatchify(prepared.rows.pointer, input, batch: B, shape: spec.input, patch: spec.patch)
        return prepared
    }

    public func forwardPatterns(parameters: UnsafePointer<Float>, prepared: PreparedInput) {
        guard let patches = prepared as? ViTPatches, patches.floatsPerExample == Np * patchSize else {
            preconditionFailure("VisionTransformer: an input another network prepared")
        }
        forward(parameters: parameters, input: nil, patches: UnsafePointer(patches.rows.pointer), batch: patches.examples,
                gates: nil, patternsOnly: true, inCache: preActivationTap != nil)
    }

    /// Rows (examples x tokens) of a group of the forward pass: 192, 12 examples of the tracked ViT
    /// (16 tokens), 16 of the GEMM's 12-row slivers. A group's activations (13 D floats a row: X,
    /// LN1, QKV, attention, X', LN2, the 4D hidden units, X'') are 640 KiB for D = 64, so they stay
    /// in L2 (2 MiB a core here) from the product that writes them to the kernels that read them;
    /// the whole probe chunk's (256 examples, 13 MiB) went through memory between the passes.
    static let forwardGroupRows = 192

    /// The forward pass in groups of examples; with `inCache`, each group in the first group's rows
    /// (`forwardPatterns`). The images are `input`, or given as patch rows (`patches`, prepared).
    private func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>?, patches prepared: UnsafePointer<Float>? = nil,
                         batch B: Int, gates: GateMasks?, patternsOnly: Bool, inCache: Bool = false) {
        reserve(examples: B)
        let p = parameters
        if !(reusePackedWeights && reuseEnabled && packedWeightsValid) { packWeights(p) }
        reusePackedWeights = false
        let group = max(1, Self.forwardGroupRows / T)
        for first in stride(from: 0, to: B, by: group) {
            forwardGroup(parameters: p, input: input, patches: prepared, first: first, count: min(group, B - first),
                         at: inCache ? 0 : first, gates: gates, patternsOnly: patternsOnly)
        }
        if patternsOnly { return }
        for b in 0..<B {
            let out = pooled.pointer + b * D
            let f = lnf.pointer + b * T * D
            if spec.classToken {
                out.update(from: f, count: D)
            } else {
                for i in 0..<D { out[i] = 0 }
                for t in 0..<T {
                    let row = f + t * D
                    for i in 0..<D { out[i] += row[i] }
                }
                let inverse = 1 / Float(T)
                for i in 0..<D { out[i] *= inverse }
            }
        }
        let K = spec.classes
        sgemm(transA: false, transB: true, m: B, n: K, k: D, alpha: 1, a: pooled.pointer, lda: D,
              b: p + headW, ldb: D, beta: 0, c: logits.pointer, ldc: K)
        addBias(logits.pointer, p + headB, rows: B, columns: K)
    }

    /// An update rewrites the parameters: the packed weights are stale until its last call, which
    /// packs the new ones (while the update has left them in cache), so that the next pass, told
    /// to reuse them (`reusePackedWeights`), packs nothing.
    public func parametersUpdated(_ parameters: UnsafePointer<Float>, through end: Int) {
        packedWeightsValid = false
        if end == parameterCount && reuseEnabled { packWeights(parameters) }
    }

    /// We^T and every block's Wqkv^T, Wo^T, W1^T, W2^T packed for the pass's groups.
    private func packWeights(_ p: UnsafePointer<Float>) {
        packedPatch.pack(transB: true, b: p + patchW, ldb: patchSize)
        for (o, packed) in zip(blocks, packedBlocks) {
            packed.qkv.pack(transB: true, b: p + o.qkvW, ldb: D)
            packed.o.pack(transB: true, b: p + o.oW, ldb: D)
            packed.f1.pack(transB: true, b: p + o.f1W, ldb: D)
            packed.f2.pack(transB: true, b: p + o.f2W, ldb: F)
        }
        packedWeightsValid = true
        weightPackings += 1
    }

    /// Examples first..<first + count of the forward pass up to the final LayerNorm (with
    /// `patternsOnly`, up to the last block's hidden units), every block for this group before the
    /// next group starts, into the buffers' rows of examples slot..<slot + count (slot = first for
    /// the rows the backward pass reads; the tap and the gates see the examples as first...).
    /// Each row goes through the same operations as in whole-batch passes: a GEMM element's sum does
    /// not depend on the rows around it (`sgemm(packedB:)` gives `sgemm`'s bits), and LayerNorm,
    /// attention, bias, tap and ReLU work row by row or example by example. So the same bits.
    private func forwardGroup(parameters p: UnsafePointer<Float>, input: UnsafePointer<Float>?, patches prepared: UnsafePointer<Float>?,
                              first: Int, count: Int, at slot: Int, gates: GateMasks?, patternsOnly: Bool) {
        let (r0, rows) = (slot * T, count * T)
        // The group's patches (count*Np, C*P*P): prepared, or copied from its images just before
        // the product reads them, into its rows of `patches` (slot...), where they are still in L1
        // (37 KiB for the tracked ViT's 12 examples). The backward pass reads the batch's patches:
        // a training pass has slot = first.
        let groupPatches: UnsafePointer<Float>
        if let prepared {
            groupPatches = prepared + first * Np * patchSize
        } else {
            vitPatchify(patches.pointer + slot * Np * patchSize, input! + first * spec.input.count, batch: count,
                        shape: spec.input, patch: spec.patch)
            groupPatches = UnsafePointer(patches.pointer + slot * Np * patchSize)
        }
        // Embedding: E = patches We^T (into X0 directly without a class token), then + be + pos.
        let e = spec.classToken ? embedded.pointer : x0.pointer
        sgemm(m: count * Np, a: groupPatches, lda: patchSize, packedB: packedPatch, alpha: 1,
              beta: 0, c: e + slot * Np * D, ldc: D)
        // X0 = (E + be) + pos example by example, each example's LN1 of the first block while it is in L1.
        let firstPatchToken = spec.classToken ? 1 : 0
        let (block0, offsets0) = (blockBuffers[0], blocks[0])  // (a ViT has at least one block)
        for b in slot..<(slot + count) {
            for t in 0..<T {
                let row = x0.pointer + (b * T + t) * D
                if let cls, t == 0 {
                    addRows(row, p + cls, p + pos, count: D)
                } else {
                    addRows(row, e + (b * Np + t - firstPatchToken) * D, p + patchB, then: p + pos + t * D, count: D)
                }
            }
            layerNormForward(block0.ln1.pointer + b * T * D, mean: block0.ln1Mean.pointer + b * T,
                             rstd: block0.ln1Rstd.pointer + b * T, x0.pointer + b * T * D, gamma: p + offsets0.ln1Gamma,
                             beta: p + offsets0.ln1Beta, rows: T, width: D)
        }
        var x = UnsafePointer(x0.pointer + r0 * D)
        for (l, o) in blocks.enumerated() {
            let (w, packed) = (blockBuffers[l], packedBlocks[l])
            // (LN1 of this block was computed with its input X.)
            sgemm(m: rows, a: w.ln1.pointer + r0 * D, lda: D, packedB: packed.qkv, alpha: 1, beta: 0,
                  c: w.qkv.pointer + r0 * 3 * D, ldc: 3 * D)
            attentionForward(out: w.attn.pointer + r0 * D, probs: w.probs.pointer + slot * attention.probsPerExample,
                             qkv: w.qkv.pointer + r0 * 3 * D, batch: count, shape: attention, scratch: scratch.pointer)
            residualThenLayerNorm(w.x1.pointer + r0 * D, residual: x, product: w.attn.pointer + r0 * D, k: D,
                                  weights: packed.o, bias: p + o.oB, rows: rows, y: w.ln2.pointer + r0 * D,
                                  mean: w.ln2Mean.pointer + r0, rstd: w.ln2Rstd.pointer + r0,
                                  gamma: p + o.ln2Gamma, beta: p + o.ln2Beta)
            feedForwardHidden(layer: l, w, weights: packed.f1, parameters: p, offsets: o, first: first, count: count,
                              at: slot, gates: gates, keepHidden: !(patternsOnly && l == blocks.count - 1))
            if patternsOnly && l == blocks.count - 1 { return }
            // X'' = X' + relu(Z) W2^T + b2, and the next LayerNorm (the next block's LN1, or LNf).
            let last = l == blocks.count - 1
            let next = last ? nil : blockBuffers[l + 1]
            residualThenLayerNorm(w.x2.pointer + r0 * D, residual: w.x1.pointer + r0 * D, product: w.hidden.pointer + r0 * F,
                                  k: F, weights: packed.f2, bias: p + o.f2B, rows: rows,
                                  y: (next?.ln1.pointer ?? lnf.pointer) + r0 * D,
                                  mean: (next?.ln1Mean.pointer ?? lnfMean.pointer) + r0,
                                  rstd: (next?.ln1Rstd.pointer ?? lnfRstd.pointer) + r0,
                                  gamma: p + (last ? lnfGamma : blocks[l + 1].ln1Gamma),
                                  beta: p + (last ? lnfBeta : blocks[l + 1].ln1Beta))
            x = UnsafePointer(w.x2.pointer + r0 * D)
        }
    }

    /// The feed-forward hidden units of block `l` for examples first..<first + count (in the rows of
    /// examples slot...): Z = LN2(X') W1^T + b1 (W1^T packed: `weights`), handed to the tap (ungated,
    /// with a tap), then relu(Z), or gated, into `w.hidden`. The bias (and the ReLU, without a tap or
    /// gates) is added to each 12 x 32 tile of Z as the product stores it (`sgemmWithEpilogue`); the
    /// tap and the ReLU after it while the group's Z is in L2. Without `keepHidden` (the last block
    /// of `forwardPatterns`, whose hidden units only the tap reads) the ReLU after the tap is skipped:
    /// `w.hidden` then holds Z, in rows that are not the batch's anyway (`forwardPatterns`).
    private func feedForwardHidden(layer l: Int, _ w: BlockBuffers, weights: GEMMPackedB, parameters p: UnsafePointer<Float>,
                                   offsets o: BlockOffsets, first: Int, count: Int, at slot: Int, gates: GateMasks?,
                                   keepHidden: Bool) {
        let (rows, r0) = (count * T, slot * T)
        let z = w.hidden.pointer + r0 * F
        let tap = gates == nil ? preActivationTap : nil
        sgemmWithEpilogue(m: rows, n: F, k: D, a: w.ln2.pointer + r0 * D, lda: D, packedB: weights, c: z, ldc: F,
                          epilogue: .bias(p + o.f1B, relu: gates == nil && tap == nil))
        if let gates {
            gateForward(z, z, gate: gates[l] + first * T * F, count: rows * F)
        } else if let tap {
            tap(l, first, count, z)
            if keepHidden { reluForward(z, z, count: rows * F) }
        }
    }

    /// stream = residual + product W^T + bias (product R x k, W (D, k), W^T packed: `weights`), then
    /// y = LayerNorm(stream) with (gamma, beta), keeping each row's mean and rstd.
    ///
    /// The same bits as copying the residual into the stream, `sgemm` with beta = 1, `addBias` and
    /// `layerNormForward`: with k <= `gemmKC` the product is one depth block, whose beta = 1 store
    /// rounds acc + residual once, as `residualLayerNormForward` does after a beta = 0 product (which
    /// stores acc itself, alpha being 1). A deeper product adds the residual to its first block's
    /// partial sum, so it keeps the copy.
    private func residualThenLayerNorm(_ stream: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>,
                                       product a: UnsafePointer<Float>, k: Int, weights: GEMMPackedB,
                                       bias: UnsafePointer<Float>, rows R: Int, y: UnsafeMutablePointer<Float>,
                                       mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                                       gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>) {
        if k <= gemmKC {
            sgemm(m: R, a: a, lda: k, packedB: weights, alpha: 1, beta: 0, c: stream, ldc: D)
            residualLayerNormForward(y, mean: mean, rstd: rstd, stream: stream, residual: residual, bias: bias, gamma: gamma,
                                     beta: beta, rows: R, width: D)
        } else {
            stream.update(from: residual, count: R * D)
            sgemm(m: R, a: a, lda: k, packedB: weights, alpha: 1, beta: 1, c: stream, ldc: D)
            addBias(stream, bias, rows: R, columns: D)
            layerNormForward(y, mean: mean, rstd: rstd, stream, gamma: gamma, beta: beta, rows: R, width: D)
        }
    }

    public func backward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, dlogits: UnsafePointer<Float>,
                         batch B: Int, gradients g: UnsafeMutablePointer<Float>, gates: GateMasks?) {
        precondition(B <= capacity, "backward without a matching forward")
        let R = B * T, K = spec.classes
        let p = parameters
        // Head: dWh = dlogits^T pooled, dbh, dpooled = dlogits Wh.
        sgemm(transA: true, transB: false, m: K, n: D, k: B, alpha: 1, a: dlogits, lda: K, b: pooled.pointer, ldb: D,
              beta: 0, c: g + headW, ldc: D)
        biasGradient(g + headB, dlogits, rows: B, columns: K)
        sgemm(transA: false, transB: false, m: B, n: D, k: K, alpha: 1, a: dlogits, lda: K, b: p + headW, ldb: D,
              beta: 0, c: dpooled.pointer, ldc: D)
        // Pooling: dF into dtmp.
        let dF = dtmp.pointer
        for b in 0..<B {
            let dp = dpooled.pointer + b * D
            if spec.classToken {
                dF.advanced(by: b * T * D).update(from: dp, count: D)
                (dF + (b * T + 1) * D).update(repeating: 0, count: (T - 1) * D)
            } else {
                let inverse = 1 / Float(T)
                for t in 0..<T {
                    let row = dF + (b * T + t) * D
                    for i in 0..<D { row[i] = dp[i] * inverse }
                }
            }
        }
        // The blocks, in groups of rows (`backwardGroupRows`), each group through every block
        // before the next group starts.
        let lastX = blocks.isEmpty ? UnsafePointer(x0.pointer) : UnsafePointer(blockBuffers[blocks.count - 1].x2.pointer)
        let group = backwardGroupRows(rows: R)
        // Packed operands for groups of at most one depth block (a batch whose block does not hold
        // whole examples runs as one group of plain products: the whole-batch pass).
        let packs = backwardGroupsEnabled && group <= gemmKC
        if packs {
            for (o, packed) in zip(blocks, backwardPackedBlocks) {
                packed.f2.pack(transB: false, b: p + o.f2W, ldb: F)
                packed.f1.pack(transB: false, b: p + o.f1W, ldb: D)
                packed.o.pack(transB: false, b: p + o.oW, ldb: D)
                packed.qkv.pack(transB: false, b: p + o.qkvW, ldb: D)
            }
        }
        for r0 in stride(from: 0, to: R, by: group) {
            backwardGroup(parameters: p, gradients: g, rows: r0..<min(R, r0 + group), lastX: lastX, gates: gates, packs: packs)
        }
        if packs {
            for (l, o) in blocks.enumerated() {  // dW2 = (dW2^T)^T
                let t = ffnOutputGradientTransposed.pointer + l * F * D
                for j in 0..<F {
                    for i in 0..<D { g[o.f2W + i * F + j] = t[j * D + i] }
                }
            }
        }
        // Embedding: dpos[t] = sum_b dX0[b, t]; dcls = sum_b dX0[b, 0]; dbe, dWe from the patch rows.
        let dpos = g + pos
        dpos.update(repeating: 0, count: T * D)
        for b in 0..<B {
            for t in 0..<T {
                let row = dx.pointer + (b * T + t) * D
                let out = dpos + t * D
                for i in 0..<D { out[i] += row[i] }
            }
        }
        var dE = UnsafePointer(dx.pointer)
        if let cls {
            let dcls = g + cls
            dcls.update(repeating: 0, count: D)
            for b in 0..<B {
                let row = dx.pointer + b * T * D
                for i in 0..<D { dcls[i] += row[i] }
                (embedded.pointer + b * Np * D).update(from: row + D, count: Np * D)
            }
            dE = UnsafePointer(embedded.pointer)
        }
        biasGradient(g + patchB, dE, rows: B * Np, columns: D)
        sgemm(transA: true, transB: false, m: D, n: patchSize, k: B * Np, alpha: 1, a: dE, lda: D, b: patches.pointer,
              ldb: patchSize, beta: 0, c: g + patchW, ldc: patchSize)
    }

    /// Tests switch the grouped backward off (one group of the whole batch: the whole-batch pass).
    var backwardGroupsEnabled = true

    /// Rows of a group of the backward pass for a batch of R rows: the depth block that `sgemm`
    /// gives a product of depth R (`gemmDepthBlock`: R in ceil(R / `gemmKC`) nearly equal parts,
    /// 512 rows = 32 examples of the tracked ViT's 2048) when it holds whole examples, else R.
    ///
    /// Why that size: the weight gradients dW = dY^T X are products of depth R, which `sgemm`
    /// sums in those depth blocks, each block's FMA chain from +0 added to C (C = acc, then
    /// C = acc + C). Products of depth one group each, the first with beta = 0 and the others with
    /// beta = 1, do exactly that, so the gradients are the same bits; every other operation of
    /// the backward pass is row by row (LayerNorm, biases, masks, the products by the weights) or
    /// example by example (attention), and the row sums (bias, gamma and beta gradients) continue
    /// in row order across groups. A group's activations and gradients (about 1.5 MiB of the
    /// feed-forward's for D = 64) then stay in L2 from the product that writes them to the ones
    /// that read them; the whole batch's (dH alone is 2 MiB) went to L3 between the passes.
    func backwardGroupRows(rows R: Int) -> Int {
        let block = gemmDepthBlock(k: R, kcBlock: gemmKC)
        return backwardGroupsEnabled && block % T == 0 ? block : R
    }

    /// The blocks' backward pass for `rows` (whole examples, a depth block of the weight gradients:
    /// `backwardGroupRows`): the final LayerNorm's from dF (in `dtmp`), then each block from the
    /// last, writing dX0 into `dx`. The first group (rows from 0) overwrites the gradients, the
    /// others add to them (beta = 1, `continuing`). dH and dQKV use the first rows of `dwide`.
    ///
    /// With `packs` the products read packed operands: the weights packed once per
    /// pass (`backwardPackedBlocks`), and for each weight gradient dW = dY^T X the group's rows of
    /// X packed (`packedGroupRows`, D columns), so that the kernel streams contiguous slivers
    /// instead of rows 256 B or 1 KiB apart (perf: the unpacked dW products stalled on those
    /// loads). dW2 = dX^T H (D x F) is taken as its transpose H^T dX (F x D) for the same reason
    /// (X = dX has D columns; H's rows are 1 KiB, 128 pages for a group): element (j, i) is the
    /// same FMA chain over the same rows, H[r, j] * dX[r, i] being dX[r, i] * H[r, j] exactly,
    /// and the same depth blocks, so the same bits, transposed into the gradient after the last
    /// group. Packed operands give `sgemm`'s bits (GEMM+Packed.swift). Without it, the plain
    /// products of the whole-batch pass.
    private func backwardGroup(parameters p: UnsafePointer<Float>, gradients g: UnsafeMutablePointer<Float>, rows: Range<Int>,
                               lastX: UnsafePointer<Float>, gates: GateMasks?, packs: Bool) {
        let (r0, G) = (rows.lowerBound, rows.count)
        let continuing = r0 > 0
        let beta: Float = continuing ? 1 : 0
        let dx = self.dx.pointer + r0 * D, dtmp = self.dtmp.pointer + r0 * D
        /// dW (m x D) (+)= dY^T X, X the group's rows (ld D) of an activation.
        func weightGradient(_ dw: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, ldy: Int, m: Int, x: UnsafePointer<Float>) {
            if packs {
                let packed = packedGroupRows[G] ?? GEMMPackedB(k: G, n: D)
                packedGroupRows[G] = packed
                packed.pack(transB: false, b: x, ldb: D)
                sgemm(transA: true, m: m, a: dy, lda: ldy, packedB: packed, alpha: 1, beta: beta, c: dw, ldc: D)
            } else {
                sgemm(transA: true, transB: false, m: m, n: D, k: G, alpha: 1, a: dy, lda: ldy, b: x, ldb: D, beta: beta,
                      c: dw, ldc: D)
            }
        }
        /// C (G x D) = A W (A: G x k, ld lda; W: k x D), W packed in `packed`.
        func timesWeights(_ c: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, lda: Int, k: Int,
                          w: UnsafePointer<Float>, packed: GEMMPackedB) {
            if packs {
                sgemm(m: G, a: a, lda: lda, packedB: packed, alpha: 1, beta: 0, c: c, ldc: D)
            } else {
                sgemm(transA: false, transB: false, m: G, n: D, k: k, alpha: 1, a: a, lda: lda, b: w, ldb: D, beta: 0, c: c, ldc: D)
            }
        }
        layerNormBackward(dx: dx, accumulate: false, dgamma: g + lnfGamma, dbeta: g + lnfBeta, continuing: continuing,
                          dy: dtmp, x: lastX + r0 * D, mean: lnfMean.pointer + r0, rstd: lnfRstd.pointer + r0,
                          gamma: p + lnfGamma, rows: G, width: D, scratch: scratch.pointer)
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            let o = blocks[l], w = blockBuffers[l], bw = backwardPackedBlocks[l]
            let xIn = (l > 0 ? UnsafePointer(blockBuffers[l - 1].x2.pointer) : UnsafePointer(x0.pointer)) + r0 * D
            // Feed-forward: X'' = X' + relu(Z) W2^T + b2, Z = LN2(X') W1^T + b1.
            let hidden = w.hidden.pointer + r0 * F
            if packs {  // dW2^T (+)= H^T dX
                weightGradient(ffnOutputGradientTransposed.pointer + l * F * D, dy: hidden, ldy: F, m: F, x: dx)
            } else {
                sgemm(transA: true, transB: false, m: D, n: F, k: G, alpha: 1, a: dx, lda: D, b: hidden, ldb: F,
                      beta: beta, c: g + o.f2W, ldc: F)
            }
            biasGradient(g + o.f2B, dx, rows: G, columns: D, continuing: continuing)
            // dH = (dX W2) masked by the pattern (or gate), and db1 = its column sums, tile by tile.
            let dh = dwide.pointer
            let epilogue = GEMMEpilogue.reluMaskBiasGradient(mask: (gates?[l] ?? UnsafePointer(w.hidden.pointer)) + r0 * F,
                                                             ldm: F, dbias: g + o.f1B, continuing: continuing)
            if packs {
                sgemmWithEpilogue(m: G, n: F, k: D, a: dx, lda: D, packedB: bw.f2, c: dh, ldc: F, epilogue: epilogue)
            } else {
                sgemmWithEpilogue(m: G, n: F, k: D, a: dx, lda: D, b: p + o.f2W, ldb: F, c: dh, ldc: F, epilogue: epilogue)
            }
            weightGradient(g + o.f1W, dy: dh, ldy: F, m: F, x: w.ln2.pointer + r0 * D)
            timesWeights(dtmp, a: dh, lda: F, k: F, w: p + o.f1W, packed: bw.f1)
            layerNormBackward(dx: dx, accumulate: true, dgamma: g + o.ln2Gamma, dbeta: g + o.ln2Beta, continuing: continuing,
                              dy: dtmp, x: w.x1.pointer + r0 * D, mean: w.ln2Mean.pointer + r0, rstd: w.ln2Rstd.pointer + r0,
                              gamma: p + o.ln2Gamma, rows: G, width: D, scratch: scratch.pointer)
            // Attention: X' = X + Attn(LN1(X) Wqkv^T) Wo^T + bo.
            weightGradient(g + o.oW, dy: dx, ldy: D, m: D, x: w.attn.pointer + r0 * D)
            biasGradient(g + o.oB, dx, rows: G, columns: D, continuing: continuing)
            timesWeights(dtmp, a: dx, lda: D, k: D, w: p + o.oW, packed: bw.o)
            let dqkv = dwide.pointer
            attentionBackward(dqkv: dqkv, dout: dtmp, qkv: w.qkv.pointer + r0 * 3 * D,
                              probs: w.probs.pointer + r0 / T * attention.probsPerExample, batch: G / T, shape: attention,
                              scratch: scratch.pointer)
            weightGradient(g + o.qkvW, dy: dqkv, ldy: 3 * D, m: 3 * D, x: w.ln1.pointer + r0 * D)
            timesWeights(dtmp, a: dqkv, lda: 3 * D, k: 3 * D, w: p + o.qkvW, packed: bw.qkv)
            layerNormBackward(dx: dx, accumulate: true, dgamma: g + o.ln1Gamma, dbeta: g + o.ln1Beta, continuing: continuing,
                              dy: dtmp, x: xIn, mean: w.ln1Mean.pointer + r0, rstd: w.ln1Rstd.pointer + r0,
                              gamma: p + o.ln1Gamma, rows: G, width: D, scratch: scratch.pointer)
        }
    }

    /// relu(z) > 0 exactly when z > 0, so the stored ReLU outputs carry the pattern.
    public func patternSource(layer: Int) -> UnsafePointer<Float> { UnsafePointer(blockBuffers[layer].hidden.pointer) }
}

/// patches (B*Np, C*P*P) from B images (C, H, W): patch (i, j) of example b is row b*Np + i*(W/P) + j,
/// entries (c, dy, dx); Np = (H/P)(W/P) (rows and columns past the last whole patch are unused).
///
/// For 4 <= P <= 8 each patch row of P floats is copied as one 8-float load and store: the
/// store's floats past P land on the next patch row's first ones, which a later copy writes
/// (the copies go in increasing order of dst), and the load's past P are inside the input
/// (the image row continues, or the next row, channel or example begins; in the input's last
/// row, a patch before the last ends at most W - P <= W - 4 floats in, and 8 - P <= 4 more
/// fit) except at the very last patch row of the batch, which goes float by float. The generic
/// loop's copies of 7 floats (4 wide, then 3 scalars, each with its loop tests) were 2% of a
/// tracked ViT step.
func vitPatchify(_ patches: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, batch B: Int, shape: ImageShape,
                 patch P: Int) {
    let (C, H, W) = (shape.channels, shape.height, shape.width)
    let across = W / P, Np = (H / P) * across, patchSize = C * P * P
    for b in 0..<B {
        let x = input + b * C * H * W
        for n in 0..<Np {
            let (i, j) = (n / across, n % across)
            let row = patches + (b * Np + n) * patchSize
            for c in 0..<C {
                for dy in 0..<P {
                    let src = x + (c * H + i * P + dy) * W + j * P
                    let dst = row + (c * P + dy) * P
                    if (4...8).contains(P) && !(b == B - 1 && n == Np - 1 && c == C - 1 && dy == P - 1) {
                        UnsafeMutableRawPointer(dst).storeBytes(of: UnsafeRawPointer(src).loadUnaligned(as: SIMD8<Float>.self),
                                                                as: SIMD8<Float>.self)
                    } else {
                        for dx in 0..<P { dst[dx] = src[dx] }
                    }
                }
            }
        }
    }
}


/// The ViT's prepared probe input (`VisionTransformer.prepareFixedInput`): `examples` images cut
/// into patch rows (`vitPatchify`), `floatsPerExample` = Np * C * P * P each. Cut once, a probe
/// pass's embedding product reads them in place: cutting each chunk's images at every pass was
/// 1.5% of a tracked ViT step (a copy of 7-float rows from images read from memory).
public final class ViTPatches: PreparedInput {
    public let examples: Int
    let floatsPerExample: Int
    let rows: FloatBuffer

    init(examples: Int, floatsPerExample: Int) {
        self.examples = examples
        self.floatsPerExample = floatsPerExample
        rows = FloatBuffer(count: examples * floatsPerExample)
    }
}
