import Foundation

// Multi-head scaled dot-product self-attention (no mask) over T tokens of width D = H * Dh.
//
// Input: the projections `qkv` (B*T, 3D) row-major: columns 0..<D are Q, D..<2D are K, 2D..<3D
// are V; head h uses columns h*Dh..<(h+1)*Dh of each. Per example b and head h:
//     S = Q_h K_h^T / sqrt(Dh)   (T x T),   P = softmax over each row of S,   O_h = P V_h,
// and the output (B*T, D) holds O_h in columns h*Dh..<(h+1)*Dh. P is kept for the backward pass
// (as P^T, rows padded to a multiple of 16 columns), which is exact:
//     dP = dO_h V_h^T,  dS = P * (dP - rowsum(P * dP)),  dQ_h = dS K_h / sqrt(Dh),
//     dK_h = dS^T Q_h / sqrt(Dh),  dV_h = P^T dO_h.
// The products are small (T, Dh up to a few dozen), so they are register-blocked loops rather than
// GEMM calls: each output vector of 16 lanes is accumulated over the inner index in increasing
// order, so results are deterministic. The softmax uses a vectorised exp (`fastExp`).
// The kernels work on S^T and P^T so that the softmax's reductions run across lanes (16 queries
// at once) instead of along a row; `attentionForwardRowwise` / `attentionBackwardRowwise` keep the
// row-wise formulation with the same arithmetic, and the tests hold the two bit-identical.

/// The geometry of one attention layer. Rows of scores and probabilities are padded from T to
/// `paddedTokens` (a multiple of 16) so that they are processed in whole 16-lane vectors; the
/// padding columns hold 0.
struct AttentionShape {
    var tokens: Int
    var dim: Int
    var heads: Int
    var headDim: Int { dim / heads }
    var paddedTokens: Int { (tokens + 15) / 16 * 16 }
    /// Floats of the probabilities buffer per example: heads x T x paddedTokens.
    var probsPerExample: Int { heads * tokens * paddedTokens }
    /// Floats of scratch the forward and backward passes (and their row-wise references) need: room
    /// for two Dh x Tp transposes (the fast kernels use the first: Q_h^T, dO_h^T), then dS^T (T x Tp).
    var scratchCount: Int { 2 * headDim * paddedTokens + tokens * paddedTokens }
}

// MARK: exp

/// e^x for 16 lanes: Cephes' expf (range reduction by ln 2 in two parts, degree-6 polynomial,
/// exponent by bit manipulation), max error ~2 ulp on [-87.3, 88.7]; inputs are clamped to
/// that range (so e^-1000 gives ~1.2e-38, which is 0 next to the softmax's largest term, 1).
@inline(__always)
func fastExp(_ input: SIMD16<Float>) -> SIMD16<Float> {
    let lo = SIMD16<Float>(repeating: -87.33654), hi = SIMD16<Float>(repeating: 88.72284)
    var x = input
    x.replace(with: lo, where: x .< lo)   // (SIMD.clamped is not specialised: 8x slower)
    x.replace(with: hi, where: x .> hi)
    // n = round(x / ln 2) by the 1.5 * 2^23 trick: adding it leaves n in the low mantissa bits.
    let magic = SIMD16<Float>(repeating: 12582912)
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    var r = x - n * 0.693359375
    r = r - n * -2.12194440e-4
    let z = r * r
    var y = SIMD16<Float>(repeating: 1.9875691500e-4)
    y = y * r + 1.3981999507e-3
    y = y * r + 8.3334519073e-3
    y = y * r + 4.1665795894e-2
    y = y * r + 1.6666665459e-1
    y = y * r + 5.0000001201e-1
    y = y * z + r + 1
    let exponent = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return y * unsafeBitCast(exponent, to: SIMD16<Float>.self)
}

/// Softmax of row[0..<n] in place; row[n..<padded] (padded a multiple of 16) is set to 0.
@inline(__always)
func softmaxPadded(_ row: UnsafeMutablePointer<Float>, _ n: Int, padded: Int) {
    var m = -Float.infinity
    for i in 0..<n { m = max(m, row[i]) }
    let shift = SIMD16<Float>(repeating: m)
    let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    var acc = SIMD16<Float>()
    var c = 0
    while c < padded {
        var e = fastExp(load16(row + c) - shift)
        if c + 16 > n { e.replace(with: 0, where: lane .>= SIMD16<Int32>(repeating: Int32(n - c))) }
        store16(e, row + c)
        acc += e
        c += 16
    }
    let inverse = SIMD16<Float>(repeating: 1 / acc.sum())
    c = 0
    while c < padded {
        store16(load16(row + c) * inverse, row + c)
        c += 16
    }
}

