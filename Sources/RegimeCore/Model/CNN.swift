/// Floats of activations per block of examples run through the convolutions together (512 KB,
/// about half of L2; measured best among 256 KB to 4 MB).
let cnnSpatialBlockFloats = 1 << 17

/// A convolutional ReLU network `cnn:CxHxW-...-K` (docs/architectures.md has the exact conventions).
///
/// - Feature maps are channel-last: an example's input (C, H, W) is first transposed to (H, W, C);
///   every later map is (H, W, C) row-major, channel fastest, and a fully-connected layer reads
///   its input flattened in that (h, w, c) order.
/// - Parameter block, in layer order: each convolution's weights (OC, K, K, IC) row-major then its
///   bias (OC); each fully-connected layer's weights (out, in) then bias (out); the classifier last.
///   Pooling has no parameters. Groups: `conv1`, `conv2`, ..., `fc1`, ..., `fc<n+1>` (the classifier).
/// - Every convolution and hidden fully-connected layer is followed by ReLU; their units are the
///   pattern layers (same names). Unit u of a convolution's pattern is output position
///   p = oh*OW + ow and channel c, with u = p*OC + c; of a fully-connected layer, the unit index.
///   The bit is `z > 0` for the pre-activation z.
/// - Init: He normal, W ~ N(0, 2/fan_in) with fan_in = K*K*IC (convolution) or `in` (fully
///   connected, classifier included, as in the MLP); biases 0. Drawn in parameter-block order.
public final class CNN: Network {
    public let spec: CNNSpec
    public var architecture: Architecture { .cnn(spec) }
    public let parameterCount: Int
    public let parameterGroups: [ParameterGroup]
    public let patternLayers: [PatternLayer]
    /// Multiply-adds x 2 of one example's forward pass (convolutions and fully-connected layers;
    /// bias, ReLU and pooling are not counted).
    public let flopsPerExampleForward: Double
    /// The same for the backward pass: weight gradients of every layer, input gradients of every
    /// layer but the first.
    public let flopsPerExampleBackward: Double
    /// Every op but the classifier (`forwardPatterns`).
    public let flopsPerExampleProbe: Double

    enum Op {
        case conv(ConvGeometry, weights: Int, bias: Int)
        case pool(height: Int, width: Int, channels: Int)
        case dense(inputs: Int, outputs: Int, weights: Int, bias: Int, relu: Bool)
    }
    let ops: [Op]
    /// Floats per example of each op's input and output.
    let inputSizes: [Int]
    let outputSizes: [Int]
    /// Ops whose (ReLU) output is a pattern layer, in pattern-layer order.
    let patternOps: [Int]

    // Workspaces, sized for `capacity` examples.
    private var capacity = 0
    private var inputHWC: FloatBuffer?
    private var outputs: [FloatBuffer] = []          // per op: its output (after ReLU where there is one)
    /// Per spatial op but the last: its output for one block of examples, where a tapped
    /// `forwardPatterns` keeps it (allocated on first use).
    private var blockOutputs: [FloatBuffer] = []
    private var cols = FloatBuffer(count: 0)
    private var dcols = FloatBuffer(count: 0)
    private var gradientScratch: [FloatBuffer] = []
    /// Two buffers of one block of examples for the gradients between spatial ops (see `backward`).
    private var blockGradients: [FloatBuffer] = []
    public var preActivationTap: PreActivationTap?
    /// `Network.reusePackedWeights`: set by the trainer before a plain pass that reads the
    /// parameters of the last plain pass or update; the pass then multiplies by the
    /// fully-connected weights that pass or update packed (`packedDense`). Every plain pass clears it.
    public var reusePackedWeights = false
    /// Each fully-connected op's W^T, packed as its forward GEMM reads it, by op index. Packing
    /// W^T is a transposing copy (`gemmPackTransposedSliver`: 2.2% of `regime train` of the
    /// tracked `cnn:1x28x28-c16k3-p-c32k3-p-fc128-10`, for the 1568 x 128 fc1 in the training
    /// forward and in each of two probe chunks); packed once per update (`parametersUpdated`),
    /// every pass of the same weights reads it. Eight alternating bench pairs: tracked it/s x1.008
    /// (median; 0.98-1.02). The same bits (`sgemm(packedB:)` is `sgemm`'s).
    private lazy var packedDense: [Int: GEMMPackedB] = Dictionary(uniqueKeysWithValues: ops.indices.compactMap { i in
        guard case .dense(let inputs, let outputs, _, _, _) = ops[i] else { return nil }
        return (i, GEMMPackedB(k: inputs, n: outputs))
    })
    /// Whether `packedDense` holds the parameters of the last plain pass or update.
    private var packedDenseValid = false
    /// Tests switch reuse off to compare with packing at every pass, and count the packings.
    var reuseEnabled = true
    private(set) var weightPackings = 0
    /// Opt-in (the `Trainer` sets it on its own network, which reads no `patternSource` after a
    /// plain `forward`): an ungated `forward` of a network whose first two ops are a convolution
    /// that `directBackwardThroughPoolApplies` to and a pool keeps that convolution's output only
    /// for one block of examples at a time (`blockOutputs[0]`, in cache), not for the batch, and
    /// `backward` computes it again, block by block, with the same kernel where
    /// `conv2dDirectBackwardThroughPool` reads it. The batch's is 50 KB per 28 x 28 example (6.4 MB
    /// for 128): writing it and reading it twice more (the pool, the backward pass) cost more than
    /// the second convolution of a block does. The convolution of an example does not depend on
    /// the others in its batch, so the values are the same bits; `patternSource(layer: 0)` is then
    /// not available (a precondition) until a forward pass that keeps it. Gated passes, other
    /// geometries and `forwardPatterns` keep today's behaviour.
    public var recomputesFirstConvolution = false
    /// Whether the last forward pass left the first convolution's batch output unwritten
    /// (`recomputesFirstConvolution`).
    private(set) var firstConvolutionInBlocks = false

