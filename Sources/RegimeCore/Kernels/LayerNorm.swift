import Foundation

// Layer normalisation over the last dimension (rows of width N), as in PyTorch's nn.LayerNorm:
//     mean = sum(x)/N,  var = sum((x - mean)^2)/N (biased),  rstd = 1/sqrt(var + eps),
//     xhat = (x - mean) * rstd,  y = gamma * xhat + beta,      eps = 1e-5.
// Backward (exact): with dxhat = dy * gamma,
//     dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
//     dgamma = sum_rows dy * xhat,  dbeta = sum_rows dy.
// Row sums use 16-lane partial sums (`vectorSum`, `vectorDot`) combined in a fixed order.

public let layerNormEpsilon: Float = 1e-5

/// sum_i x[i], accumulated in 16 fixed lanes then reduced: deterministic, vectorised.
@inline(__always)
func vectorSum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(x)
    while i + 16 <= n {
        acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var s = acc.sum()
    while i < n { s += x[i]; i += 1 }
    return s
}

/// sum_i a[i] * b[i], accumulated like `vectorSum`.
@inline(__always)
func vectorDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 16 <= n {
        acc.addProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                       rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
        i += 16
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y = LayerNorm(x) for `rows` rows of width N; keeps each row's mean and rstd for the backward.
/// With N a multiple of 16, 16 rows at a time (`layerNormBlock16`), else row by row
/// (`layerNormRow`, the reference): the same bits either way.
func layerNormForward(_ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                      _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, rows: Int, width N: Int) {
    let inverseN = 1 / Float(N)
    var r = 0
    if N % 16 == 0 && rows >= 16 {
        withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 16) { tile in
            while r + 16 <= rows {
                // The next 16 rows of y (in this call or, at its end, in the caller's next call,
                // which continues the rows): in the training forward they are lines last touched
                // by the previous backward pass, whose read-for-ownership stalled the stores.
                prefetchBytes(y + (r + 16) * N, count: 16 * N * MemoryLayout<Float>.size, forWriting: true)
                if N == 64 {
                    layerNormBlock16(y + r * N, mean: mean + r, rstd: rstd + r, x + r * N, gamma: gamma, beta: beta, width: 64,
                                     inverseN: inverseN, tile: tile.baseAddress!)
                } else {
                    layerNormBlock16(y + r * N, mean: mean + r, rstd: rstd + r, x + r * N, gamma: gamma, beta: beta, width: N,
                                     inverseN: inverseN, tile: tile.baseAddress!)
                }
                r += 16
            }
        }
    }
    while r < rows {
        (mean[r], rstd[r]) = layerNormRow(y + r * N, x + r * N, gamma: gamma, beta: beta, width: N, inverseN: inverseN)
        r += 1
    }
}

/// For each of 16 rows, the sum of its 16-lane partial sums v[r] in `SIMD16.sum()`'s order (from
/// -0, lane 0 first), as lane r of the result: the partials are transposed so that the 16
/// sequential horizontal sums become 16 vector additions. `tile` holds the 16 vectors v.
@inline(__always)
private func laneSums16(_ tile: UnsafeMutablePointer<SIMD16<Float>>) -> SIMD16<Float> {
    transpose16x16(tile)
    var total = SIMD16<Float>(repeating: -0.0)
    for l in 0..<16 { total += tile[l] }
    return total
}

/// Rows 0..<16 of `layerNormForward` for N a multiple of 16: per row the operations of
/// `layerNormRow` (partial sums in 16 lanes over the row's chunks, their sum in lane order, the
/// centred values into y, the FMA partials of their squares, ...), with the two horizontal sums,
/// the square root and the division done for the 16 rows at once (`laneSums16`; IEEE square root
/// and division are correctly rounded in every lane), so the same bits as `layerNormRow`.
@inline(__always)
private func layerNormBlock16(_ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                              rstd: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                              beta: UnsafePointer<Float>, width N: Int, inverseN: Float, tile: UnsafeMutablePointer<SIMD16<Float>>) {
    for r in 0..<16 {
        let xr = x + r * N
        var acc = SIMD16<Float>()
        var i = 0
        while i < N { acc += load16(xr + i); i += 16 }
        tile[r] = acc
    }
    let m = laneSums16(tile) * inverseN
    // The 16 means and rstds go to memory once and are read back as scalars: a lane chosen at run
    // time compiled to a store of the whole vector before every row's read of one lane, which
    // then read it back through store forwarding (the hottest instructions of the block in perf).
    store16(m, mean)
    for r in 0..<16 {
        let xr = x + r * N
        let mr = SIMD16<Float>(repeating: mean[r])
        var acc = SIMD16<Float>()
        var i = 0
        while i < N {
            let c = load16(xr + i) - mr
            acc.addProduct(c, c)
            i += 16
        }
        tile[r] = acc
    }
    let variance = laneSums16(tile) * inverseN
    let s = 1 / squareRoot16(variance + layerNormEpsilon)
    store16(s, rstd)
    // The centred values again from x (x - m is the same Float each time) rather than stored into
    // y by the variance pass and read back: a store and a load fewer per vector. With the vector
    // square root and the constant width of 64, a 64-wide row took 20.8-21.6 ns against the former
    // block's 24.1-25.9 (192 rows; 16 rows: 19.7-22.9 against 22.9-25.7), both timed in turns in one
    // temporary test with the same bits.
    for r in 0..<16 {
        let xr = x + r * N, yr = y + r * N
        let mr = SIMD16<Float>(repeating: mean[r]), sr = SIMD16<Float>(repeating: rstd[r])
        var i = 0
        while i < N {
            store16((load16(xr + i) - mr) * sr * load16(gamma + i) + load16(beta + i), yr + i)
            i += 16
        }
    }
}