/// Four outputs at once (rows j = 0..<4; rows past `count` repeat the last one, which writes the
/// same values twice): out_j[0..<width] = sum_{r < n} w[j*wj + r*wr] * rows[r*rowStride ..< +width],
/// 16 columns at a time in registers, the sum over r in increasing order.
@inline(__always)
private func weightedRowSum4(_ out: UnsafeMutablePointer<Float>, outStride: Int, count: Int, width: Int, n: Int,
                             weights w: UnsafePointer<Float>, wj: Int, wr: Int, rows: UnsafePointer<Float>, rowStride: Int) {
    let j1 = min(1, count - 1), j2 = min(2, count - 1), j3 = min(3, count - 1)
    let (w0, w1, w2, w3) = (w, w + j1 * wj, w + j2 * wj, w + j3 * wj)
    let (o0, o1, o2, o3) = (out, out + j1 * outStride, out + j2 * outStride, out + j3 * outStride)
    var i0 = 0
    while i0 + 16 <= width {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        for r in 0..<n {
            let v = load16(rows + r * rowStride + i0)
            let k = r * wr
            a0.addProduct(SIMD16(repeating: w0[k]), v)
            a1.addProduct(SIMD16(repeating: w1[k]), v)
            a2.addProduct(SIMD16(repeating: w2[k]), v)
            a3.addProduct(SIMD16(repeating: w3[k]), v)
        }
        store16(a0, o0 + i0); store16(a1, o1 + i0); store16(a2, o2 + i0); store16(a3, o3 + i0)
        i0 += 16
    }
    if i0 < width {
        for (wq, o) in [(w0, o0), (w1, o1), (w2, o2), (w3, o3)] {
            for i in i0..<width { o[i] = 0 }
            for r in 0..<n {
                let x = wq[r * wr], v = rows + r * rowStride
                for i in i0..<width { o[i] += x * v[i] }
            }
        }
    }
}

/// Four rows at once (as in `weightedRowSum4`): dst_j[c ..< c+16] = scale * sum_{i < depth}
/// x[j*xStride + i] * mat[i*padded + c ...] for every 16-column chunk c of `padded`.
@inline(__always)
private func rowsTimesMatrix4(_ dst: UnsafeMutablePointer<Float>, dstStride: Int, count: Int, _ x: UnsafePointer<Float>,
                              xStride: Int, depth: Int, _ mat: UnsafePointer<Float>, padded: Int, scale: Float) {
    let j1 = min(1, count - 1), j2 = min(2, count - 1), j3 = min(3, count - 1)
    let (x0, x1, x2, x3) = (x, x + j1 * xStride, x + j2 * xStride, x + j3 * xStride)
    let (d0, d1, d2, d3) = (dst, dst + j1 * dstStride, dst + j2 * dstStride, dst + j3 * dstStride)
    let sv = SIMD16<Float>(repeating: scale)
    var c = 0
    while c < padded {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        for i in 0..<depth {
            let m = load16(mat + i * padded + c)
            a0.addProduct(SIMD16(repeating: x0[i]), m)
            a1.addProduct(SIMD16(repeating: x1[i]), m)
            a2.addProduct(SIMD16(repeating: x2[i]), m)
            a3.addProduct(SIMD16(repeating: x3[i]), m)
        }
        store16(a0 * sv, d0 + c); store16(a1 * sv, d1 + c); store16(a2 * sv, d2 + c); store16(a3 * sv, d3 + c)
        c += 16
    }
}