    public init(spec: CNNSpec) {
        self.spec = spec
        var ops: [Op] = [], inSizes: [Int] = [], outSizes: [Int] = [], patternOps: [Int] = []
        var groups: [ParameterGroup] = [], patterns: [PatternLayer] = []
        var shape = spec.input
        var offset = 0
        var forward = 0.0, backward = 0.0
        var convCount = 0, denseCount = 0
        func addDense(_ inputs: Int, _ outputs: Int, relu: Bool) {
            denseCount += 1
            let start = offset
            let w = offset; offset += inputs * outputs
            let b = offset; offset += outputs
            groups.append(ParameterGroup(name: "fc\(denseCount)", range: start..<offset))
            if relu { patterns.append(PatternLayer(name: "fc\(denseCount)", unitsPerExample: outputs)); patternOps.append(ops.count) }
            let flops = 2 * Double(inputs) * Double(outputs)
            forward += flops
            backward += ops.isEmpty ? flops : 2 * flops
            ops.append(.dense(inputs: inputs, outputs: outputs, weights: w, bias: b, relu: relu))
            inSizes.append(inputs); outSizes.append(outputs)
        }
        for layer in spec.layers {
            switch layer {
            case .conv(let channels, let kernel, let stride, let same):
                convCount += 1
                let g = ConvGeometry(inChannels: shape.channels, inHeight: shape.height, inWidth: shape.width,
                                     outChannels: channels, kernel: kernel, stride: stride, pad: same ? kernel / 2 : 0)
                let start = offset
                let w = offset; offset += g.weightCount
                let b = offset; offset += channels
                groups.append(ParameterGroup(name: "conv\(convCount)", range: start..<offset))
                patterns.append(PatternLayer(name: "conv\(convCount)", unitsPerExample: g.outputSize))
                patternOps.append(ops.count)
                forward += g.flopsPerExample
                backward += ops.isEmpty ? g.flopsPerExample : 2 * g.flopsPerExample
                ops.append(.conv(g, weights: w, bias: b))
                inSizes.append(g.inputSize); outSizes.append(g.outputSize)
                shape = ImageShape(channels: channels, height: g.outHeight, width: g.outWidth)
            case .maxPool:
                ops.append(.pool(height: shape.height, width: shape.width, channels: shape.channels))
                inSizes.append(shape.count)
                shape = ImageShape(channels: shape.channels, height: shape.height / 2, width: shape.width / 2)
                outSizes.append(shape.count)
            case .dense(let units):
                addDense(shape.count, units, relu: true)
                shape = ImageShape(channels: units, height: 1, width: 1)
            }
        }
        flopsPerExampleProbe = forward
        addDense(shape.count, spec.classes, relu: false)
        self.ops = ops
        inputSizes = inSizes
        outputSizes = outSizes
        self.patternOps = patternOps
        parameterCount = offset
        parameterGroups = groups
        patternLayers = patterns
        flopsPerExampleForward = forward
        flopsPerExampleBackward = backward
    }

