// The forward convolution as an implicit GEMM: the micro-kernel broadcasts its A operand straight
// from the zero-padded NHWC image, so no patch is ever copied.
//
// The im2col path computes Z (positions x OC) = cols (positions x patch) W^T. The packed path
// this replaces gathered cols into the GEMM's 12-row slivers (from a channel-major copy of the
// image) before the 12 x 32 kernel read them: under `perf` that gather and copy were 10% of a
// tracked CNN loop, a quarter of the time of the multiply-adds they fed.
//
// With stride 1, the element of cols that position (oh, ow) needs for tap p = (kh, kw, ic) is the
// padded image's pixel (oh + kh, ow + kw), channel ic: for the positions ow0 ..< ow0 + 14 of one
// output row, at x + i * IC (i = 0 ..< 14) from x = pixel (oh + kh, ow0 + kw), channel ic. So a
// register tile of 14 positions x 32 output channels reads, at each step p, B's row p (two
// vectors, from the packed weights) and 14 floats a constant stride apart from one pointer that
// moves by one float per step within a (kh, kw) tap and jumps between taps. With IC = 16 (the
// tracked CNN's second layer) the stride is 64 bytes, a constant displacement per row: each
// broadcast is the memory operand of its FMA. 28 accumulators + 2 B vectors use 30 of the 32
// vector registers. 14 positions: the 14 x 14 maps of a 28 x 28 image after one 2 x 2 pool, one
// output row per tile.
//
// Same bits as the im2col path (`conv2dIm2colForward`): each element of Z is the FMA chain over
// p = 0 ..< patch in order from 0, `acc = fma(A[i, p], B[p, j], acc)`, exactly as the GEMM's
// kernels compute it for k <= KC (GEMM.swift, "Reproducibility"); alpha = 1 multiplies exactly, so
// the store is then acc + bias (`addBias`) and the ReLU `z > 0 ? z : 0` (`addBiasRelu`). A tile
// with fewer than 14 positions (the end of a row) or 32 channels (the end of OC) is computed
// whole into a 14 x 32 scratch tile, its rows past the row's end reading whatever lies 13 * IC
// floats past the image (scratch slack; those rows are dropped), and the valid part copied out.
// `CNNKernelBitTests` checks the bits against `conv2dIm2colForward`.

/// Output positions (along one output row) of the implicit kernel's register tile.
let convImplicitRows = 14

extension ConvGeometry {
    /// Whether `conv2dImplicitForward` can compute this layer: stride 1 (a tap's positions are IC
    /// floats apart in the image) and patch <= KC (`sgemm` takes k in one block, one FMA chain).
    public var implicitForwardApplies: Bool { stride == 1 && patchSize <= gemmKC }

    /// Floats of the zero-padded NHWC image of `conv2dImplicitForward` and its slack: the last
    /// tile's rows past the row's end read up to 13 * IC floats past the image.
    var implicitImageCount: Int { (inHeight + 2 * pad) * (inWidth + 2 * pad) * inChannels + convImplicitRows * inChannels }

    /// Floats of scratch for `conv2dImplicitForward`: packed weights (patch x OC rounded up to 32),
    /// the bias padded to the same width, the padded image and its slack, one 14 x 32 tile.
    var implicitScratchCount: Int {
        let ocp = gemmRoundUp(outChannels, gemmNR)
        return patchSize * ocp + ocp + implicitImageCount + convImplicitRows * gemmNR
    }
}