/// Eight outputs at once, from weights with the eight outputs' entries `wj` apart (side by side
/// when wj = 1):
///     out_j[c ..< c+16] = scale * sum_{r < n} w[r * wr + j * wj] * rows[r * rowStride + c ...],  j = 0..<8,
/// for every 16-column chunk c of `width` (a multiple of 16). Each output is one FMA chain over r in
/// increasing order from +0, then one multiplication by `scale`: the arithmetic of
/// `rowsTimesMatrix4`, and with scale 1 (x * 1 is x exactly) of `weightedRowSum4`, so the same
/// bits as they give. Why this form: a step's eight weights are at constant offsets from one
/// pointer (the loop needs three address registers, where eight weight pointers were spilled to
/// the stack; with wj a constant the offsets j * wj are fixed displacements, `combineRows8Spaced`,
/// while with wj in a register the compiler forms the eight addresses as a chain of additions),
/// and eight independent chains cover the FMA latency of a 16-deep sum, where four left half the
/// issue slots idle. Weights wj apart let the attention read K, V and the transposed scores and
/// probabilities where they are, instead of transposing them so that the weights lie side by side.
@inline(__always)
private func combineRows8(_ out: UnsafeMutablePointer<Float>, outStride: Int, weights w: UnsafePointer<Float>, wr: Int,
                          wj: Int, n: Int, rows: UnsafePointer<Float>, rowStride: Int, width: Int, scale: Float) {
    let sv = SIMD16<Float>(repeating: scale)
    var c = 0
    while c < width {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
        var wk = w, row = rows + c
        for _ in 0..<n {
            let v = load16(row)
            a0.addProduct(SIMD16(repeating: wk[0]), v); a1.addProduct(SIMD16(repeating: wk[wj]), v)
            a2.addProduct(SIMD16(repeating: wk[2 &* wj]), v); a3.addProduct(SIMD16(repeating: wk[3 &* wj]), v)
            a4.addProduct(SIMD16(repeating: wk[4 &* wj]), v); a5.addProduct(SIMD16(repeating: wk[5 &* wj]), v)
            a6.addProduct(SIMD16(repeating: wk[6 &* wj]), v); a7.addProduct(SIMD16(repeating: wk[7 &* wj]), v)
            wk += wr
            row += rowStride
        }
        var o = out + c
        store16(a0 * sv, o); o += outStride; store16(a1 * sv, o); o += outStride
        store16(a2 * sv, o); o += outStride; store16(a3 * sv, o); o += outStride
        store16(a4 * sv, o); o += outStride; store16(a5 * sv, o); o += outStride
        store16(a6 * sv, o); o += outStride; store16(a7 * sv, o)
        c += 16
    }
}

/// `combineRows8` with the weights' spacing `wj` a constant for the spacings `combineRows` is
/// given: 1, and the P^T and dS^T columns Tp apart of dK and dV for Tp = 16, 32, 64. The eight
/// weights of a step are then at fixed displacements. With wj in a register, the compiler formed
/// their addresses as a chain of eight dependent additions per step, which took longer than the
/// step's eight FMAs. Not used for the K and V rows 3D apart that the attention's passes read
/// directly: inlined there as well, the forward pass measured 310-335 ns per example and head
/// against about 300 without (a noisy period; not kept).
@inline(__always)
private func combineRows8Spaced(_ out: UnsafeMutablePointer<Float>, outStride: Int, weights w: UnsafePointer<Float>, wr: Int,
                                wj: Int, n: Int, rows: UnsafePointer<Float>, rowStride: Int, width: Int, scale: Float) {
    @inline(__always) func spaced(_ wj: Int) {
        combineRows8(out, outStride: outStride, weights: w, wr: wr, wj: wj, n: n, rows: rows, rowStride: rowStride,
                     width: width, scale: scale)
    }
    switch wj {
    case 1: spaced(1)
    case 16: spaced(16)
    case 32: spaced(32)
    case 64: spaced(64)
    default: spaced(wj)
    }
}

/// out_j = sum_{r < n} w[r * wr + j * wj] * rows[r * rowStride ..< + width] for j = 0..<count:
/// whole groups of eight by `combineRows8` when the width is a multiple of 16, the rest four at a
/// time by `weightedRowSum4`. The same bits either way.
@inline(__always)
private func combineRows(_ out: UnsafeMutablePointer<Float>, outStride: Int, count: Int, weights w: UnsafePointer<Float>,
                         wr: Int, wj: Int = 1, n: Int, rows: UnsafePointer<Float>, rowStride: Int, width: Int) {
    var j0 = 0
    if width % 16 == 0 {
        while j0 + 8 <= count {
            combineRows8Spaced(out + j0 * outStride, outStride: outStride, weights: w + j0 * wj, wr: wr, wj: wj, n: n,
                               rows: rows, rowStride: rowStride, width: width, scale: 1)
            j0 += 8
        }
    }
    while j0 < count {
        weightedRowSum4(out + j0 * outStride, outStride: outStride, count: min(4, count - j0), width: width, n: n,
                        weights: w + j0 * wj, wj: wj, wr: wr, rows: rows, rowStride: rowStride)
        j0 += 4
    }
}

// MARK: Forward and backward

