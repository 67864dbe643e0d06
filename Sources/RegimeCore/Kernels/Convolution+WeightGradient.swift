// The weight gradient of a convolution as an implicit GEMM over the padded NHWC images: no im2col
// matrix, no packing.
//
// The im2col path (`conv2dIm2colWeightGradient`) computes, per chunk of `chunkExamples` examples,
// dW (OC x patch) (+)= dZ^T cols by `sgemm(transA: true)` with k = the chunk's output positions:
// im2col writes the chunk's cols (positions x patch floats, 9x the image for a 3 x 3 kernel) and
// the GEMM then packs both dZ^T and cols into its slivers before the 12 x 32 kernel reads them;
// with OC = 32 a third of the rows also fall to the slower 4-row edge kernel. Under `perf` im2col,
// the packing and the edge kernel were about 5% of a tracked CNN step, as much as the FMAs.
//
// Here each element of dW is computed with `sgemm`'s arithmetic (GEMM.swift, "Reproducibility"):
// per chunk, k = count x positions is split into `gemmDepthBlock` parts; per part
//     acc = the FMA chain over the part's rows r in order, from +0, acc = fma(dZ[r, oc], cols[r, p], acc),
// then dW = acc (the chunk's first part when beta = 0: the first chunk, not accumulating) or
// dW = acc + 1 * dW with one FMA (alpha = 1 multiplies exactly). cols[r, p] for r = (e, oh, ow)
// and p = (kh, kw, ic) is pixel (oh*S + kh, ow*S + kw), channel ic, of example e's zero-padded
// image (im2col's zeros are the padding's +0), read in place.
//
// Register tile: one kernel row kh, one block of 16 input channels, all K = 3 kernel columns and 8
// output channels: 3 x 8 = 24 accumulators of 16 lanes (ic). Per row r: 3 vector loads of the
// image (the taps kw = 0, 1, 2 are C floats apart from the position's pixel in row kh) and 8
// broadcasts of dZ[r, oc0 ..< oc0 + 8] (contiguous: constant displacements), for 24 FMAs; 27 of
// the 32 vector registers. Each tile's 3 x 16 lanes of one output channel are dW's row oc at
// (kh*3 + kw)*C + ic: contiguous, stored without a transpose.

extension ConvGeometry {
    /// Whether `conv2dImplicitWeightGradient` computes this layer's weight gradient: a 3 x 3 kernel,
    /// whole 16-channel input blocks, output channels in whole groups of 8 (the register tile).
    /// Any stride and padding.
    public var implicitWeightGradientApplies: Bool { kernel == 3 && inChannels % 16 == 0 && outChannels % 8 == 0 }

    /// Floats of one zero-padded input image.
    var paddedImageCount: Int { (inHeight + 2 * pad) * (inWidth + 2 * pad) * inChannels }
}

/// dW (OC, K, K, IC) of a convolution from `doutput` (B, OH, OW, OC) and `input` (B, H, W, IC):
/// overwritten, or added to when `accumulate`, with the bits of `conv2dIm2colWeightGradient` for the
/// same chunking (file comment). Requires `g.implicitWeightGradientApplies`; `scratch` holds
/// `chunk * g.paddedImageCount` floats (the padded images of one chunk), chunk = `chunkExamples`
/// (default `g.chunkExamples(batch: B)`).
func conv2dImplicitWeightGradient(dweights: UnsafeMutablePointer<Float>, doutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                  batch B: Int, geometry g: ConvGeometry, accumulate: Bool, scratch: UnsafeMutablePointer<Float>,
                                  chunkExamples: Int? = nil) {
    precondition(g.implicitWeightGradientApplies, "conv2dImplicitWeightGradient: geometry outside the implicit path")
    let (C, S, OC, patch) = (g.inChannels, g.stride, g.outChannels, g.patchSize)
    let (OW, P, Wp) = (g.outWidth, g.positions, g.inWidth + 2 * g.pad)
    let image = g.paddedImageCount
    let chunk = chunkExamples ?? g.chunkExamples(batch: B)
    var first = 0
    while first < B {
        let count = min(chunk, B - first)
        // Image slot e was padded for the previous chunk (all chunks but the last are full).
        for e in 0..<count { padImage(scratch + e * image, input, g, example: first + e, bordersZero: first > 0) }
        let dz = doutput + first * g.outputSize
        let k = count * P, kc = gemmDepthBlock(k: k, kcBlock: gemmKC)
        var r0 = 0
        while r0 < k {
            let r1 = min(k, r0 + kc)
            // sgemm's beta for this depth block: 0 only for the first block of a chunk that overwrites.
            let overwrite = r0 == 0 && first == 0 && !accumulate
            for kh in 0..<3 {
                for ic0 in stride(from: 0, to: C, by: 16) {
                    for oc0 in stride(from: 0, to: OC, by: 8) {
                        // Row r = (e, oh, ow) reads image e at pixel (oh*S + kh, ow*S), channel ic0, and
                        // dZ's row r from oc0; runs of one output row advance by S*C and OC floats.
                        weightGradientTile(rows: r0..<r1, positions: P, outWidth: OW, x: scratch + kh * Wp * C + ic0,
                                           exampleStride: image, rowStride: S * Wp * C, step: S * C, channels: C,
                                           dz: dz + oc0, outChannels: OC, dw: dweights + oc0 * patch + kh * 3 * C + ic0,
                                           patch: patch, overwrite: overwrite)
                    }
                }
            }
            r0 = r1
        }
        first += count
    }
}