/// `output` (B, OH, OW, OC) = conv(`input` (B, H, W, IC)) + bias, then ReLU when `relu`: the result
/// of `conv2dIm2colForward` bit for bit, without any copy of the patches (file comment). Requires
/// `g.implicitForwardApplies`; `scratch` holds `g.implicitScratchCount` floats.
func conv2dImplicitForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>, batch B: Int, geometry g: ConvGeometry, relu: Bool,
                           scratch: UnsafeMutablePointer<Float>) {
    precondition(g.implicitForwardApplies, "conv2dImplicitForward: geometry outside the implicit path")
    let (C, K, OC, patch) = (g.inChannels, g.kernel, g.outChannels, g.patchSize)
    let (OH, OW, Wp) = (g.outHeight, g.outWidth, g.inWidth + 2 * g.pad)
    let (MR, NR) = (convImplicitRows, gemmNR)
    let ocp = gemmRoundUp(OC, NR)
    let bPack = scratch, biasP = bPack + patch * ocp, image = biasP + ocp, tile = image + g.implicitImageCount
    // The B panel of Z = cols W^T, as `sgemm(transB: true)` packs it: op(B)[p, oc] = W[oc, p].
    gemmPackB(transB: true, b: weights, ldb: patch, row0: 0, col0: 0, kc: patch, nc: OC, dst: bPack)
    biasP.update(from: bias, count: OC)
    (biasP + OC).update(repeating: 0, count: ocp - OC)
    // The slack is read only by rows that are dropped; zeros keep those rows finite.
    (image + g.implicitImageCount - MR * C).update(repeating: 0, count: MR * C)
    let rowStride = Wp * C
    for e in 0..<B {
        padImage(image, input, g, example: e, bordersZero: e > 0)
        let out = output + e * g.outputSize
        for oh in 0..<OH {
            var ow0 = 0
            while ow0 < OW {
                let n = min(MR, OW - ow0)
                let x = UnsafePointer(image + (oh * Wp + ow0) * C)
                var jr = 0
                while jr < OC {
                    let nr = min(NR, OC - jr)
                    let c = out + (oh * OW + ow0) * OC + jr
                    let b = UnsafePointer(bPack + jr * patch), bv = UnsafePointer(biasP + jr)
                    let full = n == MR && nr == NR
                    let (dst, ldc) = full ? (c, OC) : (tile, NR)
                    if C == 16 {
                        implicitTile14x32C16(x: x, kernel: K, rowStride: rowStride, b: b, bias: bv, relu: relu, c: dst, ldc: ldc)
                    } else {
                        implicitTile14x32AnyC(x: x, channels: C, kernel: K, rowStride: rowStride, b: b, bias: bv, relu: relu,
                                              c: dst, ldc: ldc)
                    }
                    if !full {
                        for i in 0..<n { copyFloats(c + i * OC, tile + i * NR, nr) }
                    }
                    jr += NR
                }
                ow0 += MR
            }
        }
    }
}

/// The tile with IC = 16 a constant: the 14 broadcasts of a step are at fixed displacements.
@inline(never)
private func implicitTile14x32C16(x: UnsafePointer<Float>, kernel K: Int, rowStride: Int, b: UnsafePointer<Float>,
                                  bias: UnsafePointer<Float>, relu: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
    implicitTile14x32(x: x, channels: 16, kernel: K, rowStride: rowStride, b: b, bias: bias, relu: relu, c: c, ldc: ldc)
}

/// The tile for any IC.
@inline(never)
private func implicitTile14x32AnyC(x: UnsafePointer<Float>, channels C: Int, kernel K: Int, rowStride: Int, b: UnsafePointer<Float>,
                                   bias: UnsafePointer<Float>, relu: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
    implicitTile14x32(x: x, channels: C, kernel: K, rowStride: rowStride, b: b, bias: bias, relu: relu, c: c, ldc: ldc)
}