/// dst (depth x padded) = the columns [0, depth) of `rows` (count rows of stride `rowStride`),
/// transposed: dst[i * padded + t] = rows[t * rowStride + i]. Columns t >= count are not written.
@inline(__always)
private func transposeRows(_ dst: UnsafeMutablePointer<Float>, padded: Int, _ rows: UnsafePointer<Float>, rowStride: Int,
                           count: Int, depth: Int) {
    // Wrapping index arithmetic: the checked multiply-adds were half the forward pass's time.
    for t in 0..<count {
        let row = rows + t &* rowStride
        var out = dst + t
        for i in 0..<depth {
            out.pointee = row[i]
            out += padded
        }
    }
}

/// `transposeRows` for `depth` a multiple of 16, by 16 x 16 tiles (`transpose16x16`; `tile` holds
/// 16 vectors): the same values moved, and the columns count..<roundUp(count, 16) (which must fit
/// in `padded`) set to 0. The scalar form's 256 stores per tile, each to another row of dst, were a
/// third of the attention forward's time.
@inline(__always)
private func transposeRowsByTiles(_ dst: UnsafeMutablePointer<Float>, padded: Int, _ rows: UnsafePointer<Float>,
                                  rowStride: Int, count: Int, depth: Int, tile: UnsafeMutablePointer<SIMD16<Float>>) {
    var t0 = 0
    while t0 < count {
        let n = min(16, count - t0)
        var i0 = 0
        while i0 < depth {
            for r in 0..<n { tile[r] = load16(rows + (t0 + r) * rowStride + i0) }
            for r in n..<16 { tile[r] = SIMD16() }
            transpose16x16(tile)
            for i in 0..<16 { store16(tile[i], dst + (i0 + i) * padded + t0) }
            i0 += 16
        }
        t0 += 16
    }
}

/// A head's columns [0, depth) of `count` rows transposed (`transposeRows`): by tiles when `depth`
/// is a multiple of 16 (`transposeRowsByTiles`, which also writes 0 into the padding columns up to
/// the next multiple of 16, where the callers keep 0 anyway).
@inline(__always)
private func transposeHead(_ dst: UnsafeMutablePointer<Float>, padded: Int, _ rows: UnsafePointer<Float>, rowStride: Int,
                           count: Int, depth: Int, tile: UnsafeMutablePointer<SIMD16<Float>>) {
    if depth % 16 == 0 {
        transposeRowsByTiles(dst, padded: padded, rows, rowStride: rowStride, count: count, depth: depth, tile: tile)
    } else {
        transposeRows(dst, padded: padded, rows, rowStride: rowStride, count: count, depth: depth)
    }
}

/// One 16-column chunk of `softmaxColumnsOfBlocks`: the columns of S^T at `p` (`n` rows `padded`
/// apart), lanes from `validLanes` on set to 0.
@inline(__always)
private func softmaxChunk(_ p: UnsafeMutablePointer<Float>, rows n: Int, padded: Int, validLanes: Int) {
    var m = SIMD16<Float>(repeating: -Float.infinity)
    for s in 0..<n {
        let v = load16(p + s * padded)
        m.replace(with: v, where: v .> m)
    }
    for s in 0..<n { store16(fastExp(load16(p + s * padded) - m), p + s * padded) }
    var total = SIMD16<Float>(repeating: -0.0)
    for l in 0..<16 {  // (partials of lanes l >= n are +0, added as the row-wise sum adds them)
        var partial = SIMD16<Float>()
        var s = l
        while s < n { partial += load16(p + s * padded); s += 16 }
        total += partial
    }
    let inverse = zeroingLanes(1 / total, from: validLanes)
    for s in 0..<n { store16(load16(p + s * padded) * inverse, p + s * padded) }
}

/// v with lanes `validLanes ..< 16` set to 0 (a chunk's padding columns); v itself when all 16 are valid.
@inline(__always)
private func zeroingLanes(_ v: SIMD16<Float>, from validLanes: Int) -> SIMD16<Float> {
    validLanes < 16 ? v.replacing(with: 0, where: softmaxLane .>= SIMD16<Int32>(repeating: Int32(validLanes))) : v
}

private let softmaxLane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