    /// He normal for every convolution and fully-connected layer, biases 0, in block order.
    public func initialize(parameters: UnsafeMutablePointer<Float>, rng: inout Xoshiro256) {
        for op in ops {
            let (w, b, count, fanIn, biasCount): (Int, Int, Int, Int, Int)
            switch op {
            case .conv(let g, let weights, let bias):
                (w, b, count, fanIn, biasCount) = (weights, bias, g.weightCount, g.patchSize, g.outChannels)
            case .dense(let inputs, let outputs, let weights, let bias, _):
                (w, b, count, fanIn, biasCount) = (weights, bias, inputs * outputs, inputs, outputs)
            case .pool:
                continue
            }
            let std = (2.0 / Double(fanIn)).squareRoot()
            for i in 0..<count { parameters[w + i] = Float(rng.nextNormal() * std) }
            (parameters + b).update(repeating: 0, count: biasCount)
        }
    }

    private func reserve(examples: Int) {
        guard examples > capacity else { return }
        capacity = examples
        inputHWC = spec.input.channels > 1 ? FloatBuffer(count: examples * spec.input.count) : nil
        outputs = outputSizes.map { FloatBuffer(count: examples * $0) }
        var colsCount = 0
        for case .conv(let g, _, _) in ops {
            colsCount = max(colsCount, g.scratchCount(chunk: g.chunkExamples(batch: examples)))
        }
        cols = FloatBuffer(count: colsCount)
        blockOutputs = []
        dcols = FloatBuffer(count: colsCount)
        let widest = max(inputSizes.max() ?? 0, outputSizes.max() ?? 0)
        gradientScratch = [FloatBuffer(count: examples * widest), FloatBuffer(count: examples * widest)]
        let spatialWidest = outputSizes.prefix(max(0, spatialOpCount - 1)).max() ?? 0
        let blockExamples = spatialBlock(batch: examples)
        blockGradients = spatialWidest == 0 ? [] : [FloatBuffer(count: blockExamples * spatialWidest),
                                                   FloatBuffer(count: blockExamples * spatialWidest)]
    }

    /// The network's input in channel-last order (the caller's buffer when there is one channel).
    private func channelLastInput(_ input: UnsafePointer<Float>) -> UnsafePointer<Float> {
        inputHWC.map { UnsafePointer($0.pointer) } ?? input
    }

    /// The convolutions and pools (the ops before the first fully-connected layer) run on blocks of
    /// `spatialBlock(batch:)` examples, each block through all of them before the next, so that a
    /// layer's output is still in cache when the next layer reads it; the fully-connected layers run
    /// on the whole batch. Block sizes depend only on the architecture and the batch size.
    private var spatialOpCount: Int { ops.firstIndex { if case .dense = $0 { return true } else { return false } } ?? ops.count }

    private func spatialBlock(batch B: Int) -> Int {
        let perExample = inputSizes[0] + outputSizes.prefix(spatialOpCount).reduce(0, +)
        return max(1, min(B, cnnSpatialBlockFloats / max(perExample, 1)))
    }

    /// The gate mask of op i's ReLU (whole batch), when the pass is gated and the op has a ReLU.
    private func gate(_ gates: GateMasks?, op i: Int) -> UnsafePointer<Float>? {
        guard let gates, let layer = patternOps.firstIndex(of: i) else { return nil }
        return gates[layer]
    }

    /// Runs op i on examples first..<first+count (forward), ReLU or gated by `gate`: `x` and `out` are
    /// those examples' rows of its input and output. `fusedRelu` (a tapped convolution whose output
    /// only the next op, a pool, reads): the convolution leaves its pre-activations in `out` and the
    /// pool takes the ReLU of each input as it loads it (the same values, one pass fewer).
    private func forwardOp(_ i: Int, parameters: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                           output out: UnsafeMutablePointer<Float>, first: Int, count: Int, gate: UnsafePointer<Float>?,
                           fusedRelu: Bool = false) {
        switch ops[i] {
        case .conv(let g, let w, let b):
            let tap = gate == nil ? preActivationTap : nil
            conv2dForward(output: out, input: x, weights: parameters + w, bias: parameters + b, batch: count,
                          geometry: g, relu: gate == nil && tap == nil, cols: cols.pointer)
            if let gate { gateForward(out, out, gate: gate + first * g.outputSize, count: count * g.outputSize) }
            if let tap {
                tap(patternOps.firstIndex(of: i)!, first, count, out)
                if !fusedRelu { reluForward(out, out, count: count * g.outputSize) }
            }
        case .pool(let height, let width, let channels):
            maxPool2x2Forward(out, x, batch: count, height: height, width: width, channels: channels, reluInput: fusedRelu)
        case .dense(let inputs, let outputs, _, let b, let relu):
            // The bias, and the ReLU when nothing reads the pre-activations, on each tile of the
            // product as the GEMM finishes it (`GEMMTileHook`).
            let bias = parameters + b, tap = relu && gate == nil ? preActivationTap : nil
            let fusedRelu = relu && gate == nil && tap == nil
            func epilogue(_ rows: Range<Int>, _ columns: Range<Int>) {
                addBias(out, ld: outputs, bias, rows: rows, columns: columns, relu: fusedRelu)
            }
            sgemm(m: count, a: x, lda: inputs, packedB: packedDense[i]!, alpha: 1, beta: 0, c: out, ldc: outputs,
                  finished: epilogue)
            if let tap {
                tap(patternOps.firstIndex(of: i)!, first, count, out)
                reluForward(out, out, count: count * outputs)
            }
            if let gate { gateForward(out, out, gate: gate, count: count * outputs) }
        }
    }