/// C[i, 0 ..< 32] = relu?(bias + sum over p in order of A[i, p] * B[p, :]) for the 14 positions i
/// whose inputs start at x + i * IC (pixel (oh, ow0 + i) of the padded image, `rowStride` floats
/// per image row); p = (kh, kw, ic) walks the taps as W's rows do, B's row p at b + p * 32.
@inline(__always)
private func implicitTile14x32(x: UnsafePointer<Float>, channels C: Int, kernel K: Int, rowStride: Int, b: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>, relu: Bool, c: UnsafeMutablePointer<Float>, ldc: Int) {
    var c0_0 = SIMD16<Float>(), c0_1 = SIMD16<Float>()
    var c1_0 = SIMD16<Float>(), c1_1 = SIMD16<Float>()
    var c2_0 = SIMD16<Float>(), c2_1 = SIMD16<Float>()
    var c3_0 = SIMD16<Float>(), c3_1 = SIMD16<Float>()
    var c4_0 = SIMD16<Float>(), c4_1 = SIMD16<Float>()
    var c5_0 = SIMD16<Float>(), c5_1 = SIMD16<Float>()
    var c6_0 = SIMD16<Float>(), c6_1 = SIMD16<Float>()
    var c7_0 = SIMD16<Float>(), c7_1 = SIMD16<Float>()
    var c8_0 = SIMD16<Float>(), c8_1 = SIMD16<Float>()
    var c9_0 = SIMD16<Float>(), c9_1 = SIMD16<Float>()
    var c10_0 = SIMD16<Float>(), c10_1 = SIMD16<Float>()
    var c11_0 = SIMD16<Float>(), c11_1 = SIMD16<Float>()
    var c12_0 = SIMD16<Float>(), c12_1 = SIMD16<Float>()
    var c13_0 = SIMD16<Float>(), c13_1 = SIMD16<Float>()
    var bp = UnsafeRawPointer(b)
    for kh in 0..<K {
        for kw in 0..<K {
            var ap = x + (kh &* rowStride &+ kw &* C)
            for _ in 0..<C {
                let b0 = bp.loadUnaligned(fromByteOffset: 0, as: SIMD16<Float>.self)
                let b1 = bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
                let a0 = ap[0]
                c0_0 = c0_0.addingProduct(b0, a0); c0_1 = c0_1.addingProduct(b1, a0)
                let a1 = ap[1 &* C]
                c1_0 = c1_0.addingProduct(b0, a1); c1_1 = c1_1.addingProduct(b1, a1)
                let a2 = ap[2 &* C]
                c2_0 = c2_0.addingProduct(b0, a2); c2_1 = c2_1.addingProduct(b1, a2)
                let a3 = ap[3 &* C]
                c3_0 = c3_0.addingProduct(b0, a3); c3_1 = c3_1.addingProduct(b1, a3)
                let a4 = ap[4 &* C]
                c4_0 = c4_0.addingProduct(b0, a4); c4_1 = c4_1.addingProduct(b1, a4)
                let a5 = ap[5 &* C]
                c5_0 = c5_0.addingProduct(b0, a5); c5_1 = c5_1.addingProduct(b1, a5)
                let a6 = ap[6 &* C]
                c6_0 = c6_0.addingProduct(b0, a6); c6_1 = c6_1.addingProduct(b1, a6)
                let a7 = ap[7 &* C]
                c7_0 = c7_0.addingProduct(b0, a7); c7_1 = c7_1.addingProduct(b1, a7)
                let a8 = ap[8 &* C]
                c8_0 = c8_0.addingProduct(b0, a8); c8_1 = c8_1.addingProduct(b1, a8)
                let a9 = ap[9 &* C]
                c9_0 = c9_0.addingProduct(b0, a9); c9_1 = c9_1.addingProduct(b1, a9)
                let a10 = ap[10 &* C]
                c10_0 = c10_0.addingProduct(b0, a10); c10_1 = c10_1.addingProduct(b1, a10)
                let a11 = ap[11 &* C]
                c11_0 = c11_0.addingProduct(b0, a11); c11_1 = c11_1.addingProduct(b1, a11)
                let a12 = ap[12 &* C]
                c12_0 = c12_0.addingProduct(b0, a12); c12_1 = c12_1.addingProduct(b1, a12)
                let a13 = ap[13 &* C]
                c13_0 = c13_0.addingProduct(b0, a13); c13_1 = c13_1.addingProduct(b1, a13)
                ap += 1
                bp += 128
            }
        }
    }
    let bias0 = load16(bias), bias1 = load16(bias + 16), zero = SIMD16<Float>()
    @inline(__always) func put(_ v0: SIMD16<Float>, _ v1: SIMD16<Float>, _ row: Int) {
        // z = acc + bias (`addBias`), then `z > 0 ? z : 0` (`addBiasRelu`).
        var z0 = v0 + bias0, z1 = v1 + bias1
        if relu {
            z0.replace(with: zero, where: .!(z0 .> zero))
            z1.replace(with: zero, where: .!(z1 .> zero))
        }
        store16(z0, c + row &* ldc); store16(z1, c + (row &* ldc &+ 16))
    }
    put(c0_0, c0_1, 0); put(c1_0, c1_1, 1); put(c2_0, c2_1, 2); put(c3_0, c3_1, 3)
    put(c4_0, c4_1, 4); put(c5_0, c5_1, 5); put(c6_0, c6_1, 6); put(c7_0, c7_1, 7)
    put(c8_0, c8_1, 8); put(c9_0, c9_1, 9); put(c10_0, c10_1, 10); put(c11_0, c11_1, 11)
    put(c12_0, c12_1, 12); put(c13_0, c13_1, 13)
}