/// Four column chunks of `softmaxChunk` at once (`p[k]`, lanes from `validLanes[k]` on set to 0),
/// step by step side by side. Each chunk's chains (the maximum down the rows, the sum in lane
/// order, the division) are sequential, and one chunk at a time left issue slots idle: a 16 x 16
/// chunk took 130-140 ns (about 410 cycles), where its vector instructions on the two 512-bit
/// ports need about 265 (counted, not measured); four side by side, 105-113 ns per chunk (a
/// temporary timing test, T = 16, H = 4). Per chunk the operations and their order are
/// `softmaxChunk`'s: the same bits.
@inline(__always)
private func softmaxChunks4(_ p: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                  UnsafeMutablePointer<Float>), rows n: Int, padded: Int, validLanes: SIMD4<Int>) {
    let (p0, p1, p2, p3) = p
    var m0 = SIMD16<Float>(repeating: -Float.infinity), m1 = m0, m2 = m0, m3 = m0
    for s in 0..<n {
        let o = s * padded
        let v0 = load16(p0 + o), v1 = load16(p1 + o), v2 = load16(p2 + o), v3 = load16(p3 + o)
        m0.replace(with: v0, where: v0 .> m0); m1.replace(with: v1, where: v1 .> m1)
        m2.replace(with: v2, where: v2 .> m2); m3.replace(with: v3, where: v3 .> m3)
    }
    for s in 0..<n {
        let o = s * padded
        store16(fastExp(load16(p0 + o) - m0), p0 + o); store16(fastExp(load16(p1 + o) - m1), p1 + o)
        store16(fastExp(load16(p2 + o) - m2), p2 + o); store16(fastExp(load16(p3 + o) - m3), p3 + o)
    }
    var t0 = SIMD16<Float>(repeating: -0.0), t1 = t0, t2 = t0, t3 = t0
    for l in 0..<16 {
        var q0 = SIMD16<Float>(), q1 = q0, q2 = q0, q3 = q0
        var s = l
        while s < n {
            let o = s * padded
            q0 += load16(p0 + o); q1 += load16(p1 + o); q2 += load16(p2 + o); q3 += load16(p3 + o)
            s += 16
        }
        t0 += q0; t1 += q1; t2 += q2; t3 += q3
    }
    let i0 = zeroingLanes(1 / t0, from: validLanes[0]), i1 = zeroingLanes(1 / t1, from: validLanes[1])
    let i2 = zeroingLanes(1 / t2, from: validLanes[2]), i3 = zeroingLanes(1 / t3, from: validLanes[3])
    for s in 0..<n {
        let o = s * padded
        store16(load16(p0 + o) * i0, p0 + o); store16(load16(p1 + o) * i1, p1 + o)
        store16(load16(p2 + o) * i2, p2 + o); store16(load16(p3 + o) * i3, p3 + o)
    }
}

/// Softmax down each column of the `count` blocks of S^T at `st + k * blockStride` (k < count; a
/// block is `n` rows of `padded` floats, column t holding query t's scores over the keys
/// s = 0..<n), in place; columns t >= `valid` are set to 0.
///
/// Lane for lane the same arithmetic as `softmaxPadded` on row t of S: the maximum (exact in any
/// order, and a tie between 0 and -0 gives the same exp(x - max)), e = fastExp(x - max), the sum in
/// `softmaxPadded`'s order (partial sums over s = l, l + 16, ... for each lane l, then those 16
/// partials added in lane order starting from -0, as `SIMD16.sum()` does), then e * (1 / sum).
/// The 16 queries of a column chunk are the 16 lanes, so there is no horizontal reduction. The
/// blocks' chunks go four at a time (`softmaxChunks4`), the rest one by one (`softmaxChunk`).
@inline(__always)
func softmaxColumnsOfBlocks(_ st: UnsafeMutablePointer<Float>, count: Int, blockStride: Int, rows n: Int, padded: Int,
                            valid: Int) {
    let perBlock = padded / 16, chunks = count * perBlock
    @inline(__always) func chunk(_ i: Int) -> UnsafeMutablePointer<Float> { st + (i / perBlock) * blockStride + (i % perBlock) * 16 }
    @inline(__always) func lanes(_ i: Int) -> Int { valid - (i % perBlock) * 16 }
    var i = 0
    while i + 4 <= chunks {
        softmaxChunks4((chunk(i), chunk(i + 1), chunk(i + 2), chunk(i + 3)), rows: n, padded: padded,
                       validLanes: SIMD4(lanes(i), lanes(i + 1), lanes(i + 2), lanes(i + 3)))
        i += 4
    }
    while i < chunks {
        softmaxChunk(chunk(i), rows: n, padded: padded, validLanes: lanes(i))
        i += 1
    }
}