/// One register tile of `conv2dImplicitWeightGradient` over rows `rows` (each a chain from +0 in
/// row order): accumulators A[j][kw] = sum over r of dZ[r, j] * x_r[kw * C ..< kw * C + 16] for the
/// 8 output channels j at `dz` and the three taps kw of x_r = `x` + e * exampleStride + oh * rowStride
/// + ow * step (r = (e, oh, ow)); then dW row j at `dw` + j * patch + kw * C = A[j][kw]
/// (`overwrite`) or A[j][kw] + 1 * dW (one FMA).
@inline(never)
private func weightGradientTile(rows: Range<Int>, positions P: Int, outWidth OW: Int, x image: UnsafePointer<Float>,
                                exampleStride: Int, rowStride: Int, step: Int, channels C: Int,
                                dz: UnsafePointer<Float>, outChannels OC: Int, dw: UnsafeMutablePointer<Float>, patch: Int,
                                overwrite: Bool) {
    var a0_0 = SIMD16<Float>(), a0_1 = a0_0, a0_2 = a0_0, a1_0 = a0_0, a1_1 = a0_0, a1_2 = a0_0
    var a2_0 = a0_0, a2_1 = a0_0, a2_2 = a0_0, a3_0 = a0_0, a3_1 = a0_0, a3_2 = a0_0
    var a4_0 = a0_0, a4_1 = a0_0, a4_2 = a0_0, a5_0 = a0_0, a5_1 = a0_0, a5_2 = a0_0
    var a6_0 = a0_0, a6_1 = a0_0, a6_2 = a0_0, a7_0 = a0_0, a7_1 = a0_0, a7_2 = a0_0
    var r = rows.lowerBound
    while r < rows.upperBound {
        let (e, position) = r.quotientAndRemainder(dividingBy: P)
        let (oh, ow) = position.quotientAndRemainder(dividingBy: OW)
        // A run of one output row: positions ow ..< ow + n.
        let n = min(OW - ow, rows.upperBound - r)
        var x = image + (e * exampleStride + oh * rowStride + ow * step)
        var d = dz + r * OC
        for _ in 0..<n {
            let x0 = load16(x), x1 = load16(x + C), x2 = load16(x + 2 &* C)
            var s = d[0]
            a0_0.addProduct(x0, s); a0_1.addProduct(x1, s); a0_2.addProduct(x2, s)
            s = d[1]
            a1_0.addProduct(x0, s); a1_1.addProduct(x1, s); a1_2.addProduct(x2, s)
            s = d[2]
            a2_0.addProduct(x0, s); a2_1.addProduct(x1, s); a2_2.addProduct(x2, s)
            s = d[3]
            a3_0.addProduct(x0, s); a3_1.addProduct(x1, s); a3_2.addProduct(x2, s)
            s = d[4]
            a4_0.addProduct(x0, s); a4_1.addProduct(x1, s); a4_2.addProduct(x2, s)
            s = d[5]
            a5_0.addProduct(x0, s); a5_1.addProduct(x1, s); a5_2.addProduct(x2, s)
            s = d[6]
            a6_0.addProduct(x0, s); a6_1.addProduct(x1, s); a6_2.addProduct(x2, s)
            s = d[7]
            a7_0.addProduct(x0, s); a7_1.addProduct(x1, s); a7_2.addProduct(x2, s)
            x += step
            d += OC
        }
        r += n
    }
    let one = SIMD16<Float>(repeating: 1)
    @inline(__always) func put(_ v: SIMD16<Float>, _ j: Int, _ kw: Int) {
        let p = dw + (j &* patch &+ kw &* C)
        store16(overwrite ? v : v.addingProduct(one, load16(p)), p)
    }
    put(a0_0, 0, 0); put(a0_1, 0, 1); put(a0_2, 0, 2); put(a1_0, 1, 0); put(a1_1, 1, 1); put(a1_2, 1, 2)
    put(a2_0, 2, 0); put(a2_1, 2, 1); put(a2_2, 2, 2); put(a3_0, 3, 0); put(a3_1, 3, 1); put(a3_2, 3, 2)
    put(a4_0, 4, 0); put(a4_1, 4, 1); put(a4_2, 4, 2); put(a5_0, 5, 0); put(a5_1, 5, 1); put(a5_2, 5, 2)
    put(a6_0, 6, 0); put(a6_1, 6, 1); put(a6_2, 6, 2); put(a7_0, 7, 0); put(a7_1, 7, 1); put(a7_2, 7, 2)
}
