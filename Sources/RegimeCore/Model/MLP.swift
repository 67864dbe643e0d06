/// A fully-connected ReLU network (see docs/numerics.md for the exact conventions).
///
/// Layer l = 1..L maps D(l-1) to D(l) features with `W_l` (D(l) x D(l-1), row-major) and `b_l`;
/// the parameter block is W1, b1, W2, b2, ..., WL, bL. Hidden layers are followed by ReLU, whose
/// on/off states (`Z_l > 0`) are the activation pattern.
public final class MLP: Network {
    public let widths: [Int]
    public let parameterCount: Int
    public let parameterGroups: [ParameterGroup]
    public let patternLayers: [PatternLayer]
    public var architecture: Architecture { .mlp(widths: widths) }

    /// Offsets of W_l and b_l in the parameter block, l = 1..L stored at index l-1.
    let weightOffsets: [Int]
    let biasOffsets: [Int]
    private var layerCount: Int { widths.count - 1 }

    // Workspaces, sized for `capacity` rows.
    private var capacity = 0
    private var preActivations: [FloatBuffer] = []   // Z_l, B x D_l
    private var activations: [FloatBuffer] = []      // H_l = relu(Z_l), hidden layers only
    private var gradientScratch: [FloatBuffer] = []  // two B x max(hidden D) buffers for dH
    public var preActivationTap: PreActivationTap?
    /// Set by the caller before a plain pass when the parameters it gives are the values, at the
    /// same address, that the last plain pass (`forward` or `forwardPatterns`) read: the pass then
    /// multiplies by the weights that pass packed (`packedWeights`) instead of packing them again.
    /// Every plain pass clears it. The trainer sets it within a probe pass (after its first chunk)
    /// and for the training forward after a probe pass of the same parameters.
    public var reusePackedWeights = false
    /// W_l^T packed as the forward GEMM reads it, l = 1..L at index l-1; the first
    /// `packedLayerCount` hold the weights of the last plain pass.
    private var packedWeights: [GEMMPackedB] = []
    private var packedLayerCount = 0
    /// During an update (`parametersUpdated`): the parameters below this offset are new and their
    /// complete slivers packed; 0 between updates. `nextPackAt`: where the next sliver completes.
    private var updatedThrough = 0
    private var nextPackAt = 0
    /// Tests switch reuse off to compare with packing at every pass, and count the packings of a
    /// whole layer: all of them, and those a pass made (not `parametersUpdated`).
    var reuseEnabled = true
    private(set) var weightPackings = 0
    private(set) var passPackings = 0

    public init(widths: [Int]) {
        precondition(widths.count >= 2 && widths.allSatisfy { $0 > 0 })
        self.widths = widths
        var offset = 0
        var weights: [Int] = [], biases: [Int] = [], groups: [ParameterGroup] = []
        for l in 1..<widths.count {
            let start = offset
            weights.append(offset); offset += widths[l] * widths[l - 1]
            biases.append(offset); offset += widths[l]
            groups.append(ParameterGroup(name: "fc\(l)", range: start..<offset))
        }
        weightOffsets = weights
        biasOffsets = biases
        parameterCount = offset
        parameterGroups = groups
        patternLayers = (1..<(widths.count - 1)).map { PatternLayer(name: "fc\($0)", unitsPerExample: widths[$0]) }
    }

    /// He/Kaiming normal: W ~ N(0, 2 / fan_in), b = 0, drawn layer by layer in block order.
    public func initialize(parameters: UnsafeMutablePointer<Float>, rng: inout Xoshiro256) {
        for l in 1...layerCount {
            let fanIn = widths[l - 1]
            let std = (2.0 / Double(fanIn)).squareRoot()
            let w = parameters + weightOffsets[l - 1]
            for i in 0..<(widths[l] * fanIn) { w[i] = Float(rng.nextNormal() * std) }
            (parameters + biasOffsets[l - 1]).update(repeating: 0, count: widths[l])
        }
    }