/// out (B*T, D), probs (B, H, T, paddedTokens) from qkv (B*T, 3D). `scratch`: `shape.scratchCount` floats.
///
/// Works on transposes, so that the softmax runs across lanes rather than along a row: per
/// example and head, Q_h^T (Dh x Tp) is formed, S^T = K_h Q_h^T (row s holds the scores of key s
/// against the queries t in its lanes, each the same FMA chain over i as S = Q_h K_h^T), the
/// softmax goes down the columns (`softmaxColumnsOfBlocks`), and O_h = P V_h reads P from P^T. `probs`
/// keeps P^T: row s (of T) holds P[t, s] at column t, 0 in the padding columns t >= T.
/// The products run eight output rows at a time (`combineRows8`), the rest four at a time; their
/// weights are read where they are (the rows of K_h, 3D apart; a column of P^T, side by side). The
/// softmax runs once per example over its H heads (`softmaxColumnsOfBlocks`), between the scores
/// of every head and the outputs of every head.
/// Bit-identical to `attentionForwardRowwise` (whose probs are the transpose).
func attentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                      batch B: Int, shape: AttentionShape, scratch: UnsafeMutablePointer<Float>) {
    let (T, D, H, Dh, Tp) = (shape.tokens, shape.dim, shape.heads, shape.headDim, shape.paddedTokens)
    let scale = 1 / Float(Dh).squareRoot()
    let qt = scratch  // Q_h^T, Dh x Tp, zero in the padding columns
    qt.update(repeating: 0, count: Dh * Tp)
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 16) { tileBuffer in
        let tile = tileBuffer.baseAddress!
        for b in 0..<B {
            let base = qkv + b * T * 3 * D
            for h in 0..<H {
                transposeHead(qt, padded: Tp, base + h * Dh, rowStride: 3 * D, count: T, depth: Dh, tile: tile)
                let pt = probs + (b * H + h) * T * Tp
                var s0 = 0
                while s0 + 8 <= T {  // S^T rows s0..<s0+8: weights K_h[s0 + j, i]
                    combineRows8(pt + s0 * Tp, outStride: Tp, weights: base + s0 * 3 * D + D + h * Dh, wr: 1, wj: 3 * D, n: Dh,
                                 rows: qt, rowStride: Tp, width: Tp, scale: scale)
                    s0 += 8
                }
                while s0 < T {
                    rowsTimesMatrix4(pt + s0 * Tp, dstStride: Tp, count: min(4, T - s0), base + s0 * 3 * D + D + h * Dh,
                                     xStride: 3 * D, depth: Dh, qt, padded: Tp, scale: scale)
                    s0 += 4
                }
            }
            // The example's H blocks of S^T together, their chunks four at a time.
            softmaxColumnsOfBlocks(probs + b * H * T * Tp, count: H, blockStride: T * Tp, rows: T, padded: Tp, valid: T)
            for h in 0..<H {
                // O_t = sum_s P[t, s] V_s: weights P^T[s, t0 + j]
                combineRows(out + b * T * D + h * Dh, outStride: D, count: T, weights: probs + (b * H + h) * T * Tp, wr: Tp, n: T,
                            rows: base + 2 * D + h * Dh, rowStride: 3 * D, width: Dh)
            }
        }
    }
}