/// One row of `layerNormForward`: yr = LayerNorm(xr); returns its (mean, rstd). yr must not alias xr.
/// The reference `layerNormBlock16` is held to (TransformerKernelBitTests).
@inline(__always)
func layerNormRow(_ yr: UnsafeMutablePointer<Float>, _ xr: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                  beta: UnsafePointer<Float>, width N: Int, inverseN: Float) -> (mean: Float, rstd: Float) {
    let m = vectorSum(xr, N) * inverseN
    // centred second pass into y (used as scratch), then the variance
    for i in 0..<N { yr[i] = xr[i] - m }
    let variance = vectorDot(UnsafePointer(yr), UnsafePointer(yr), N) * inverseN
    let s = 1 / (variance + layerNormEpsilon).squareRoot()
    for i in 0..<N { yr[i] = yr[i] * s * gamma[i] + beta[i] }
    return (m, s)
}

/// A residual update and the LayerNorm that reads it, 16 rows at a time while they are in L1:
///     x[r, :] = (x[r, :] + residual[r, :]) + bias,   then   y[r, :] = LayerNorm(x[r, :]).
/// On entry x holds a product (the block's attention or feed-forward output). Per element the same
/// operations as the three passes it replaces (x += residual, `addBias`, `layerNormForward`), so
/// the same bits (tested against them).
func residualLayerNormForward(_ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                              rstd: UnsafeMutablePointer<Float>, stream x: UnsafeMutablePointer<Float>,
                              residual: UnsafePointer<Float>, bias: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                              beta: UnsafePointer<Float>, rows: Int, width N: Int) {
    var r0 = 0
    while r0 < rows {  // 16 rows at a time (`layerNormForward`'s block), still in L1
        let count = min(16, rows - r0)
        for r in r0..<(r0 + count) { addRows(x + r * N, x + r * N, residual + r * N, then: bias, count: N) }
        layerNormForward(y + r0 * N, mean: mean + r0, rstd: rstd + r0, x + r0 * N, gamma: gamma, beta: beta, rows: count,
                         width: N)
        r0 += count
    }
}

/// Backward of `layerNormForward`. `dx` is overwritten, or added to when `accumulate` (for a
/// residual stream); `dgamma` and `dbeta` are overwritten with the sums over rows (in row order),
/// or, when `continuing`, the rows' terms are added to them in row order (a batch's rows in
/// consecutive calls give the whole batch's sums, bit for bit). `scratch` holds N floats.
func layerNormBackward(dx: UnsafeMutablePointer<Float>, accumulate: Bool, dgamma: UnsafeMutablePointer<Float>,
                       dbeta: UnsafeMutablePointer<Float>, continuing: Bool = false, dy: UnsafePointer<Float>,
                       x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                       gamma: UnsafePointer<Float>, rows: Int, width N: Int, scratch: UnsafeMutablePointer<Float>) {
    if !continuing {
        dgamma.update(repeating: 0, count: N)
        dbeta.update(repeating: 0, count: N)
    }
    if N % 16 == 0 {
        layerNormBackwardRows16(dx: dx, accumulate: accumulate, dgamma: dgamma, dbeta: dbeta, dy: dy, x: x, mean: mean,
                                rstd: rstd, gamma: gamma, rows: rows, width: N, scratch: scratch)
        return
    }
    layerNormBackwardRows(dx: dx, accumulate: accumulate, dgamma: dgamma, dbeta: dbeta, dy: dy, x: x, mean: mean, rstd: rstd,
                          gamma: gamma, rows: rows, width: N, scratch: scratch)
}