    /// Every fully-connected op's W^T into `packedDense`.
    private func packDense(_ p: UnsafePointer<Float>) {
        for (i, packed) in packedDense {
            guard case .dense(let inputs, _, let w, _, _) = ops[i] else { continue }
            packed.pack(transB: true, b: p + w, ldb: inputs)
        }
        packedDenseValid = true
        weightPackings += 1
    }

    /// An update rewrites the parameters: the packed weights are stale until its last call, which
    /// packs the new ones, so that the next pass, told to reuse them (`reusePackedWeights`), packs nothing.
    public func parametersUpdated(_ parameters: UnsafePointer<Float>, through end: Int) {
        packedDenseValid = false
        if end == parameterCount && reuseEnabled { packDense(parameters) }
    }

    /// The input of op i (channel-last network input for i = 0).
    private func opInput(_ i: Int, _ x0: UnsafePointer<Float>) -> UnsafePointer<Float> {
        i > 0 ? UnsafePointer(outputs[i - 1].pointer) : x0
    }

    public func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch B: Int,
                        gates: GateMasks?) -> UnsafePointer<Float> {
        forward(parameters: parameters, input: input, batch: B, gates: gates, ops: ops.count,
                firstInBlocks: recomputesFirstConvolution && gates == nil && firstConvolutionThroughPool != nil)
        return UnsafePointer(outputs[ops.count - 1].pointer)
    }

    /// The first convolution when it and the pool after it go backward in one pass
    /// (`conv2dDirectBackwardThroughPool`, ungated passes only): it applies to the geometry and op 1 is a pool.
    private var firstConvolutionThroughPool: (ConvGeometry, weights: Int, bias: Int)? {
        guard spatialOpCount >= 2, case .conv(let g, let w, let b) = ops[0], g.directBackwardThroughPoolApplies,
              case .pool = ops[1] else { return nil }
        return (g, w, b)
    }

    /// Every op but the classifier (the last op; the pattern layers come before it).
    ///
    /// With a `preActivationTap` set, the tap receives every pattern layer's pre-activations, and
    /// the spatial ops but the last (whose output the fully-connected layers read) write their
    /// outputs for each block of examples into block-sized buffers that stay in cache, not into the
    /// batch's: the first convolution's output alone is 50 KB per example on 28 x 28 images, and
    /// writing it to memory made that layer bound by store bandwidth. Their `patternSource`s are then
    /// not the probe batch's (the tap has had the values); without a tap they are, as the protocol
    /// says. The values computed are the same either way.
    public func forwardPatterns(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch B: Int) {
        forward(parameters: parameters, input: input, batch: B, gates: nil, ops: ops.count - 1,
                keepSpatialOutputs: preActivationTap == nil)
    }

    /// Ops 0..<`opCount` of the forward pass; spatial outputs in block buffers unless `keepSpatialOutputs`
    /// (see `forwardPatterns`), the first op's also when `firstInBlocks` (`recomputesFirstConvolution`).
    private func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch B: Int,
                         gates: GateMasks?, ops opCount: Int, keepSpatialOutputs: Bool = true, firstInBlocks: Bool = false) {
        reserve(examples: B)
        if !(reusePackedWeights && reuseEnabled && packedDenseValid) { packDense(parameters) }
        reusePackedWeights = false
        if let inputHWC { channelsLast(inputHWC.pointer, input, batch: B, shape: spec.input) }
        let x0 = channelLastInput(input)
        let spatial = min(spatialOpCount, opCount), block = spatialBlock(batch: B)
        // Op i's output rows for the block starting at `first`: the batch buffer's, or the block buffer.
        let inBlock = (0..<spatial).map { (!keepSpatialOutputs && $0 < spatialOpCount - 1) || ($0 == 0 && firstInBlocks) }
        firstConvolutionInBlocks = firstInBlocks
        if inBlock.contains(true) && blockOutputs.isEmpty {
            let examples = spatialBlock(batch: capacity)
            blockOutputs = (0..<(spatialOpCount - 1)).map { FloatBuffer(count: examples * outputSizes[$0]) }
        }
        func output(_ i: Int, _ first: Int) -> UnsafeMutablePointer<Float> {
            inBlock[i] ? blockOutputs[i].pointer : outputs[i].pointer + first * outputSizes[i]
        }
        // A tapped convolution in a block buffer followed by a pool: its ReLU goes into the pool.
        let fused = (0..<spatial).map { i -> Bool in
            guard inBlock[i], gates == nil, preActivationTap != nil, i + 1 < spatial,
                  case .conv = ops[i], case .pool = ops[i + 1] else { return false }
            return true
        }
        for first in stride(from: 0, to: B, by: block) {
            for i in 0..<spatial {
                let x = i == 0 ? x0 + first * inputSizes[0] : UnsafePointer(output(i - 1, first))
                forwardOp(i, parameters: parameters, input: x, output: output(i, first), first: first,
                          count: min(block, B - first), gate: gate(gates, op: i), fusedRelu: fused[i] || (i > 0 && fused[i - 1]))
            }
        }
        for i in spatial..<opCount {
            forwardOp(i, parameters: parameters, input: opInput(i, x0), output: outputs[i].pointer, first: 0, count: B,
                      gate: gate(gates, op: i))
        }
    }

    /// Backward through op i for examples first..<first+count. `dout` is the gradient of the op's
    /// output (rows of these examples; masked by the ReLU in place, so never `dlogits` when the op
    /// has a ReLU; by the gate when the pass is gated), `dinput` receives the input gradient (nil
    /// for the first op); weight gradients are overwritten, or added to when `accumulate`.
    /// `fusedMask` (ungated, a convolution followed by a pool): the pool's backward pass has applied
    /// this convolution's ReLU mask to `dout` as it wrote it (`maxPool2x2Backward(reluMask:)`), and
    /// a pool applies its input's mask.
    private func backwardOp(_ i: Int, parameters: UnsafePointer<Float>, input h: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                            dinput: UnsafeMutablePointer<Float>?, gradients: UnsafeMutablePointer<Float>, first: Int, count: Int,
                            accumulate: Bool, gate: UnsafePointer<Float>?, fusedMask: Bool = false) {
        let x = h + first * inputSizes[i]
        let mask = (gate ?? UnsafePointer(outputs[i].pointer)) + first * outputSizes[i]
        switch ops[i] {
        case .conv(let g, let w, let b):
            let dz = UnsafeMutablePointer(mutating: dout)
            if !fusedMask { reluBackward(dz, dz, preActivation: mask, count: count * g.outputSize) }
            conv2dBackward(doutput: dz, input: x, weights: parameters + w, dweights: gradients + w, dbias: gradients + b,
                           dinput: dinput, batch: count, geometry: g, cols: cols.pointer, dcols: dcols.pointer, accumulate: accumulate)
        case .pool(let height, let width, let channels):
            guard let dinput else { return }
            maxPool2x2Backward(dinput, dout, input: x, output: outputs[i].pointer + first * outputSizes[i], batch: count,
                               height: height, width: width, channels: channels, reluMask: fusedMask)
        case .dense(let inputs, let outputs, let w, let b, let relu):
            precondition(first == 0 && !accumulate)
            if relu {
                let dz = UnsafeMutablePointer(mutating: dout)
                reluBackward(dz, dz, preActivation: mask, count: count * outputs)
            }
            // dW = dZ^T H;  db = sum_b dZ;  dH = dZ W
            sgemm(transA: true, transB: false, m: outputs, n: inputs, k: count, alpha: 1,
                  a: dout, lda: outputs, b: x, ldb: inputs, beta: 0, c: gradients + w, ldc: inputs)
            biasGradient(gradients + b, dout, rows: count, columns: outputs)
            if let dinput {
                sgemm(transA: false, transB: false, m: count, n: inputs, k: outputs, alpha: 1,
                      a: dout, lda: outputs, b: parameters + w, ldb: inputs, beta: 0, c: dinput, ldc: inputs)
            }
        }
    }

    public func backward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, dlogits: UnsafePointer<Float>,
                         batch B: Int, gradients: UnsafeMutablePointer<Float>, gates: GateMasks?) {
        precondition(B <= capacity, "backward without a matching forward")
        let x0 = channelLastInput(input)
        let n = ops.count
        // The gradient of op i's output lives in dlogits (i = n-1) or in scratch (n - 2 - i) % 2;
        // its input gradient goes to scratch (n - 1 - i) % 2.
        func dout(_ i: Int) -> UnsafePointer<Float> { i == n - 1 ? dlogits : UnsafePointer(gradientScratch[(n - 2 - i) % 2].pointer) }
        func din(_ i: Int) -> UnsafeMutablePointer<Float>? { i > 0 ? gradientScratch[(n - 1 - i) % 2].pointer : nil }
        let spatial = spatialOpCount, block = spatialBlock(batch: B)
        for i in stride(from: n - 1, through: spatial, by: -1) {
            backwardOp(i, parameters: parameters, input: opInput(i, x0), dout: dout(i), dinput: din(i), gradients: gradients,
                       first: 0, count: B, accumulate: false, gate: gate(gates, op: i))
        }
        // Between spatial ops the gradients of a block stay in the two block buffers (op i's output
        // gradient in blockGradients[i % 2]): only the backward pass of the block reads them, and the
        // first convolution's alone would be 50 KB per example written to memory and read back.
        // Ungated, a convolution's ReLU mask is applied by the pool after it (`backwardOp`, `fusedMask`).
        let fused = (0..<spatial).map { i -> Bool in
            guard gates == nil else { return false }
            if case .conv = ops[i], i + 1 < spatial, case .pool = ops[i + 1] { return true }
            if case .pool = ops[i], i > 0, case .conv = ops[i - 1] { return true }
            return false
        }
        // Ungated, a first convolution that `directBackwardThroughPoolApplies` to and the pool after
        // it go backward in one pass (`conv2dDirectBackwardThroughPool`): its output gradient is never
        // written to a block buffer.
        let throughPool = gates == nil ? firstConvolutionThroughPool : nil
        precondition(!firstConvolutionInBlocks || throughPool != nil, "backward: gates differ from the last forward pass's")
        for first in stride(from: 0, to: B, by: block) {
            let count = min(block, B - first)
            func dz(_ i: Int) -> UnsafePointer<Float> {
                i == spatial - 1 ? dout(i) + first * outputSizes[i] : UnsafePointer(blockGradients[i % 2].pointer)
            }
            for i in stride(from: spatial - 1, through: throughPool == nil ? 0 : 2, by: -1) {
                let dx = i > 0 ? blockGradients[(i - 1) % 2].pointer : nil
                backwardOp(i, parameters: parameters, input: opInput(i, x0), dout: dz(i), dinput: dx, gradients: gradients,
                           first: first, count: count, accumulate: first > 0, gate: gate(gates, op: i), fusedMask: fused[i])
            }
            if let (g, w, b) = throughPool {
                // The block's convolution output again, as the forward pass computed it (`recomputesFirstConvolution`).
                var activations = UnsafePointer(outputs[0].pointer + first * outputSizes[0])
                if firstConvolutionInBlocks {
                    conv2dForward(output: blockOutputs[0].pointer, input: x0 + first * inputSizes[0], weights: parameters + w,
                                  bias: parameters + b, batch: count, geometry: g, relu: true, cols: cols.pointer)
                    activations = UnsafePointer(blockOutputs[0].pointer)
                }
                conv2dDirectBackwardThroughPool(dweights: gradients + w, dbias: gradients + b, dpooled: dz(1),
                                                pooled: outputs[1].pointer + first * outputSizes[1],
                                                activations: activations,
                                                input: x0 + first * inputSizes[0], batch: count, geometry: g, accumulate: first > 0,
                                                scratch: cols.pointer, rows: blockGradients[0].pointer)
            }
        }
    }

    public func patternSource(layer: Int) -> UnsafePointer<Float> {
        precondition(!(firstConvolutionInBlocks && patternOps[layer] == 0),
                     "patternSource(layer: 0) after a forward pass that kept it in blocks (recomputesFirstConvolution)")
        return UnsafePointer(outputs[patternOps[layer]].pointer)
    }
}