/// dqkv (B*T, 3D) (every entry overwritten) from dout (B*T, D), the forward pass's qkv and probs
/// (P^T, as `attentionForward` leaves them).
///
/// In the transposed layout throughout: dP^T = V_h dO_h^T, then per query t (a lane) the weighted
/// sum w_t = sum_s P[t, s] dP[t, s] in `attentionBackwardRowwise`'s order (FMA partials over s = l,
/// l + 16, ... per lane l, added in lane order from -0), dS^T = P^T * (dP^T - w) / sqrt(Dh), and
/// the three products, with their weights read where they are: dP^T from the rows of V_h, dQ from
/// dS^T (side by side), dK and dV from dS^T and P^T (a row of each, Tp apart).
/// Bit-identical to the row-wise backward.
func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                       probs: UnsafePointer<Float>, batch B: Int, shape: AttentionShape, scratch: UnsafeMutablePointer<Float>) {
    let (T, D, H, Dh, Tp) = (shape.tokens, shape.dim, shape.heads, shape.headDim, shape.paddedTokens)
    let scaleV = SIMD16<Float>(repeating: 1 / Float(Dh).squareRoot())
    let dot = scratch                   // dO_h^T, Dh x Tp, zero in the padding columns
    let ds = scratch + 2 * Dh * Tp      // dP^T, then dS^T (T x Tp, scaled by 1/sqrt(Dh))
    dot.update(repeating: 0, count: Dh * Tp)
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 16) { tileBuffer in
        let tile = tileBuffer.baseAddress!
        for b in 0..<B {
            let base = qkv + b * T * 3 * D
            let dbase = dqkv + b * T * 3 * D
            let gbase = dout + b * T * D
            for h in 0..<H {
                transposeHead(dot, padded: Tp, gbase + h * Dh, rowStride: D, count: T, depth: Dh, tile: tile)
                let pt = probs + (b * H + h) * T * Tp
                var s0 = 0
                while s0 + 8 <= T {  // dP^T rows s0..<s0+8: weights V_h[s0 + j, i]
                    combineRows8(ds + s0 * Tp, outStride: Tp, weights: base + s0 * 3 * D + 2 * D + h * Dh, wr: 1, wj: 3 * D,
                                 n: Dh, rows: dot, rowStride: Tp, width: Tp, scale: 1)
                    s0 += 8
                }
                while s0 < T {
                    rowsTimesMatrix4(ds + s0 * Tp, dstStride: Tp, count: min(4, T - s0), base + s0 * 3 * D + 2 * D + h * Dh,
                                     xStride: 3 * D, depth: Dh, dot, padded: Tp, scale: 1)
                    s0 += 4
                }
                var c = 0
                while c < Tp {
                    var weighted = SIMD16<Float>(repeating: -0.0)
                    for l in 0..<16 {
                        var partial = SIMD16<Float>()
                        var s = l
                        while s < T { partial.addProduct(load16(pt + s * Tp + c), load16(ds + s * Tp + c)); s += 16 }
                        weighted += partial
                    }
                    for s in 0..<T {
                        let at = s * Tp + c
                        store16(load16(pt + at) * (load16(ds + at) - weighted) * scaleV, ds + at)
                    }
                    c += 16
                }
                // dQ_t = sum_s dS[t, s] K_s: weights dS^T[s, t0 + j]
                combineRows(dbase + h * Dh, outStride: 3 * D, count: T, weights: ds, wr: Tp, n: T, rows: base + D + h * Dh,
                            rowStride: 3 * D, width: Dh)
                // dK_s = sum_t dS[t, s] q_t;  dV_s = sum_t P[t, s] dO_t: weights dS^T[s, t], P^T[s, t]
                combineRows(dbase + D + h * Dh, outStride: 3 * D, count: T, weights: ds, wr: 1, wj: Tp, n: T, rows: base + h * Dh,
                            rowStride: 3 * D, width: Dh)
                combineRows(dbase + 2 * D + h * Dh, outStride: 3 * D, count: T, weights: pt, wr: 1, wj: Tp, n: T,
                            rows: gbase + h * Dh, rowStride: D, width: Dh)
            }
        }
    }
}

/// Multiply-adds x 2 of the attention products (QK^T and PV) per example, forward.
func attentionFlopsPerExample(_ shape: AttentionShape) -> Double {
    4 * Double(shape.tokens) * Double(shape.tokens) * Double(shape.dim)
}

// MARK: Row-wise reference (the same arithmetic, rows of P in memory)

/// The row-wise formulation that `attentionForward` transposes: S = Q K^T row by row (t), the
/// softmax along each row (`softmaxPadded`), O = P V. Every value goes through the same operations
/// in the same order as in `attentionForward`, so `out` is bit-identical and `probs` (B, H, T,
/// paddedTokens) holds P[t, s] at row t, column s: the transpose of `attentionForward`'s (tested).
/// Kept as the reference the fast kernels are held to.
func attentionForwardRowwise(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                             batch B: Int, shape: AttentionShape, scratch: UnsafeMutablePointer<Float>) {
    let (T, D, H, Dh, Tp) = (shape.tokens, shape.dim, shape.heads, shape.headDim, shape.paddedTokens)
    let scale = 1 / Float(Dh).squareRoot()
    let kt = scratch  // K_h^T, Dh x Tp, zero in the padding columns
    kt.update(repeating: 0, count: Dh * Tp)
    for b in 0..<B {
        let base = qkv + b * T * 3 * D
        for h in 0..<H {
            for s in 0..<T {
                let k = base + s * 3 * D + D + h * Dh
                for i in 0..<Dh { kt[i * Tp + s] = k[i] }
            }
            let p = probs + (b * H + h) * T * Tp
            for t0 in stride(from: 0, to: T, by: 4) {
                let count = min(4, T - t0)
                rowsTimesMatrix4(p + t0 * Tp, dstStride: Tp, count: count, base + t0 * 3 * D + h * Dh, xStride: 3 * D,
                                 depth: Dh, kt, padded: Tp, scale: scale)
                for t in t0..<(t0 + count) { softmaxPadded(p + t * Tp, T, padded: Tp) }
                weightedRowSum4(out + (b * T + t0) * D + h * Dh, outStride: D, count: count, width: Dh, n: T,
                                weights: p + t0 * Tp, wj: Tp, wr: 1, rows: base + 2 * D + h * Dh, rowStride: 3 * D)
            }
        }
    }
}