/// `layerNormBackward` for N a multiple of 16, in explicit 16-lane vectors (LLVM vectorised the
/// row-wise loops of `layerNormBackwardRows` 8 lanes wide on this target, in three passes): per
/// element the operations of `layerNormBackwardRows` in the same order (xhat = (x - mean) * rstd;
/// dgamma += dy * xhat and dbeta += dy, row after row; the partials of a and c over the row's
/// chunks, lane by lane, a = dy * gamma added, c by one FMA with xhat, each reduced by
/// `SIMD16.sum()` and scaled by 1/N; dx (+)= rstd * ((dy * gamma - a) - xhat * c)), so the same
/// bits (`LayerNormBackwardBitTests`).
private func layerNormBackwardRows16(dx: UnsafeMutablePointer<Float>, accumulate: Bool, dgamma: UnsafeMutablePointer<Float>,
                                     dbeta: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                     mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                                     rows: Int, width N: Int, scratch xhat: UnsafeMutablePointer<Float>) {
    let inverseN = 1 / Float(N)
    for r in 0..<rows {
        let xr = x + r * N, dyr = dy + r * N, dxr = dx + r * N
        // x (the forward pass's input, kept since then) comes from beyond L2 in the training
        // step: its row four rows ahead is prefetched (past the last row: a hint never faults).
        prefetchBytes(xr + 4 * N, count: N * MemoryLayout<Float>.stride)
        let m = SIMD16<Float>(repeating: mean[r]), s = SIMD16<Float>(repeating: rstd[r])
        var accA = SIMD16<Float>(), accC = SIMD16<Float>()
        var i = 0
        while i < N {
            let h = (load16(xr + i) - m) * s
            store16(h, xhat + i)
            let d = load16(dyr + i)
            store16(load16(dgamma + i) + d * h, dgamma + i)
            store16(load16(dbeta + i) + d, dbeta + i)
            let g = d * load16(gamma + i)
            accA += g
            accC.addProduct(g, h)
            i += 16
        }
        let a = SIMD16<Float>(repeating: accA.sum() * inverseN), c = SIMD16<Float>(repeating: accC.sum() * inverseN)
        i = 0
        while i < N {
            let v = s * (load16(dyr + i) * load16(gamma + i) - a - load16(xhat + i) * c)
            store16(accumulate ? load16(dxr + i) + v : v, dxr + i)
            i += 16
        }
    }
}

/// The row-wise reference of `layerNormBackward` (dgamma and dbeta already zeroed or continuing),
/// for any N; `layerNormBackwardRows16` is held to it.
func layerNormBackwardRows(dx: UnsafeMutablePointer<Float>, accumulate: Bool, dgamma: UnsafeMutablePointer<Float>,
                           dbeta: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                           mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                           rows: Int, width N: Int, scratch: UnsafeMutablePointer<Float>) {
    let inverseN = 1 / Float(N)
    let xhat = scratch
    for r in 0..<rows {
        let xr = x + r * N, dyr = dy + r * N, dxr = dx + r * N
        let (m, s) = (mean[r], rstd[r])
        for i in 0..<N { xhat[i] = (xr[i] - m) * s }
        for i in 0..<N {
            dgamma[i] += dyr[i] * xhat[i]
            dbeta[i] += dyr[i]
        }
        // a = mean(dy*gamma), c = mean(dy*gamma*xhat)
        var a: Float = 0, c: Float = 0
        var i = 0
        var accA = SIMD16<Float>(), accC = SIMD16<Float>()
        let rdy = UnsafeRawPointer(dyr), rg = UnsafeRawPointer(gamma), rx = UnsafeRawPointer(xhat)
        while i + 16 <= N {
            let g = rdy.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                * rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            accA += g
            accC.addProduct(g, rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
            i += 16
        }
        a = accA.sum(); c = accC.sum()
        while i < N {
            let g = dyr[i] * gamma[i]
            a += g; c += g * xhat[i]
            i += 1
        }
        a *= inverseN; c *= inverseN
        if accumulate {
            for i in 0..<N { dxr[i] += s * (dyr[i] * gamma[i] - a - xhat[i] * c) }
        } else {
            for i in 0..<N { dxr[i] = s * (dyr[i] * gamma[i] - a - xhat[i] * c) }
        }
    }
}

/// Naive reference in Double: LayerNorm of each row of width N.
public func layerNormNaive(_ x: [Double], gamma: [Double], beta: [Double], rows: Int, width N: Int,
                           epsilon: Double = Double(layerNormEpsilon)) -> [Double] {
    var y = [Double](repeating: 0, count: rows * N)
    for r in 0..<rows {
        let row = x[(r * N)..<((r + 1) * N)]
        let m = row.reduce(0, +) / Double(N)
        let v = row.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(N)
        let s = 1 / (v + epsilon).squareRoot()
        for i in 0..<N { y[r * N + i] = (x[r * N + i] - m) * s * gamma[i] + beta[i] }
    }
    return y
}
