// 2-D convolution over channel-last (NHWC) feature maps, by im2col + the packed GEMM.
//
// Layouts (docs/architectures.md): a batch of feature maps is (B, H, W, C) row-major, channel
// fastest; the weights of a convolution are (OC, KH, KW, IC) row-major, i.e. one row of
// KH*KW*IC numbers per output channel, in the same (kh, kw, ic) order as a row of the im2col
// matrix. Output size per dimension: floor((I + 2*pad - K) / stride) + 1, padding with zeros.
//
// Forward: small patches run direct (`conv2dDirectForward`), stride-1 layers run as an implicit
// GEMM that reads its patches straight from the padded image (`conv2dImplicitForward`,
// Convolution+Implicit.swift), the rest use im2col + `sgemm` (`conv2dIm2colForward`). The im2col path works on chunks of whole
// examples so that the im2col matrix of a chunk stays cache-sized; the backward pass rebuilds each
// chunk's im2col matrix rather than keeping the batch's (which for wide layers would be hundreds
// of MB). Summation orders are fixed by the
// shapes and the chunking (a function of the geometry and B alone), so results are reproducible.

/// The shape of one convolution: input (H, W, IC), output (OH, OW, OC), square kernel.
public struct ConvGeometry: Hashable, Sendable {
    public var inChannels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var pad: Int

    public init(inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int, kernel: Int, stride: Int, pad: Int) {
        self.inChannels = inChannels; self.inHeight = inHeight; self.inWidth = inWidth
        self.outChannels = outChannels; self.kernel = kernel; self.stride = stride; self.pad = pad
        usesDirect = kernel * kernel * inChannels <= 32
        precondition(outHeight >= 1 && outWidth >= 1, "convolution output would be empty")
    }

    public var outHeight: Int { (inHeight + 2 * pad - kernel) / stride + 1 }
    public var outWidth: Int { (inWidth + 2 * pad - kernel) / stride + 1 }
    /// Output positions per example (rows of the im2col matrix per example).
    public var positions: Int { outHeight * outWidth }
    /// KH * KW * IC: columns of the im2col matrix, length of a weight row.
    public var patchSize: Int { kernel * kernel * inChannels }
    public var inputSize: Int { inHeight * inWidth * inChannels }
    public var outputSize: Int { positions * outChannels }
    public var weightCount: Int { outChannels * patchSize }
    /// Multiply-adds x 2 of the forward pass, per example.
    public var flopsPerExample: Double { 2 * Double(positions) * Double(outChannels) * Double(patchSize) }

    /// Layers with a small patch (a first layer on gray or RGB images with a 3x3 kernel) are
    /// computed directly (`conv2dDirectForward`): a GEMM of depth K*K*IC < 33 would waste most of its
    /// packing and register tile, and their im2col matrix is mostly overhead.
    /// (A stored choice, so that the tests can run every geometry through both paths.)
    public var usesDirect: Bool
    var paddedOutChannels: Int { (outChannels + 15) / 16 * 16 }
    /// Floats of scratch for the direct path: transposed weights (patch x paddedOC), padded bias,
    /// one zero-padded input image, one 16-float tile.
    var directScratchCount: Int {
        patchSize * paddedOutChannels + paddedOutChannels + (inHeight + 2 * pad) * (inWidth + 2 * pad) * inChannels + 16
    }

    /// Floats of `cols` / `dcols` scratch for chunks of `chunk` examples (any path).
    func scratchCount(chunk: Int) -> Int {
        max(chunk * positions * patchSize, chunk * paddedImageCount, directScratchCount, implicitScratchCount,
            implicitGradientScratchCount)
    }

    /// Examples per im2col chunk: whole examples, about `convChunkFloats` floats of im2col matrix.
    func chunkExamples(batch: Int) -> Int {
        max(1, min(batch, convChunkFloats / max(1, positions * patchSize)))
    }
}

/// Target size of one chunk's im2col matrix (floats): 256 KB, which stays in L2 between being
/// written and being packed by the GEMM (measured: 2 MB chunks made im2col's stores miss L2 and
/// cost ~10% more per training step).
let convChunkFloats = 1 << 16

/// dst[0..<n] = src[0..<n] in 16-float vectors, the last n % 16 floats by `copyRun` (runs here are a
/// few dozen floats: the compiler's own loop would take its 8-wide remainder path for most of them,
/// and `update(from:count:)` calls memmove).
@inline(__always)
func copyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n {
        UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self),
                                                    as: SIMD16<Float>.self)
        i += 16
    }
    copyRun(dst + i, src + i, n - i)
}

/// dst[0 ..< n] = src[0 ..< n] for n <= 31, as at most one 16-, 8-, 4-, 2- and 1-float move (the
/// binary digits of n): no byte outside the n floats is read or written, so runs that end
/// inside a packed sliver row never overlap the next one (a 16-lane load-blend-store would, and
/// each such overlap stalls store forwarding).
@inline(__always)
func copyRun(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    var k = 0
    if n & 16 != 0 { d.storeBytes(of: s.loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self); k = 64 }
    if n & 8 != 0 {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: k, as: SIMD8<Float>.self), toByteOffset: k, as: SIMD8<Float>.self); k += 32
    }
    if n & 4 != 0 {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: k, as: SIMD4<Float>.self), toByteOffset: k, as: SIMD4<Float>.self); k += 16
    }
    if n & 2 != 0 {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: k, as: SIMD2<Float>.self), toByteOffset: k, as: SIMD2<Float>.self); k += 8
    }
    if n & 1 != 0 { d.storeBytes(of: s.load(fromByteOffset: k, as: Float.self), toByteOffset: k, as: Float.self) }
}