// MARK: Input gradient

// The im2col path's input gradient is dcols (positions x patch) = dZ W by `sgemm` (k = OC), then
// `col2imAdd`, which adds each row of dcols into the input pixels it was read from, rows (output
// positions) in order, into a zeroed dX. Under `perf` the scatter alone was 3% of a tracked CNN
// loop, and dcols (positions x patch floats, 9x dZ for a 3 x 3 kernel) went through L2 twice.
//
// Here dX is computed pixel by pixel, with the same arithmetic. With stride 1, input pixel
// (ih, iw) was read by output position (oh, ow) = (ih + P - kh, iw + P - kw) at tap (kh, kw), and
// the positions in increasing order are the taps in decreasing order; so
//     dX[ih, iw, :] = (((0 + t(K-1, K-1)) + t(K-1, K-2)) + ...) + t(0, 0),
//     t(kh, kw) = the FMA chain over oc = 0 ..< OC in order, from 0, of dZ[oh, ow, oc] * W[oc, kh, kw, :],
// each t being the element of dcols that `sgemm` computes (one chain for k = OC <= KC), each sum
// an addition of `col2imAdd`, over the taps whose position lies inside the output. A register tile
// holds 14 pixels of one input row x 16 input channels: 14 chains t and 14 sums, 29 registers with
// the weight vector (W's taps re-laid out as WT[tap, oc, ic], 16 channels contiguous). Taps whose
// output row is outside are skipped; taps whose output column is outside read the zero columns
// either side of a padded copy of dZ's row, giving t = +0 exactly (fma(+0, w, +0) = +0 for
// finite w), and s + (+0) = s because a sum that starts at +0 is never -0 (x + y = -0 only for
// x = y = -0). So the bits are those of `col2imAdd` whenever W is finite; `conv2dBackward` takes
// the im2col path when it is not (0 x inf would not be +0). `CNNKernelBitTests` checks the bits.

extension ConvGeometry {
    /// Whether `conv2dImplicitInputGradient` can compute this layer's input gradient: stride 1,
    /// pad <= K - 1 (every padded column of dZ is within K - 1 of the map) and OC <= KC (one chain).
    public var implicitInputGradientApplies: Bool { stride == 1 && pad <= kernel - 1 && outChannels <= gemmKC }

    /// Zero columns either side of the padded copy of dZ: K - 1 - P.
    var gradientPad: Int { kernel - 1 - pad }
    /// Pixels per row of the padded copy of dZ.
    var paddedGradientWidth: Int { outWidth + 2 * gradientPad }
    /// Floats of the padded copy of dZ and its slack (the last tile's pixels past the row's end
    /// read up to 13 pixels past the map).
    var implicitGradientImageCount: Int { (outHeight * paddedGradientWidth + convImplicitRows) * outChannels }
    /// Floats of scratch for `conv2dImplicitInputGradient`: WT (K*K x OC x IC rounded up to 16), the
    /// padded copy of dZ, one 14 x 16 tile.
    var implicitGradientScratchCount: Int {
        kernel * kernel * outChannels * gemmRoundUp(inChannels, 16) + implicitGradientImageCount + convImplicitRows * 16
    }
}

