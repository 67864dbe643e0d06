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
func layerNormForward(_ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                      _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, rows: Int, width N: Int) {
    let inverseN = 1 / Float(N)
    for r in 0..<rows {
        (mean[r], rstd[r]) = layerNormRow(y + r * N, x + r * N, gamma: gamma, beta: beta, width: N, inverseN: inverseN)
    }
}

/// One row of `layerNormForward`: yr = LayerNorm(xr); returns its (mean, rstd). yr must not alias xr.
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

/// A residual update and the LayerNorm that reads it, row by row while the row is in L1:
///     x[r, :] = (x[r, :] + residual[r, :]) + bias,   then   y[r, :] = LayerNorm(x[r, :]).
/// On entry x holds a product (the block's attention or feed-forward output). Per element the same
/// operations as the three passes it replaces (x += residual, `addBias`, `layerNormForward`), so
/// the same bits (tested against them).
func residualLayerNormForward(_ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                              rstd: UnsafeMutablePointer<Float>, stream x: UnsafeMutablePointer<Float>,
                              residual: UnsafePointer<Float>, bias: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                              beta: UnsafePointer<Float>, rows: Int, width N: Int) {
    let inverseN = 1 / Float(N)
    for r in 0..<rows {
        let xr = x + r * N
        addRows(xr, xr, residual + r * N, then: bias, count: N)
        (mean[r], rstd[r]) = layerNormRow(y + r * N, xr, gamma: gamma, beta: beta, width: N, inverseN: inverseN)
    }
}

/// Backward of `layerNormForward`. `dx` is overwritten, or added to when `accumulate` (for a
/// residual stream); `dgamma` and `dbeta` are overwritten with the sums over rows (in row order).
/// `scratch` holds N floats.
func layerNormBackward(dx: UnsafeMutablePointer<Float>, accumulate: Bool, dgamma: UnsafeMutablePointer<Float>,
                       dbeta: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                       mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                       rows: Int, width N: Int, scratch: UnsafeMutablePointer<Float>) {
    dgamma.update(repeating: 0, count: N)
    dbeta.update(repeating: 0, count: N)
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