/// Backward of `attentionForwardRowwise` (its `probs` layout), bit-identical to `attentionBackward`.
func attentionBackwardRowwise(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                              probs: UnsafePointer<Float>, batch B: Int, shape: AttentionShape, scratch: UnsafeMutablePointer<Float>) {
    let (T, D, H, Dh, Tp) = (shape.tokens, shape.dim, shape.heads, shape.headDim, shape.paddedTokens)
    let scale = 1 / Float(Dh).squareRoot()
    let vt = scratch                    // V_h^T, Dh x Tp, zero in the padding columns
    let ds = scratch + 2 * Dh * Tp      // dS, T x Tp (already scaled by 1/sqrt(Dh))
    vt.update(repeating: 0, count: Dh * Tp)
    for b in 0..<B {
        let base = qkv + b * T * 3 * D
        let dbase = dqkv + b * T * 3 * D
        let gbase = dout + b * T * D
        for h in 0..<H {
            for s in 0..<T {
                let v = base + s * 3 * D + 2 * D + h * Dh
                for i in 0..<Dh { vt[i * Tp + s] = v[i] }
            }
            let p = probs + (b * H + h) * T * Tp
            for t0 in stride(from: 0, to: T, by: 4) {
                let count = min(4, T - t0)
                // dP[t, :] = dO_t V^T, then dS = P * (dP - sum(P * dP)) / sqrt(Dh)
                rowsTimesMatrix4(ds + t0 * Tp, dstStride: Tp, count: count, gbase + t0 * D + h * Dh, xStride: D, depth: Dh,
                                 vt, padded: Tp, scale: 1)
                for t in t0..<(t0 + count) {
                    let row = p + t * Tp, dsRow = ds + t * Tp
                    var accW = SIMD16<Float>()
                    var c = 0
                    while c < Tp { accW.addProduct(load16(row + c), load16(dsRow + c)); c += 16 }
                    let weighted = SIMD16<Float>(repeating: accW.sum()), scaleV = SIMD16<Float>(repeating: scale)
                    c = 0
                    while c < Tp { store16(load16(row + c) * (load16(dsRow + c) - weighted) * scaleV, dsRow + c); c += 16 }
                }
                // dQ_t = dS[t, :] K
                weightedRowSum4(dbase + t0 * 3 * D + h * Dh, outStride: 3 * D, count: count, width: Dh, n: T,
                                weights: ds + t0 * Tp, wj: Tp, wr: 1, rows: base + D + h * Dh, rowStride: 3 * D)
            }
            // dK_s = sum_t dS[t, s] q_t;  dV_s = sum_t P[t, s] dO_t
            for s0 in stride(from: 0, to: T, by: 4) {
                let count = min(4, T - s0)
                weightedRowSum4(dbase + s0 * 3 * D + D + h * Dh, outStride: 3 * D, count: count, width: Dh, n: T,
                                weights: ds + s0, wj: 1, wr: Tp, rows: base + h * Dh, rowStride: 3 * D)
                weightedRowSum4(dbase + s0 * 3 * D + 2 * D + h * Dh, outStride: 3 * D, count: count, width: Dh, n: T,
                                weights: p + s0, wj: 1, wr: Tp, rows: gbase + h * Dh, rowStride: D)
            }
        }
    }
}

// MARK: Naive reference (Double)

/// Naive reference in Double: out (B*T, D) from qkv (B*T, 3D), with the layout above.
public func attentionNaive(qkv: [Double], batch B: Int, tokens T: Int, dim D: Int, heads H: Int) -> [Double] {
    let Dh = D / H
    let scale = 1 / Double(Dh).squareRoot()
    var out = [Double](repeating: 0, count: B * T * D)
    for b in 0..<B {
        for h in 0..<H {
            func at(_ t: Int, _ part: Int, _ i: Int) -> Double { qkv[(b * T + t) * 3 * D + part * D + h * Dh + i] }
            for t in 0..<T {
                var scores = (0..<T).map { s in (0..<Dh).reduce(0.0) { $0 + at(t, 0, $1) * at(s, 1, $1) } * scale }
                let m = scores.max()!
                scores = scores.map { exp($0 - m) }
                let z = scores.reduce(0, +)
                for i in 0..<Dh {
                    out[(b * T + t) * D + h * Dh + i] = (0..<T).reduce(0.0) { $0 + scores[$1] / z * at($1, 2, i) }
                }
            }
        }
    }
    return out
}