/// `dinput` (B, H, W, IC) (overwritten) = the input gradient of a stride-1 convolution with weights
/// `weights` (OC, K, K, IC) from `doutput` (B, OH, OW, OC): the result of dcols = dZ W and
/// `col2imAdd` into a zeroed dX, bit for bit when the weights are finite (comment above).
/// Requires `g.implicitInputGradientApplies`; `scratch` holds `g.implicitGradientScratchCount` floats.
func conv2dImplicitInputGradient(dinput: UnsafeMutablePointer<Float>, doutput: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                 batch B: Int, geometry g: ConvGeometry, scratch: UnsafeMutablePointer<Float>) {
    precondition(g.implicitInputGradientApplies, "conv2dImplicitInputGradient: geometry outside the implicit path")
    let (C, K, OC, P, patch) = (g.inChannels, g.kernel, g.outChannels, g.pad, g.patchSize)
    let (H, W, OH, OW) = (g.inHeight, g.inWidth, g.outHeight, g.outWidth)
    let (MR, L, Wd) = (convImplicitRows, g.gradientPad, g.paddedGradientWidth)
    let icp = gemmRoundUp(C, 16)
    let wt = scratch, dpad = wt + K * K * OC * icp, tile = dpad + g.implicitGradientImageCount
    // WT[tap, oc, ic] = W[oc, tap, ic], channels past IC zero.
    for tap in 0..<(K * K) {
        for oc in 0..<OC {
            let d = wt + (tap * OC + oc) * icp
            d.update(from: weights + oc * patch + tap * C, count: C)
            (d + C).update(repeating: 0, count: icp - C)
        }
    }
    // The zero columns, and the slack past the last row, are never written below.
    dpad.update(repeating: 0, count: g.implicitGradientImageCount)
    let rowStride = Wd * OC
    for e in 0..<B {
        let dz = doutput + e * g.outputSize
        for oh in 0..<OH { copyFloats(dpad + (oh * Wd + L) * OC, dz + oh * OW * OC, OW * OC) }
        let dx = dinput + e * g.inputSize
        for ih in 0..<H {
            // Taps kh whose output row oh = ih + P - kh is inside, in decreasing order.
            let khHigh = min(K - 1, ih + P), khLow = max(0, ih + P - (OH - 1))
            var iw0 = 0
            while iw0 < W {
                let n = min(MR, W - iw0)
                // Pixel i, tap (kh, kw) reads dpad's row oh, column iw0 + i + P - kw + L.
                let x = UnsafePointer(dpad + (iw0 + P + L) * OC)
                var ic0 = 0
                while ic0 < C {
                    let lanes = min(16, C - ic0)
                    let full = n == MR && lanes == 16
                    let out = dx + (ih * W + iw0) * C + ic0
                    let (dst, ldc) = full ? (out, C) : (tile, 16)
                    let w = UnsafePointer(wt + ic0)
                    if OC == 32 {
                        implicitGradientTileOC32(x: x, rowStride: rowStride, row: ih + P, khHigh: khHigh, khLow: khLow, kernel: K,
                                                 w: w, icp: icp, c: dst, ldc: ldc)
                    } else {
                        implicitGradientTileAnyOC(x: x, outChannels: OC, rowStride: rowStride, row: ih + P, khHigh: khHigh,
                                                  khLow: khLow, kernel: K, w: w, icp: icp, c: dst, ldc: ldc)
                    }
                    if !full {
                        for i in 0..<n { copyFloats(out + i * C, tile + i * 16, lanes) }
                    }
                    ic0 += 16
                }
                iw0 += MR
            }
        }
    }
}

/// The gradient tile with OC = 32 a constant: the 14 broadcasts of a step are at fixed displacements.
@inline(never)
private func implicitGradientTileOC32(x: UnsafePointer<Float>, rowStride: Int, row: Int, khHigh: Int, khLow: Int, kernel K: Int,
                                      w: UnsafePointer<Float>, icp: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
    implicitGradientTile(x: x, outChannels: 32, rowStride: rowStride, row: row, khHigh: khHigh, khLow: khLow, kernel: K, w: w,
                         icp: icp, c: c, ldc: ldc)
}