    private func reserve(rows: Int) {
        guard rows > capacity else { return }
        capacity = rows
        preActivations = (1...layerCount).map { FloatBuffer(count: rows * widths[$0]) }
        activations = (1..<layerCount).map { FloatBuffer(count: rows * widths[$0]) }
        // dH_l for l = 1..L-1 (the input's gradient is never formed): the widest hidden layer.
        let widest = widths.dropFirst().dropLast().max() ?? 0
        gradientScratch = [FloatBuffer(count: rows * widest), FloatBuffer(count: rows * widest)]
    }

    public func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch B: Int,
                        gates: GateMasks?) -> UnsafePointer<Float> {
        forward(parameters: parameters, input: input, batch: B, gates: gates, layers: layerCount)
        return UnsafePointer(preActivations[layerCount - 1].pointer)
    }

    public func forwardPatterns(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch B: Int) {
        forward(parameters: parameters, input: input, batch: B, gates: nil, layers: layerCount - 1)
    }

    /// The input packed as the first layer's GEMM reads it (Z_1 = X W_1^T: X is op(A)).
    public func prepareFixedInput(_ input: UnsafePointer<Float>, batch B: Int) -> PreparedInput? {
        GEMMPackedA(transA: false, m: B, k: widths[0], a: input, lda: widths[0])
    }

    public func forwardPatterns(parameters: UnsafePointer<Float>, prepared: PreparedInput) {
        guard let packedInput = prepared as? GEMMPackedA else { preconditionFailure("MLP: an input another network prepared") }
        forward(parameters: parameters, input: nil, batch: packedInput.m, gates: nil, layers: layerCount - 1,
                packedInput: packedInput)
    }

    /// Layers 1...`layers` of the forward pass; the first layer reads X from `packedInput` when
    /// given, else from `input`.
    private func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>?, batch B: Int,
                         gates: GateMasks?, layers: Int, packedInput: GEMMPackedA? = nil) {
        reserve(rows: B)
        allocatePackedWeights()
        precondition(updatedThrough == 0, "MLP: a pass during an update")
        if !(reusePackedWeights && reuseEnabled) { packedLayerCount = 0 }
        reusePackedWeights = false
        var h = input
        for l in stride(from: 1, through: layers, by: 1) {
            let (inWidth, outWidth) = (widths[l - 1], widths[l])
            let z = preActivations[l - 1].pointer
            let weights = packedWeights[l - 1]
            if l > packedLayerCount {
                weights.pack(transB: true, b: parameters + weightOffsets[l - 1], ldb: inWidth)
                packedLayerCount = l
                weightPackings += 1
                passPackings += 1
            }
            // Z = H W^T + b, and H = ReLU(Z) for a hidden layer that feeds the next one, ungated:
            // the bias and the ReLU on each tile of Z as the GEMM finishes it (`GEMMTileHook`).
            let bias = parameters + biasOffsets[l - 1]
            let out = l < layerCount ? activations[l - 1].pointer : nil
            let relu = out != nil && gates == nil && l < layers
            func epilogue(_ rows: Range<Int>, _ columns: Range<Int>) {
                if relu {
                    addBiasReluKeepingZ(z, out!, ld: outWidth, bias, rows: rows, columns: columns)
                } else {
                    addBias(z, ld: outWidth, bias, rows: rows, columns: columns)
                }
            }
            if l == 1, let packedInput {
                precondition(packedInput.k == inWidth, "MLP: packed input of another width")
                sgemm(packedA: packedInput, packedB: weights, alpha: 1, beta: 0, c: z, ldc: outWidth, finished: epilogue)
            } else {
                sgemm(m: B, a: h!, lda: inWidth, packedB: weights, alpha: 1, beta: 0, c: z, ldc: outWidth, finished: epilogue)
            }
            if let out {
                // The last layer of a patterns-only pass (l == layers) has no ReLU: its output feeds nothing.
                if let gates {
                    gateForward(out, z, gate: gates[l - 1], count: B * outWidth)
                } else {
                    preActivationTap?(l - 1, 0, B, z)
                }
                h = UnsafePointer(out)
            }
        }
    }

    private func allocatePackedWeights() {
        if packedWeights.isEmpty {
            packedWeights = (1...layerCount).map { GEMMPackedB(k: widths[$0 - 1], n: widths[$0]) }
        }
    }

    /// Packs each 32-row sliver of every W_l (32 output units: 32 columns of W_l^T) as soon as the
    /// update has rewritten all its rows, while they are still in cache: packing after the update
    /// read them back from L3 (the pack was 4.5% of a tracked `mlp:784-256-256-10` iteration, 8% of
    /// an untracked one). After the last call all layers hold the new weights, so the next pass of
    /// them (the trainer says so with `reusePackedWeights`) packs nothing.
    public func parametersUpdated(_ parameters: UnsafePointer<Float>, through end: Int) {
        guard reuseEnabled else { return }
        precondition(end > updatedThrough && end <= parameterCount, "MLP: update ranges out of order")
        // Most calls (every 4096 elements) complete no sliver (32 rows of W_1: 25088 elements).
        if updatedThrough > 0 && end < nextPackAt && end < parameterCount {
            updatedThrough = end
            return
        }
        allocatePackedWeights()
        if updatedThrough == 0 { packedLayerCount = 0 }
        nextPackAt = parameterCount
        for l in 1...layerCount {
            let (inWidth, outWidth) = (widths[l - 1], widths[l])
            let w = weightOffsets[l - 1]
            // Slivers of layer l complete at `end` and not at `updatedThrough`.
            func complete(_ offset: Int) -> Int {
                let rows = max(0, min(outWidth, (offset - w) / inWidth))
                return rows == outWidth ? outWidth : rows / gemmNR * gemmNR
            }
            let (from, to) = (complete(updatedThrough), complete(end))
            if to < outWidth { nextPackAt = min(nextPackAt, w + min(to + gemmNR, outWidth) * inWidth) }
            guard to > from else { continue }
            packedWeights[l - 1].pack(transB: true, b: parameters + w, ldb: inWidth, columns: from..<to)
            if to == outWidth { weightPackings += 1 }
        }
        updatedThrough = end
        if end == parameterCount {
            packedLayerCount = layerCount
            updatedThrough = 0
        }
    }

    public func backward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, dlogits: UnsafePointer<Float>,
                         batch B: Int, gradients: UnsafeMutablePointer<Float>, gates: GateMasks?) {
        precondition(B <= capacity, "backward without a matching forward")
        var dz = dlogits
        var nextScratch = 0
        for l in stride(from: layerCount, through: 1, by: -1) {
            let (inWidth, outWidth) = (widths[l - 1], widths[l])
            let hPrevious = l > 1 ? UnsafePointer(activations[l - 2].pointer) : input
            // dW = dZ^T H_{l-1};  db = sum_b dZ
            sgemm(transA: true, transB: false, m: outWidth, n: inWidth, k: B, alpha: 1,
                  a: dz, lda: outWidth, b: hPrevious, ldb: inWidth, beta: 0, c: gradients + weightOffsets[l - 1], ldc: inWidth)
            biasGradient(gradients + biasOffsets[l - 1], dz, rows: B, columns: outWidth)
            guard l > 1 else { break }
            // dH_{l-1} = dZ W, then dZ_{l-1} = dH_{l-1} * [Z_{l-1} > 0] (or * gate_{l-1})
            let dh = gradientScratch[nextScratch].pointer
            nextScratch ^= 1
            sgemm(transA: false, transB: false, m: B, n: inWidth, k: outWidth, alpha: 1,
                  a: dz, lda: outWidth, b: parameters + weightOffsets[l - 1], ldb: inWidth, beta: 0, c: dh, ldc: inWidth)
            reluBackward(dh, dh, preActivation: gates?[l - 2] ?? UnsafePointer(preActivations[l - 2].pointer), count: B * inWidth)
            dz = UnsafePointer(dh)
        }
    }

    public func patternSource(layer: Int) -> UnsafePointer<Float> { UnsafePointer(preActivations[layer].pointer) }
}

/// The MLP's prepared probe input: X packed as its first GEMM's A.
extension GEMMPackedA: PreparedInput {
    public var examples: Int { m }
}
