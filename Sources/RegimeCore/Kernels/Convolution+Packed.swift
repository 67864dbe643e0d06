// The forward convolution of the im2col path without the im2col matrix: patches are gathered
// straight into the GEMM's packed A layout, one 12-row sliver at a time, and fed to the GEMM's
// own micro-kernels.
//
// The im2col path computes Z (rows x OC) = cols (rows x patch) W^T with `sgemm`, which first
// writes the im2col matrix (a row per output position, patch = K*K*IC floats), then reads it
// back and transposes it into 12-row slivers (sliver[p * 12 + i] = cols[row0 + i, p]: column p of
// the sliver contiguous, what the micro-kernel broadcasts at step p). Under `perf` those two
// passes over the same data cost as much as the multiply-adds themselves (a tracked CNN trial:
// im2col 9%, packing 15%, the 12 x 32 kernel 24%).
//
// Here each example is first transposed to a zero-padded channel-major copy (IC, H + 2P, W + 2P)
// (16 x 16 register blocks, `gemmPackTransposed`: about IC*H*W/256 of them per example). With
// stride 1, the 12 output positions of a sliver that lie in one output row (oh, ow ..< ow + n) read
// for tap (kh, kw, ic) the n consecutive floats of channel ic, padded row oh + kh, from column
// ow + kw: each tap of a sliver segment is one run of n <= 12 floats, copied with one or two
// vector moves. No im2col matrix, no transpose per sliver.
//
// Same bits as the im2col path: the packed weights (`gemmPackB`), the micro-kernels and their
// arguments (alpha 1, beta 0) are those `sgemm` uses for this product; every element of Z is the
// kernel's FMA chain over p = 0 ..< patch in order, whichever sliver, tile or edge kernel computes
// it (GEMM.swift, "Reproducibility"), and the geometry limits below keep the product in one
// KC block and one NC panel, as `sgemm` has it. Bias and ReLU are then `addBias` / `addBiasRelu`,
// applied per sliver while it is in L1. `ConvolutionPackedTests` checks the bits against
// `conv2dIm2colForward`.

extension ConvGeometry {
    /// Whether `conv2dPackedForward` can compute this layer: stride 1 (a tap's positions are
    /// consecutive in the channel-major image), patch <= KC (`sgemm` takes k in one block) and
    /// OC <= NC (one B panel).
    public var packedForwardApplies: Bool {
        stride == 1 && patchSize <= gemmKC && outChannels <= gemmNC
    }

    /// Floats of scratch for `conv2dPackedForward`: packed weights (patch x OC rounded up to 32),
    /// one A sliver (12 x patch), the channel-major padded image (IC planes of `paddedPlane`), a
    /// 16-pixel transpose block (IC x 16), the 12 x 32 edge tile of `gemmEdgeTile`.
    var packedScratchCount: Int {
        patchSize * gemmRoundUp(outChannels, gemmNR) + gemmMR * patchSize
            + inChannels * paddedPlane + inChannels * 16 + gemmMR * gemmNR
    }

    /// Floats from one channel's plane of the channel-major padded image to the next: the plane,
    /// (H + 2P) x (W + 2P), and 16 floats of slack, where the whole-column stores of
    /// `channelMajorPaddedImage` may run past the plane's last row (zeros; nothing reads them).
    var paddedPlane: Int { (inHeight + 2 * pad) * (inWidth + 2 * pad) + 16 }
}

/// `image` (IC, H + 2P, W + 2P) = example `e` of the NHWC batch, channel-major with a zero border,
/// one plane every `g.paddedPlane` floats. `block`: IC x 16 floats of scratch.
///
/// When IC is a multiple of 16, each 16-pixel run of a row (n <= 16 pixels) is one 16 x 16
/// transpose per 16 channels stored straight into the planes (`gemmTranspose16x16` with the plane
/// as its column stride): column ic is the run's n values of channel ic, then 16 - n zeros (its
/// rows past n are zero). Those zeros land on the row's right border, the next row's left border
/// and first pixels (rewritten when that row is stored: rows go in increasing order), the bottom
/// border, or the plane's slack: every cell ends as in `channelMajorPaddedImageReference`, whose
/// transpose goes through `block` and copies n floats per channel (a copy that waited on the
/// transpose's stores: 2.8% of a tracked CNN loop). Without a border (P = 0) every cell that the
/// gather reads is a pixel, so nothing is zeroed first.
func channelMajorPaddedImage(_ image: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ g: ConvGeometry,
                                     example e: Int, block: UnsafeMutablePointer<Float>) {
    let (C, H, W, P) = (g.inChannels, g.inHeight, g.inWidth, g.pad)
    guard C % 16 == 0 else {
        channelMajorPaddedImageReference(image, input, g, example: e, block: block)
        return
    }
    let (Wp, plane) = (W + 2 * P, g.paddedPlane)
    if P > 0 { image.update(repeating: 0, count: C * plane) }
    let x = input + e * g.inputSize
    for h in 0..<H {
        var w0 = 0
        while w0 < W {
            let n = min(16, W - w0)
            let row = image + (h + P) * Wp + P + w0
            for c0 in stride(from: 0, to: C, by: 16) {
                gemmTranspose16x16(src: x + (h * W + w0) * C + c0, ld: C, rows: n, dst: row + c0 * plane, dstStride: plane,
                                   width: 16, columns: 16)
            }
            w0 += n
        }
    }
}