/// The gradient tile for any OC.
@inline(never)
private func implicitGradientTileAnyOC(x: UnsafePointer<Float>, outChannels OC: Int, rowStride: Int, row: Int, khHigh: Int,
                                       khLow: Int, kernel K: Int, w: UnsafePointer<Float>, icp: Int,
                                       c: UnsafeMutablePointer<Float>, ldc: Int) {
    implicitGradientTile(x: x, outChannels: OC, rowStride: rowStride, row: row, khHigh: khHigh, khLow: khLow, kernel: K, w: w,
                         icp: icp, c: c, ldc: ldc)
}

/// C[i, 0 ..< 16] = the sum over taps kh = khHigh ... khLow, kw = K-1 ... 0 (in that order) of the
/// chain over oc of x'[i, oc] * WT[tap, oc, :], where x' is dpad's row `row` - kh from column
/// i - kw (`x` is column 0's pixel of dpad's row 0, already offset by P + L; `rowStride` floats per
/// row) and WT's rows are `icp` floats apart (`w` at the tile's first channel).
@inline(__always)
private func implicitGradientTile(x: UnsafePointer<Float>, outChannels OC: Int, rowStride: Int, row: Int, khHigh: Int, khLow: Int,
                                  kernel K: Int, w: UnsafePointer<Float>, icp: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
    var s0 = SIMD16<Float>(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0
    var s7 = s0, s8 = s0, s9 = s0, s10 = s0, s11 = s0, s12 = s0, s13 = s0
    var kh = khHigh
    while kh >= khLow {
        var kw = K - 1
        while kw >= 0 {
            var t0 = SIMD16<Float>(), t1 = t0, t2 = t0, t3 = t0, t4 = t0, t5 = t0, t6 = t0
            var t7 = t0, t8 = t0, t9 = t0, t10 = t0, t11 = t0, t12 = t0, t13 = t0
            var ap = x + ((row &- kh) &* rowStride &- kw &* OC)
            var wp = w + (kh &* K &+ kw) &* OC &* icp
            for _ in 0..<OC {
                let wv = load16(wp)
                t0 = t0.addingProduct(wv, ap[0]); t1 = t1.addingProduct(wv, ap[OC])
                t2 = t2.addingProduct(wv, ap[2 &* OC]); t3 = t3.addingProduct(wv, ap[3 &* OC])
                t4 = t4.addingProduct(wv, ap[4 &* OC]); t5 = t5.addingProduct(wv, ap[5 &* OC])
                t6 = t6.addingProduct(wv, ap[6 &* OC]); t7 = t7.addingProduct(wv, ap[7 &* OC])
                t8 = t8.addingProduct(wv, ap[8 &* OC]); t9 = t9.addingProduct(wv, ap[9 &* OC])
                t10 = t10.addingProduct(wv, ap[10 &* OC]); t11 = t11.addingProduct(wv, ap[11 &* OC])
                t12 = t12.addingProduct(wv, ap[12 &* OC]); t13 = t13.addingProduct(wv, ap[13 &* OC])
                ap += 1
                wp += icp
            }
            s0 += t0; s1 += t1; s2 += t2; s3 += t3; s4 += t4; s5 += t5; s6 += t6
            s7 += t7; s8 += t8; s9 += t9; s10 += t10; s11 += t11; s12 += t12; s13 += t13
            kw -= 1
        }
        kh -= 1
    }
    store16(s0, c); store16(s1, c + ldc); store16(s2, c + 2 &* ldc); store16(s3, c + 3 &* ldc)
    store16(s4, c + 4 &* ldc); store16(s5, c + 5 &* ldc); store16(s6, c + 6 &* ldc); store16(s7, c + 7 &* ldc)
    store16(s8, c + 8 &* ldc); store16(s9, c + 9 &* ldc); store16(s10, c + 10 &* ldc); store16(s11, c + 11 &* ldc)
    store16(s12, c + 12 &* ldc); store16(s13, c + 13 &* ldc)
}