/// Rows `0..<count*positions` of `cols` = the im2col matrix of examples `first..<first+count` of
/// the NHWC batch `input`: row (e, oh, ow), column (kh, kw, ic) holds
/// input[e, oh*stride - pad + kh, ow*stride - pad + kw, ic], or 0 outside the image.
func im2col(_ cols: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ g: ConvGeometry, first: Int, count: Int) {
    let (C, H, W, K, S, P) = (g.inChannels, g.inHeight, g.inWidth, g.kernel, g.stride, g.pad)
    let (OH, OW, patch) = (g.outHeight, g.outWidth, g.patchSize)
    let rowSpan = K * C
    for e in 0..<count {
        let x = input + (first + e) * g.inputSize
        for oh in 0..<OH {
            for ow in 0..<OW {
                let row = cols + ((e * OH + oh) * OW + ow) * patch
                let iw0 = ow * S - P
                // Kernel columns kw0..<kw1 fall inside the image; they are contiguous in the input.
                let kw0 = max(0, -iw0), kw1 = min(K, W - iw0)
                for kh in 0..<K {
                    let ih = oh * S - P + kh
                    let dst = row + kh * rowSpan
                    if ih < 0 || ih >= H || kw1 <= kw0 {
                        for i in 0..<rowSpan { dst[i] = 0 }
                        continue
                    }
                    for i in 0..<(kw0 * C) { dst[i] = 0 }
                    copyFloats(dst + kw0 * C, x + (ih * W + iw0 + kw0) * C, (kw1 - kw0) * C)
                    for i in (kw1 * C)..<rowSpan { dst[i] = 0 }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: adds each entry of `cols` (rows of examples `first..<first+count`)
/// into the input position it was read from. `dinput` of those examples must be zeroed first;
/// rows are visited in order, so the sums are in a fixed order.
func col2imAdd(_ dinput: UnsafeMutablePointer<Float>, _ cols: UnsafePointer<Float>, _ g: ConvGeometry, first: Int, count: Int) {
    let (C, H, W, K, S, P) = (g.inChannels, g.inHeight, g.inWidth, g.kernel, g.stride, g.pad)
    let (OH, OW, patch) = (g.outHeight, g.outWidth, g.patchSize)
    let rowSpan = K * C
    for e in 0..<count {
        let dx = dinput + (first + e) * g.inputSize
        for oh in 0..<OH {
            for ow in 0..<OW {
                let row = cols + ((e * OH + oh) * OW + ow) * patch
                let iw0 = ow * S - P
                let kw0 = max(0, -iw0), kw1 = min(K, W - iw0)
                guard kw1 > kw0 else { continue }
                for kh in 0..<K {
                    let ih = oh * S - P + kh
                    if ih < 0 || ih >= H { continue }
                    let d = dx + (ih * W + iw0 + kw0) * C
                    let s = row + kh * rowSpan + kw0 * C
                    let n = (kw1 - kw0) * C
                    for i in 0..<n { d[i] += s[i] }
                }
            }
        }
    }
}

/// Whether every one of x[0 ..< count] is finite (neither infinite nor NaN).
/// By the largest exponent field: all ones (0x7f8 << 20) is infinity or NaN (an integer max, which
/// the compiler vectorises).
func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
    var largest: UInt32 = 0
    for i in 0..<count { largest = max(largest, x[i].bitPattern & 0x7f80_0000) }
    return largest != 0x7f80_0000
}

/// Forward convolution of a batch: `output` (B, OH, OW, OC) = conv(`input` (B, H, W, IC)) + bias,
/// followed by ReLU when `relu` (fused per chunk, while it is in cache).
/// `cols` holds at least `g.scratchCount(chunk:)` floats, chunk = `g.chunkExamples(batch: B)`.
/// Small-patch layers (`usesDirect`) take the direct path; the others the implicit path
/// (`conv2dImplicitForward`, Convolution+Implicit.swift) where it applies, else im2col + `sgemm`
/// (`conv2dIm2colForward`); the implicit and im2col paths give the same bits.
func conv2dForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                   bias: UnsafePointer<Float>, batch B: Int, geometry g: ConvGeometry, relu: Bool,
                   cols: UnsafeMutablePointer<Float>) {
    let clock = KernelClock.start()
    defer { KernelClock.stop(clock, g.kernelShape(.convForward, batch: B), flops: Double(B) * g.flopsPerExample) }
    if g.usesDirect {
        conv2dDirectForward(output: output, input: input, weights: weights, bias: bias, batch: B, geometry: g, relu: relu,
                            scratch: cols)
    } else if g.implicitForwardApplies {
        conv2dImplicitForward(output: output, input: input, weights: weights, bias: bias, batch: B, geometry: g, relu: relu,
                              scratch: cols)
    } else {
        conv2dIm2colForward(output: output, input: input, weights: weights, bias: bias, batch: B, geometry: g, relu: relu,
                            cols: cols)
    }
}

/// The im2col path of `conv2dForward`: per chunk of `chunkExamples` (default
/// `g.chunkExamples(batch: B)`) examples, im2col, Z = cols W^T by `sgemm`, then bias (and ReLU).
/// The reference the implicit path is tested against bit for bit.
func conv2dIm2colForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>, batch B: Int, geometry g: ConvGeometry, relu: Bool,
                         cols: UnsafeMutablePointer<Float>, chunkExamples: Int? = nil) {
    let chunk = chunkExamples ?? g.chunkExamples(batch: B)
    var first = 0
    while first < B {
        let count = min(chunk, B - first)
        let rows = count * g.positions
        let z = output + first * g.outputSize
        im2col(cols, input, g, first: first, count: count)
        // Z (rows x OC) = cols (rows x patch) W^T
        sgemm(transA: false, transB: true, m: rows, n: g.outChannels, k: g.patchSize, alpha: 1,
              a: cols, lda: g.patchSize, b: weights, ldb: g.patchSize, beta: 0, c: z, ldc: g.outChannels)
        if relu {
            addBiasRelu(z, bias, rows: rows, columns: g.outChannels)
        } else {
            addBias(z, bias, rows: rows, columns: g.outChannels)
        }
        first += count
    }
}

/// dbias[n] += sum over rows r in order of dout[r, n] (the bias gradient of a later chunk of examples).
/// Sixteen columns at a time in a register: each dbias[n] gets the same additions in the same order
/// as in `addColumnSumsReference` (where dbias[n] is reloaded per row, as the compiler cannot rule
/// out that it aliases dout), so the same bits.
func addColumnSums(_ dbias: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, rows: Int, columns N: Int) {
    var c0 = 0
    while c0 + 16 <= N {
        var acc = load16(dbias + c0), p = dout + c0
        for _ in 0..<rows { acc += load16(p); p += N }
        store16(acc, dbias + c0)
        c0 += 16
    }
    for n in c0..<N {
        var sum = dbias[n], p = dout + n
        for _ in 0..<rows { sum += p.pointee; p += N }
        dbias[n] = sum
    }
}

/// The reference of `addColumnSums`: row by row, dbias[n] += dout[r, n].
func addColumnSumsReference(_ dbias: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, rows: Int, columns N: Int) {
    for r in 0..<rows {
        let row = dout + r * N
        for n in 0..<N { dbias[n] += row[n] }
    }
}

/// Backward convolution: from `doutput` (B, OH, OW, OC) to the weight and bias gradients
/// (overwritten, or added to when `accumulate`) and, when `dinput` is given, the input gradient
/// (B, H, W, IC) (overwritten).
/// `cols` and `dcols` each hold `g.scratchCount(chunk:)` floats. The weight gradient is computed
/// directly on the direct path, else by the implicit GEMM (Convolution+WeightGradient.swift) where
/// that applies, else by im2col + `sgemm` (the same bits); `cols` is its scratch. The input gradient, if wanted, is
/// `conv2dImplicitInputGradient`'s (`dcols` its scratch) where that applies and the weights are
/// finite, else dcols = dZ W by GEMM and `col2imAdd`: the same bits (Convolution+Implicit.swift).
func conv2dBackward(doutput: UnsafePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                    dweights: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
                    dinput: UnsafeMutablePointer<Float>?, batch B: Int, geometry g: ConvGeometry,
                    cols: UnsafeMutablePointer<Float>, dcols: UnsafeMutablePointer<Float>, accumulate: Bool = false,
                    chunkExamples: Int? = nil) {
    let clock = KernelClock.start()
    defer { KernelClock.stop(clock, g.kernelShape(.convBackward, batch: B),
                                 flops: Double(B) * g.flopsPerExample * (dinput == nil ? 1 : 2)) }
    if accumulate {
        addColumnSums(dbias, doutput, rows: B * g.positions, columns: g.outChannels)
    } else {
        biasGradient(dbias, doutput, rows: B * g.positions, columns: g.outChannels)
    }
    // The input gradient pixel by pixel (Convolution+Implicit.swift) where it gives the bits of
    // dcols and `col2imAdd`: stride 1 and finite weights.
    let implicitInput = dinput != nil && g.implicitInputGradientApplies && allFinite(weights, count: g.weightCount)
    if let dinput {
        if implicitInput {
            conv2dImplicitInputGradient(dinput: dinput, doutput: doutput, weights: weights, batch: B, geometry: g, scratch: dcols)
        } else {
            dinput.update(repeating: 0, count: B * g.inputSize)
        }
    }
    let chunk = chunkExamples ?? g.chunkExamples(batch: B)
    if g.usesDirect {
        conv2dDirectWeightGradient(dweights: dweights, doutput: doutput, input: input, batch: B, geometry: g,
                                   accumulate: accumulate, scratch: cols)
    } else if g.implicitWeightGradientApplies {
        conv2dImplicitWeightGradient(dweights: dweights, doutput: doutput, input: input, batch: B, geometry: g,
                                     accumulate: accumulate, scratch: cols, chunkExamples: chunk)
    } else {
        conv2dIm2colWeightGradient(dweights: dweights, doutput: doutput, input: input, batch: B, geometry: g,
                                   accumulate: accumulate, cols: cols, chunkExamples: chunk)
    }
    guard let dinput, !implicitInput else { return }
    var first = 0
    while first < B {
        let count = min(chunk, B - first)
        // dcols (rows x patch) = dZ W, then scattered back to the input positions
        sgemm(transA: false, transB: false, m: count * g.positions, n: g.patchSize, k: g.outChannels, alpha: 1,
              a: doutput + first * g.outputSize, lda: g.outChannels, b: weights, ldb: g.patchSize, beta: 0, c: dcols,
              ldc: g.patchSize)
        col2imAdd(dinput, dcols, g, first: first, count: count)
        first += count
    }
}

/// The im2col path of the weight gradient: per chunk of `chunkExamples` (default
/// `g.chunkExamples(batch: B)`) examples, im2col, then dW (OC x patch) (+)= dZ^T cols by `sgemm`,
/// chunks summed in order (overwritten first unless `accumulate`). The reference the implicit path
/// (`conv2dImplicitWeightGradient`) is tested against bit for bit.
func conv2dIm2colWeightGradient(dweights: UnsafeMutablePointer<Float>, doutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                batch B: Int, geometry g: ConvGeometry, accumulate: Bool, cols: UnsafeMutablePointer<Float>,
                                chunkExamples: Int? = nil) {
    let chunk = chunkExamples ?? g.chunkExamples(batch: B)
    var first = 0
    while first < B {
        let count = min(chunk, B - first)
        im2col(cols, input, g, first: first, count: count)
        sgemm(transA: true, transB: false, m: g.outChannels, n: g.patchSize, k: count * g.positions, alpha: 1,
              a: doutput + first * g.outputSize, lda: g.outChannels, b: cols, ldb: g.patchSize,
              beta: first == 0 && !accumulate ? 0 : 1, c: dweights, ldc: g.patchSize)
        first += count
    }
}

// MARK: Direct convolution (small patches)

/// Copies example `e` of the NHWC batch into a zero-bordered (H + 2 pad, W + 2 pad, C) image.
/// `bordersZero`: the border is known to be zero already (an earlier call on the same buffer and
/// geometry, nothing else written there since: the fast kernels' loops over examples), so only the
/// H interior rows are copied; the border stores were half of this function's time (16 floats
/// either side of each row, one at a time).
@inline(__always)
func padImage(_ xpad: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ g: ConvGeometry, example e: Int,
              bordersZero: Bool = false) {
    let (C, H, W, P) = (g.inChannels, g.inHeight, g.inWidth, g.pad)
    let rowFloats = (W + 2 * P) * C, border = P * C
    if !bordersZero {
        // The top and bottom P rows, and each image row's P columns either side, are zero.
        xpad.update(repeating: 0, count: P * rowFloats)
        (xpad + (H + P) * rowFloats).update(repeating: 0, count: P * rowFloats)
        for h in 0..<H {
            let row = xpad + (h + P) * rowFloats
            for i in 0..<border { row[i] = 0; row[rowFloats - 1 - i] = 0 }
        }
    }
    let x = input + e * g.inputSize
    for h in 0..<H { copyFloats(xpad + (h + P) * rowFloats + border, x + h * W * C, W * C) }
}

/// The direct path's weights as WT[tap, oc] = W[oc, tap] (patch x paddedOC, zero for oc >= OC) and
/// its bias padded to paddedOC with zeros.
private func directWeights(_ wt: UnsafeMutablePointer<Float>, _ biasP: UnsafeMutablePointer<Float>, _ weights: UnsafePointer<Float>,
                           _ bias: UnsafePointer<Float>, _ g: ConvGeometry) {
    let (OC, OCp, patch) = (g.outChannels, g.paddedOutChannels, g.patchSize)
    wt.update(repeating: 0, count: patch * OCp)
    biasP.update(repeating: 0, count: OCp)
    for oc in 0..<OC {
        for tap in 0..<patch { wt[tap * OCp + oc] = weights[oc * patch + tap] }
        biasP[oc] = bias[oc]
    }
}

/// The direct forward convolution (same result definition as `conv2dForward`, bias added first):
/// out[e, oh, ow, oc] = relu?(bias[oc] + sum over taps t = (kh, kw, ic) in that order of
/// x[e, oh*S - P + kh, ow*S - P + kw, ic] * W[oc, t]), one FMA per tap into a 16-channel vector
/// that starts at the bias. Positions go 8 at a time (8 independent FMA chains: two FMA pipes of
/// 4 cycles' latency), then 4, then 1; each tap is one weight-vector load and one broadcast per
/// position, its input offset from a table (kh * (W + 2P) * IC + kw * IC + ic, in the
/// zero-padded image), so the loop over the taps has no index arithmetic. When S * IC = 1 (a
/// gray image, stride 1: the CNN's first layer) the positions' inputs are at constant
/// displacements 0, 1, ..., 7 from the tap's address, which frees the seven index registers the
/// general case needs (and spills). The FMAs of each output are those of
/// `conv2dDirectForwardReference`, in the same order: the same bits.
/// `scratch`: `g.directScratchCount` floats.
func conv2dDirectForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>, batch B: Int, geometry g: ConvGeometry, relu: Bool,
                         scratch: UnsafeMutablePointer<Float>) {
    let (C, K, OCp, patch) = (g.inChannels, g.kernel, g.paddedOutChannels, g.patchSize)
    let Wp = g.inWidth + 2 * g.pad
    directWeights(scratch, scratch + patch * OCp, weights, bias, g)
    if C == 1 && K == 3 && g.stride == 1 && g.outChannels == 16 {
        if relu {
            directForward3x3GrayRelu(output, input, batch: B, geometry: g, scratch: scratch)
        } else {
            directForward3x3GrayLinear(output, input, batch: B, geometry: g, scratch: scratch)
        }
        return
    }
    withUnsafeTemporaryAllocation(of: Int.self, capacity: patch) { offsets in
        for kh in 0..<K {
            for j in 0..<(K * C) { offsets[kh * K * C + j] = kh * Wp * C + j }
        }
        let off = UnsafePointer(offsets.baseAddress!)
        if g.stride * C == 1 {
            directForwardStep1(output, input, batch: B, geometry: g, relu: relu, scratch: scratch, offsets: off)
        } else {
            directForwardAnyStep(output, input, batch: B, geometry: g, relu: relu, scratch: scratch, offsets: off)
        }
    }
}

@inline(never)
private func directForwardStep1(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, batch B: Int,
                                geometry g: ConvGeometry, relu: Bool, scratch: UnsafeMutablePointer<Float>,
                                offsets: UnsafePointer<Int>) {
    directForwardBody(output, input, batch: B, geometry: g, relu: relu, scratch: scratch, offsets: offsets, step: 1)
}

@inline(never)
private func directForwardAnyStep(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, batch B: Int,
                                  geometry g: ConvGeometry, relu: Bool, scratch: UnsafeMutablePointer<Float>,
                                  offsets: UnsafePointer<Int>) {
    directForwardBody(output, input, batch: B, geometry: g, relu: relu, scratch: scratch, offsets: offsets,
                      step: g.stride * g.inChannels)
}

@inline(never)
private func directForward3x3GrayRelu(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, batch B: Int,
                                      geometry g: ConvGeometry, scratch: UnsafeMutablePointer<Float>) {
    directForward3x3Gray(output, input, batch: B, geometry: g, relu: true, scratch: scratch)
}

@inline(never)
private func directForward3x3GrayLinear(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, batch B: Int,
                                        geometry g: ConvGeometry, scratch: UnsafeMutablePointer<Float>) {
    directForward3x3Gray(output, input, batch: B, geometry: g, relu: false, scratch: scratch)
}

/// `conv2dDirectForward` for a 3 x 3 kernel on one input channel, stride 1, 16 output channels
/// (the CNN's first layer on gray images), inlined once with and once without the ReLU (no
/// branch per store): the nine weight vectors and the bias stay in
/// registers for the whole batch, and the nine taps of a position read the three padded rows at
/// constant displacements (tap (kh, kw) of position ow is row kh at ow + kw), so a block of 8
/// positions is 72 FMAs with a broadcast memory operand each and nothing else: no weight loads, no
/// offset table, no index arithmetic (the general loops spent about half their time outside the
/// FMAs for a 9-tap patch). Then blocks of 4 and single positions. Each output is
/// bias + taps 0..<9 in order, one FMA each, as in `conv2dDirectForwardReference`: the same bits.
@inline(__always)
private func directForward3x3Gray(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, batch B: Int,
                                  geometry g: ConvGeometry, relu: Bool, scratch: UnsafeMutablePointer<Float>) {
    let (OC, OH, OW, Wp) = (16, g.outHeight, g.outWidth, g.inWidth + 2 * g.pad)
    let wt = UnsafePointer(scratch), xpad = scratch + 9 * 16 + 16
    let w0 = load16(wt), w1 = load16(wt + 16), w2 = load16(wt + 32), w3 = load16(wt + 48), w4 = load16(wt + 64)
    let w5 = load16(wt + 80), w6 = load16(wt + 96), w7 = load16(wt + 112), w8 = load16(wt + 128)
    let b = load16(wt + 144), zero = SIMD16<Float>()
    @inline(__always) func put(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        store16(relu ? v.replacing(with: zero, where: v .< zero) : v, p)
    }
    /// The output at position ow of the rows r0, r1, r2 (already offset by ow): bias, then the nine taps.
    @inline(__always) func one(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>) -> SIMD16<Float> {
        var a = b
        a.addProduct(SIMD16(repeating: r0[0]), w0); a.addProduct(SIMD16(repeating: r0[1]), w1)
        a.addProduct(SIMD16(repeating: r0[2]), w2); a.addProduct(SIMD16(repeating: r1[0]), w3)
        a.addProduct(SIMD16(repeating: r1[1]), w4); a.addProduct(SIMD16(repeating: r1[2]), w5)
        a.addProduct(SIMD16(repeating: r2[0]), w6); a.addProduct(SIMD16(repeating: r2[1]), w7)
        a.addProduct(SIMD16(repeating: r2[2]), w8)
        return a
    }
    for e in 0..<B {
        padImage(xpad, input, g, example: e, bordersZero: e > 0)
        // The next example's image, 128 bytes per output row (past the batch for the last one: the
        // caller's next block, if any; a hint never faults). Spread over the rows: the whole image's
        // hints at once, before the first row, took back most of the gain (1.40-1.46 ms per tracked
        // CNN step against 1.33-1.35, kernel clock).
        let next = input + (e + 1) * g.inputSize
        var o = output + e * g.outputSize
        for oh in 0..<OH {
            prefetchBytes(next + oh * 32, count: 128)
            let r0 = UnsafePointer(xpad + oh * Wp), r1 = r0 + Wp, r2 = r1 + Wp
            var ow = 0
            while ow + 8 <= OW {
                // Tap by tap over the 8 positions: 8 independent FMA chains.
                var a = EightVectors(b)
                let q0 = r0 + ow, q1 = r1 + ow, q2 = r2 + ow
                a.addTap(q0, w0); a.addTap(q0 + 1, w1); a.addTap(q0 + 2, w2)
                a.addTap(q1, w3); a.addTap(q1 + 1, w4); a.addTap(q1 + 2, w5)
                a.addTap(q2, w6); a.addTap(q2 + 1, w7); a.addTap(q2 + 2, w8)
                put(a.v0, o); put(a.v1, o + OC); put(a.v2, o + 2 * OC); put(a.v3, o + 3 * OC)
                put(a.v4, o + 4 * OC); put(a.v5, o + 5 * OC); put(a.v6, o + 6 * OC); put(a.v7, o + 7 * OC)
                o += 8 * OC
                ow += 8
            }
            while ow + 4 <= OW {
                let a0 = one(r0 + ow, r1 + ow, r2 + ow), a1 = one(r0 + ow + 1, r1 + ow + 1, r2 + ow + 1)
                let a2 = one(r0 + ow + 2, r1 + ow + 2, r2 + ow + 2), a3 = one(r0 + ow + 3, r1 + ow + 3, r2 + ow + 3)
                put(a0, o); put(a1, o + OC); put(a2, o + 2 * OC); put(a3, o + 3 * OC)
                o += 4 * OC
                ow += 4
            }
            while ow < OW {
                put(one(r0 + ow, r1 + ow, r2 + ow), o)
                o += OC
                ow += 1
            }
        }
    }
}

/// Eight 16-channel outputs of neighbouring positions, as eight independent FMA chains. A struct
/// rather than eight local variables a nested function captures: such captures were promoted to
/// registers only while the enclosing function stayed small (one added line put every tap behind
/// `swift_beginAccess` calls and made the CNN step 15% slower).
private struct EightVectors {
    var v0, v1, v2, v3, v4, v5, v6, v7: SIMD16<Float>

    @inline(__always) init(_ start: SIMD16<Float>) {
        (v0, v1, v2, v3, v4, v5, v6, v7) = (start, start, start, start, start, start, start, start)
    }

    /// v_j += q[j] * w for j = 0..<8 (the inputs of the eight positions for one tap).
    @inline(__always) mutating func addTap(_ q: UnsafePointer<Float>, _ w: SIMD16<Float>) {
        v0.addProduct(SIMD16(repeating: q[0]), w); v1.addProduct(SIMD16(repeating: q[1]), w)
        v2.addProduct(SIMD16(repeating: q[2]), w); v3.addProduct(SIMD16(repeating: q[3]), w)
        v4.addProduct(SIMD16(repeating: q[4]), w); v5.addProduct(SIMD16(repeating: q[5]), w)
        v6.addProduct(SIMD16(repeating: q[6]), w); v7.addProduct(SIMD16(repeating: q[7]), w)
    }
}

/// The loops of `conv2dDirectForward`, inlined into a caller per `step` (= S * IC, the distance
/// between neighbouring positions' inputs), with WT and the padded bias already in `scratch`.
@inline(__always)
private func directForwardBody(_ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, batch B: Int,
                               geometry g: ConvGeometry, relu: Bool, scratch: UnsafeMutablePointer<Float>,
                               offsets off: UnsafePointer<Int>, step: Int) {
    let (C, S, OC, OCp, patch) = (g.inChannels, g.stride, g.outChannels, g.paddedOutChannels, g.patchSize)
    let (OH, OW, Wp) = (g.outHeight, g.outWidth, g.inWidth + 2 * g.pad)
    let wt = scratch, biasP = scratch + patch * OCp, xpad = biasP + OCp
    let tile = xpad + (g.inHeight + 2 * g.pad) * Wp * C
    let zero = SIMD16<Float>()
    @inline(__always) func put(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
        let r = relu ? v.replacing(with: zero, where: v .< zero) : v
        if lanes == 16 { store16(r, p) } else { store16(r, tile); for i in 0..<lanes { p[i] = tile[i] } }
    }
    let (s1, s2, s3, s4, s5, s6, s7) = (step, 2 &* step, 3 &* step, 4 &* step, 5 &* step, 6 &* step, 7 &* step)
    for e in 0..<B {
        padImage(xpad, input, g, example: e, bordersZero: e > 0)
        let out = output + e * g.outputSize
        for oh in 0..<OH {
            let rowStart = xpad + oh * S * Wp * C
            for c0 in stride(from: 0, to: OCp, by: 16) {
                let lanes = min(16, OC - c0)
                let b = load16(biasP + c0)
                let w0 = wt + c0
                var ow = 0
                while ow + 8 <= OW {
                    let x = rowStart + ow &* step
                    var a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b
                    var w = w0
                    for t in 0..<patch {
                        let wv = load16(w), q = x + off[t]
                        a0.addProduct(SIMD16(repeating: q[0]), wv)
                        a1.addProduct(SIMD16(repeating: q[s1]), wv)
                        a2.addProduct(SIMD16(repeating: q[s2]), wv)
                        a3.addProduct(SIMD16(repeating: q[s3]), wv)
                        a4.addProduct(SIMD16(repeating: q[s4]), wv)
                        a5.addProduct(SIMD16(repeating: q[s5]), wv)
                        a6.addProduct(SIMD16(repeating: q[s6]), wv)
                        a7.addProduct(SIMD16(repeating: q[s7]), wv)
                        w += OCp
                    }
                    let o = out + (oh * OW + ow) * OC + c0
                    put(a0, o, lanes); put(a1, o + OC, lanes); put(a2, o + 2 * OC, lanes); put(a3, o + 3 * OC, lanes)
                    put(a4, o + 4 * OC, lanes); put(a5, o + 5 * OC, lanes); put(a6, o + 6 * OC, lanes); put(a7, o + 7 * OC, lanes)
                    ow += 8
                }
                while ow + 4 <= OW {
                    let x = rowStart + ow &* step
                    var a0 = b, a1 = b, a2 = b, a3 = b
                    var w = w0
                    for t in 0..<patch {
                        let wv = load16(w), q = x + off[t]
                        a0.addProduct(SIMD16(repeating: q[0]), wv)
                        a1.addProduct(SIMD16(repeating: q[s1]), wv)
                        a2.addProduct(SIMD16(repeating: q[s2]), wv)
                        a3.addProduct(SIMD16(repeating: q[s3]), wv)
                        w += OCp
                    }
                    let o = out + (oh * OW + ow) * OC + c0
                    put(a0, o, lanes); put(a1, o + OC, lanes); put(a2, o + 2 * OC, lanes); put(a3, o + 3 * OC, lanes)
                    ow += 4
                }
                while ow < OW {
                    let x = rowStart + ow &* step
                    var a0 = b
                    var w = w0
                    for t in 0..<patch {
                        a0.addProduct(SIMD16(repeating: x[off[t]]), load16(w))
                        w += OCp
                    }
                    put(a0, out + (oh * OW + ow) * OC + c0, lanes)
                    ow += 1
                }
            }
        }
    }
}

/// The reference of `conv2dDirectForward` (its first version, kept to test the fast one bit for
/// bit): the same FMAs in the same order, 4 positions at a time, loops over kh and the K*IC
/// floats of a kernel row. `scratch`: `g.directScratchCount` floats.
func conv2dDirectForwardReference(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>, batch B: Int, geometry g: ConvGeometry, relu: Bool,
                         scratch: UnsafeMutablePointer<Float>) {
    let (C, K, S, OC, OCp, patch) = (g.inChannels, g.kernel, g.stride, g.outChannels, g.paddedOutChannels, g.patchSize)
    let (OH, OW, Wp) = (g.outHeight, g.outWidth, g.inWidth + 2 * g.pad)
    let wt = scratch, biasP = scratch + patch * OCp, xpad = biasP + OCp
    let tile = xpad + (g.inHeight + 2 * g.pad) * Wp * C
    directWeights(wt, biasP, weights, bias, g)
    let zero = SIMD16<Float>()
    let span = K * C, step = S * C
    func put(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
        let r = relu ? v.replacing(with: zero, where: v .< zero) : v
        if lanes == 16 { store16(r, p) } else { store16(r, tile); for i in 0..<lanes { p[i] = tile[i] } }
    }
    for e in 0..<B {
        padImage(xpad, input, g, example: e)
        let out = output + e * g.outputSize
        for oh in 0..<OH {
            for c0 in stride(from: 0, to: OCp, by: 16) {
                let lanes = min(16, OC - c0)
                let b = load16(biasP + c0)
                var ow = 0
                while ow + 4 <= OW {
                    var a0 = b, a1 = b, a2 = b, a3 = b
                    for kh in 0..<K {
                        let row = xpad + ((oh * S + kh) * Wp + ow * S) * C
                        let w = wt + kh * span * OCp + c0
                        for j in 0..<span {
                            let wv = load16(w + j * OCp)
                            a0.addProduct(SIMD16(repeating: row[j]), wv)
                            a1.addProduct(SIMD16(repeating: row[step + j]), wv)
                            a2.addProduct(SIMD16(repeating: row[2 * step + j]), wv)
                            a3.addProduct(SIMD16(repeating: row[3 * step + j]), wv)
                        }
                    }
                    let o = out + (oh * OW + ow) * OC + c0
                    put(a0, o, lanes); put(a1, o + OC, lanes); put(a2, o + 2 * OC, lanes); put(a3, o + 3 * OC, lanes)
                    ow += 4
                }
                while ow < OW {
                    var a0 = b
                    for kh in 0..<K {
                        let row = xpad + ((oh * S + kh) * Wp + ow * S) * C
                        let w = wt + kh * span * OCp + c0
                        for j in 0..<span { a0.addProduct(SIMD16(repeating: row[j]), load16(w + j * OCp)) }
                    }
                    put(a0, out + (oh * OW + ow) * OC + c0, lanes)
                    ow += 1
                }
            }
        }
    }
}

/// dW (OC, patch) of the direct path (overwritten, or added to when `accumulate`): sum over examples and positions, in order, of
/// input patch x output gradient, accumulated into a transposed copy DWT[tap, oc] that starts at 0, one FMA per
/// (example, position, tap): DWT[tap, :] = fma(x_tap, dz[:], DWT[tap, :]). With 9 taps and at most 16
/// channels (a 3 x 3 kernel on gray images: the CNN's first layer) the nine 16-channel accumulators
/// live in registers for the whole batch (`directWeightGradient9Taps`: nine independent FMA chains);
/// otherwise each update loads and stores its accumulator (`conv2dDirectWeightGradientReference`),
/// which chains every position's FMA behind the previous one's store. The same FMAs in the same
/// order either way: the same bits. `scratch`: `g.directScratchCount`.
func conv2dDirectWeightGradient(dweights: UnsafeMutablePointer<Float>, doutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                batch B: Int, geometry g: ConvGeometry, accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
    guard g.patchSize == 9 && g.paddedOutChannels == 16 else {
        conv2dDirectWeightGradientReference(dweights: dweights, doutput: doutput, input: input, batch: B, geometry: g,
                                            accumulate: accumulate, scratch: scratch)
        return
    }
    directWeightGradient9Taps(dwt: scratch, doutput: doutput, input: input, batch: B, geometry: g)
    mergeDirectWeightGradient(dweights, dwt: scratch, g, accumulate: accumulate)
}

/// DWT (9 x 16, `dwt`) of `conv2dDirectWeightGradient` with the accumulators in registers; the padded
/// image goes where the reference puts it in the scratch.
@inline(never)
private func directWeightGradient9Taps(dwt: UnsafeMutablePointer<Float>, doutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                       batch B: Int, geometry g: ConvGeometry) {
    let rowFloats = g.outWidth * g.outChannels
    directWeightGradient9TapsRows(dwt: dwt, input: input, batch: B, geometry: g, biasSum: nil) { e, oh in
        doutput + e * g.outputSize + oh * rowFloats
    }
}

/// The loops of `directWeightGradient9Taps`, with dZ's row oh of example e (OW x OC floats) at
/// `row(e, oh)`, asked for in order (e, then oh). With `biasSum` (OC = 16), also the bias
/// gradient's column sums: biasSum (16 floats) += each dZ row's vector, positions in the same order.
@inline(__always)
private func directWeightGradient9TapsRows(dwt: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, batch B: Int,
                                           geometry g: ConvGeometry, biasSum: UnsafeMutablePointer<Float>?,
                                           row: (_ e: Int, _ oh: Int) -> UnsafePointer<Float>) {
    let (C, K, S, OC) = (g.inChannels, g.kernel, g.stride, g.outChannels)
    let (OH, OW, Wp) = (g.outHeight, g.outWidth, g.inWidth + 2 * g.pad)
    let xpad = dwt + 9 * 16 + 16
    let tile = xpad + (g.inHeight + 2 * g.pad) * Wp * C
    // Tap t = kh * (K * C) + j reads the padded image at kh * Wp * C + j from the position's corner.
    let span = K * C
    // A patch of 9 is 3 x 3 taps on one channel (span 3: three taps in each of three padded rows,
    // Wp floats apart) or one tap on nine channels (span 9: nine neighbouring floats). Either way
    // taps 3r ..< 3r + 3 are the three floats at x + r * rowStep: they are read at displacements
    // 0, 1, 2 from x and from x plus one or two steps (two index registers), not through nine
    // offsets, which were spilled and reloaded at every position.
    precondition(span == 3 || span == 9, "directWeightGradient9TapsRows: a patch of 9 is 3 x 3 x 1 or 1 x 1 x 9")
    let rowStep = span == 3 ? Wp * C : 3, twoRows = 2 * rowStep
    var a0 = SIMD16<Float>(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0
    var bsum = biasSum.map { load16($0) } ?? SIMD16<Float>()
    tile.update(repeating: 0, count: 16)
    for e in 0..<B {
        padImage(xpad, input, g, example: e, bordersZero: e > 0)
        for oh in 0..<OH {
            var d = row(e, oh)
            var x = xpad + oh * S * Wp * C
            for _ in 0..<OW {
                let dv: SIMD16<Float>
                if OC == 16 {
                    dv = load16(d)
                } else {
                    for i in 0..<OC { tile[i] = d[i] }
                    dv = load16(tile)
                }
                if biasSum != nil { bsum += dv }
                let x1 = x + rowStep, x2 = x + twoRows
                a0.addProduct(SIMD16(repeating: x[0]), dv)
                a1.addProduct(SIMD16(repeating: x[1]), dv)
                a2.addProduct(SIMD16(repeating: x[2]), dv)
                a3.addProduct(SIMD16(repeating: x1[0]), dv)
                a4.addProduct(SIMD16(repeating: x1[1]), dv)
                a5.addProduct(SIMD16(repeating: x1[2]), dv)
                a6.addProduct(SIMD16(repeating: x2[0]), dv)
                a7.addProduct(SIMD16(repeating: x2[1]), dv)
                a8.addProduct(SIMD16(repeating: x2[2]), dv)
                d += OC
                x += S * C
            }
        }
    }
    for (t, a) in [a0, a1, a2, a3, a4, a5, a6, a7, a8].enumerated() { store16(a, dwt + t * 16) }
    if let biasSum { store16(bsum, biasSum) }
}

extension ConvGeometry {
    /// Whether `conv2dDirectBackwardThroughPool` applies: the nine-accumulator weight gradient with
    /// 16 output channels (one vector per position) and an output of whole 2 x 2 pooling windows.
    public var directBackwardThroughPoolApplies: Bool {
        usesDirect && patchSize == 9 && outChannels == 16 && outHeight % 2 == 0 && outWidth % 2 == 0
    }
}

/// The backward pass of a first convolution (no input gradient) followed by ReLU and a 2 x 2
/// max-pool, from the pool's output gradient `dpooled` (B, OH/2, OW/2, 16): the weight and bias
/// gradients (overwritten, or added to when `accumulate`) that
///     maxPool2x2Backward(dZ, dpooled, input: activations, output: pooled, ..., reluMask: true)
///     conv2dBackward(doutput: dZ, input: input, ..., dinput: nil, accumulate: accumulate)
/// give, bit for bit, without writing dZ (16 floats per position, 50 KB per 28 x 28 example) to a
/// buffer and reading it back twice: the pool's backward pass writes each pair of dZ rows into
/// `rows` (2 x OW x 16 floats, in L1), and one loop over the positions in order adds each dZ vector
/// to the nine weight accumulators (`directWeightGradient9Taps`'s FMAs) and to the bias sum, whose
/// additions are those of `biasGradient` (from +0) or `addColumnSums` (from dbias) in the same
/// row order. `activations` are the convolution's ReLU outputs (the pool's input), `pooled` the
/// pool's output. Requires `g.directBackwardThroughPoolApplies`; `scratch`: `g.directScratchCount`.
func conv2dDirectBackwardThroughPool(dweights: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
                                     dpooled: UnsafePointer<Float>, pooled: UnsafePointer<Float>,
                                     activations: UnsafePointer<Float>, input: UnsafePointer<Float>, batch B: Int,
                                     geometry g: ConvGeometry, accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
                                     rows: UnsafeMutablePointer<Float>) {
    precondition(g.directBackwardThroughPoolApplies, "conv2dDirectBackwardThroughPool: geometry outside the fused path")
    let clock = KernelClock.start()
    defer { KernelClock.stop(clock, g.kernelShape(.convBackwardThroughPool, batch: B), flops: Double(B) * g.flopsPerExample) }
    let (OH, OW) = (g.outHeight, g.outWidth)
    let pooledRow = OW / 2 * 16, activationRow = OW * 16
    // The bias sum lives in the scratch's padded-bias slot (after DWT) while the loop runs.
    let biasSum = scratch + 9 * 16
    if accumulate { biasSum.update(from: dbias, count: 16) } else { biasSum.update(repeating: 0, count: 16) }
    directWeightGradient9TapsRows(dwt: scratch, input: input, batch: B, geometry: g, biasSum: biasSum) { e, oh in
        guard oh % 2 == 0 else { return UnsafePointer(rows + activationRow) }
        let window = (e * (OH / 2) + oh / 2) * pooledRow
        maxPool2x2Backward(rows, dpooled + window, input: activations + (e * OH + oh) * activationRow, output: pooled + window,
                           batch: 1, height: 2, width: OW, channels: 16, reluMask: true)
        return UnsafePointer(rows)
    }
    dbias.update(from: biasSum, count: 16)
    mergeDirectWeightGradient(dweights, dwt: scratch, g, accumulate: accumulate)
}

/// dweights[oc, tap] = DWT[tap, oc], or += when `accumulate`.
private func mergeDirectWeightGradient(_ dweights: UnsafeMutablePointer<Float>, dwt: UnsafePointer<Float>, _ g: ConvGeometry,
                                       accumulate: Bool) {
    let (OC, OCp, patch) = (g.outChannels, g.paddedOutChannels, g.patchSize)
    for oc in 0..<OC {
        for tap in 0..<patch {
            dweights[oc * patch + tap] = accumulate ? dweights[oc * patch + tap] + dwt[tap * OCp + oc] : dwt[tap * OCp + oc]
        }
    }
}

/// The reference of `conv2dDirectWeightGradient` (its first version: accumulators in memory), for any geometry.
func conv2dDirectWeightGradientReference(dweights: UnsafeMutablePointer<Float>, doutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                batch B: Int, geometry g: ConvGeometry, accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
    let (C, K, S, OC, OCp, patch) = (g.inChannels, g.kernel, g.stride, g.outChannels, g.paddedOutChannels, g.patchSize)
    let (OH, OW, Wp) = (g.outHeight, g.outWidth, g.inWidth + 2 * g.pad)
    let dwt = scratch, xpad = scratch + patch * OCp + OCp
    let tile = xpad + (g.inHeight + 2 * g.pad) * Wp * C
    dwt.update(repeating: 0, count: patch * OCp)
    let span = K * C
    for e in 0..<B {
        padImage(xpad, input, g, example: e)
        let dz = doutput + e * g.outputSize
        for oh in 0..<OH {
            for ow in 0..<OW {
                let d = dz + (oh * OW + ow) * OC
                for c0 in stride(from: 0, to: OCp, by: 16) {
                    let dv: SIMD16<Float>
                    if c0 + 16 <= OC {
                        dv = load16(d + c0)
                    } else {
                        for i in 0..<16 { tile[i] = c0 + i < OC ? d[c0 + i] : 0 }
                        dv = load16(tile)
                    }
                    for kh in 0..<K {
                        let row = xpad + ((oh * S + kh) * Wp + ow * S) * C
                        let w = dwt + kh * span * OCp + c0
                        for j in 0..<span {
                            var acc = load16(w + j * OCp)
                            acc.addProduct(SIMD16(repeating: row[j]), dv)
                            store16(acc, w + j * OCp)
                        }
                    }
                }
            }
        }
    }
    mergeDirectWeightGradient(dweights, dwt: dwt, g, accumulate: accumulate)
}

// MARK: Naive reference (Double, direct loops; used by the tests)

/// Direct convolution in Double: input (B, H, W, IC), weights (OC, K, K, IC), bias (OC);
/// returns (B, OH, OW, OC). Follows the definition term by term, independent of im2col.
public func conv2dNaive(input: [Double], weights: [Double], bias: [Double], batch B: Int, geometry g: ConvGeometry) -> [Double] {
    precondition(input.count == B * g.inputSize && weights.count == g.weightCount && bias.count == g.outChannels)
    var out = [Double](repeating: 0, count: B * g.outputSize)
    for b in 0..<B {
        for oh in 0..<g.outHeight {
            for ow in 0..<g.outWidth {
                for oc in 0..<g.outChannels {
                    var s = bias[oc]
                    for kh in 0..<g.kernel {
                        let ih = oh * g.stride - g.pad + kh
                        guard ih >= 0 && ih < g.inHeight else { continue }
                        for kw in 0..<g.kernel {
                            let iw = ow * g.stride - g.pad + kw
                            guard iw >= 0 && iw < g.inWidth else { continue }
                            for ic in 0..<g.inChannels {
                                s += input[b * g.inputSize + (ih * g.inWidth + iw) * g.inChannels + ic]
                                    * weights[((oc * g.kernel + kh) * g.kernel + kw) * g.inChannels + ic]
                            }
                        }
                    }
                    out[b * g.outputSize + (oh * g.outWidth + ow) * g.outChannels + oc] = s
                }
            }
        }
    }
    return out
}

/// (C, H, W) -> (H, W, C) for each of `batch` examples (the data sets store images channel-major).
func channelsLast(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, batch B: Int, shape: ImageShape) {
    let (C, HW) = (shape.channels, shape.height * shape.width)
    for b in 0..<B {
        let x = input + b * shape.count, y = out + b * shape.count
        for c in 0..<C {
            for p in 0..<HW { y[p * C + c] = x[c * HW + p] }
        }
    }
}