/// The reference of `channelMajorPaddedImage` (its first version, any IC): the image zeroed, each
/// run transposed into `block` (`gemmPackTransposed`), then n floats per channel copied.
func channelMajorPaddedImageReference(_ image: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ g: ConvGeometry,
                                      example e: Int, block: UnsafeMutablePointer<Float>) {
    let (C, H, W, P) = (g.inChannels, g.inHeight, g.inWidth, g.pad)
    let (Wp, plane) = (W + 2 * P, g.paddedPlane)
    image.update(repeating: 0, count: C * plane)
    let x = input + e * g.inputSize
    for h in 0..<H {
        var w0 = 0
        while w0 < W {
            let n = min(16, W - w0)
            // block[ic * 16 + j] = x[h, w0 + j, ic]
            gemmPackTransposed(src: x + (h * W + w0) * C, ld: C, rows: n, kc: C, dst: block, dstStride: 16)
            let row = image + (h + P) * Wp + P + w0
            for ic in 0..<C { copyRun(row + ic * plane, block + ic * 16, n) }
            w0 += n
        }
    }
}

/// One output-row segment of a sliver: for each tap p = (kh, kw, ic) in order, `copy` moves the
/// run at base + kh * rowStride + kw + ic * channelStride (channel-major padded image, `base` at
/// the segment's first position) to d + p * 12.
@inline(__always)
private func gatherSegment(_ d: UnsafeMutablePointer<Float>, _ base: UnsafePointer<Float>, C: Int, K: Int, rowStride: Int,
                           channelStride: Int, _ copy: (UnsafeMutablePointer<Float>, UnsafePointer<Float>) -> Void) {
    var dst = d
    for kh in 0..<K {
        for kw in 0..<K {
            var src = base + (kh &* rowStride &+ kw)
            for _ in 0..<C {
                copy(dst, src)
                dst += gemmMR
                src += channelStride
            }
        }
    }
}

/// `output` (B, OH, OW, OC) = conv(`input` (B, H, W, IC)) + bias, then ReLU when `relu`: the result
/// of `conv2dIm2colForward` bit for bit, without its im2col matrix (file comment). Requires
/// `g.packedForwardApplies`; `scratch` holds `g.packedScratchCount` floats.
func conv2dPackedForward(output: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>, batch B: Int, geometry g: ConvGeometry, relu: Bool,
                         scratch: UnsafeMutablePointer<Float>) {
    precondition(g.packedForwardApplies, "conv2dPackedForward: geometry outside the packed path")
    let (C, K, OC, patch, positions) = (g.inChannels, g.kernel, g.outChannels, g.patchSize, g.positions)
    let (OW, Wp) = (g.outWidth, g.inWidth + 2 * g.pad)
    let MR = gemmMR, NR = gemmNR
    let bPack = scratch
    let sliver = bPack + patch * gemmRoundUp(OC, NR)
    let image = sliver + MR * patch
    let block = image + C * g.paddedPlane
    let tile = block + C * 16
    // The B panel of Z = cols W^T, as `sgemm(transB: true)` packs it: op(B)[p, oc] = W[oc, p].
    gemmPackB(transB: true, b: weights, ldb: patch, row0: 0, col0: 0, kc: patch, nc: OC, dst: bPack)
    for e in 0..<B {
        channelMajorPaddedImage(image, input, g, example: e, block: block)
        let out = output + e * g.outputSize
        var r0 = 0
        while r0 < positions {
            let rows = min(MR, positions - r0)
            // sliver[p * 12 + i] = cols[r0 + i, p], p = (kh, kw, ic), one output-row segment at a time.
            var i = 0
            while i < rows {
                let oh = (r0 + i) / OW, ow = (r0 + i) % OW
                let n = min(rows - i, OW - ow)
                // One loop per run length, so that each tap is a fixed sequence of moves.
                let base = image + oh * Wp + ow, d = sliver + i
                @inline(__always) func gather(_ copy: (UnsafeMutablePointer<Float>, UnsafePointer<Float>) -> Void) {
                    gatherSegment(d, base, C: C, K: K, rowStride: Wp, channelStride: g.paddedPlane, copy)
                }
                switch n {
                case 12: gather { gemmCopy12(from: $1, to: $0) }
                case 11: gather { copyRun($0, $1, 11) }
                case 10: gather { copyRun($0, $1, 10) }
                case 9: gather { copyRun($0, $1, 9) }
                case 8: gather { copyRun($0, $1, 8) }
                case 7: gather { copyRun($0, $1, 7) }
                case 6: gather { copyRun($0, $1, 6) }
                case 5: gather { copyRun($0, $1, 5) }
                case 4: gather { copyRun($0, $1, 4) }
                case 3: gather { copyRun($0, $1, 3) }
                case 2: gather { copyRun($0, $1, 2) }
                default: gather { copyRun($0, $1, n) }
                }
                i += n
            }
            if rows < MR {
                for p in 0..<patch { (sliver + p * MR + rows).update(repeating: 0, count: MR - rows) }
            }
            var jr = 0
            while jr < OC {
                let nr = min(NR, OC - jr)
                let c = out + r0 * OC + jr, b = UnsafePointer(bPack + jr * patch)
                if rows == MR && nr == NR {
                    gemmKernel12x32(kc: patch, a: sliver, b: b, c: c, ldc: OC, alpha: 1, beta: 0, betaIsZero: true)
                } else {
                    gemmEdgeTile(kc: patch, a: sliver, b: b, mr: rows, nr: nr, c: c, ldc: OC,
                                 alpha: 1, beta: 0, betaIsZero: true, tile: tile)
                }
                jr += NR
            }
            if relu {
                addBiasRelu(out + r0 * OC, bias, rows: rows, columns: OC)
            } else {
                addBias(out + r0 * OC, bias, rows: rows, columns: OC)
            }
            r0 += rows
        }
    }
}
