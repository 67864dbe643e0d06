import Foundation

// Row-wise and element-wise layer kernels over flat row-major buffers (shape names: B rows of
// width N). Each is written as a plain loop over unsafe pointers, which LLVM vectorises with the
// CPU target; the tests compare them against the NumPy reference and finite differences.

/// out[b, n] += bias[n] for every row b.
@inline(__always)
func addBias(_ out: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows B: Int, columns N: Int) {
    addBias(out, ld: N, bias, rows: 0..<B, columns: 0..<N)
}

/// `addBias` on a block of rows and columns of a matrix with row stride `ld` (a tile of a GEMM's
/// output as the GEMM finishes it: `GEMMTileHook`), followed by the ReLU when `relu`
/// (`addBiasRelu`), 16 columns at a time (explicit 512-bit vectors: LLVM vectorises the plain loop
/// 256 bits wide on this target).
@inline(__always)
func addBias(_ out: UnsafeMutablePointer<Float>, ld: Int, _ bias: UnsafePointer<Float>, rows: Range<Int>, columns: Range<Int>,
             relu: Bool = false) {
    for r in rows {
        let row = out + r * ld
        var n = columns.lowerBound
        while n + 16 <= columns.upperBound {
            store16(addingBias16(load16(row + n), load16(bias + n), relu: relu), row + n)
            n += 16
        }
        while n < columns.upperBound {
            let z = row[n] + bias[n]
            row[n] = relu ? (z > 0 ? z : 0) : z
            n += 1
        }
    }
}

/// z = v + bias, then with `relu` z > 0 ? z : 0 (NaN to 0 as well), 16 lanes: `addBias`'s step,
/// also taken by the GEMM kernel that adds the bias to a tile still in registers
/// (`gemmKernel12x32RowsBias`), so that both give the same bits by construction.
@inline(__always)
func addingBias16(_ v: SIMD16<Float>, _ bias: SIMD16<Float>, relu: Bool) -> SIMD16<Float> {
    let z = v + bias
    return relu ? z.replacing(with: 0, where: .!(z .> 0)) : z
}

/// out[r, n] = max(out[r, n] + bias[n], 0): bias and ReLU in one pass. Since relu(z) > 0 exactly
/// when z > 0, the result still carries the activation pattern and the ReLU backward mask.
@inline(__always)
func addBiasRelu(_ out: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, columns N: Int) {
    addBias(out, ld: N, bias, rows: 0..<rows, columns: 0..<N, relu: true)
}

/// out[i] = a[i] + b[i], or (a[i] + b[i]) + c[i] given `then` c, for i < count, 16 lanes at a time
/// (out may alias a; the same two roundings per element as the scalar loop).
@inline(__always)
func addRows(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
             then c: UnsafePointer<Float>? = nil, count: Int) {
    var i = 0
    if let c {
        while i + 16 <= count { store16((load16(a + i) + load16(b + i)) + load16(c + i), out + i); i += 16 }
        while i < count { out[i] = (a[i] + b[i]) + c[i]; i += 1 }
    } else {
        while i + 16 <= count { store16(load16(a + i) + load16(b + i), out + i); i += 16 }
        while i < count { out[i] = a[i] + b[i]; i += 1 }
    }
}

/// z[b, n] += bias[n], then h[b, n] = max(z[b, n], 0): `addBias` and `reluForward` in one pass over
/// the rows (the same two operations per element, so the same bits), keeping both Z (the pattern
/// and the ReLU backward mask) and H (the next layer's input).
@inline(__always)
func addBiasReluKeepingZ(_ z: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>,
                 rows B: Int, columns N: Int) {
    addBiasReluKeepingZ(z, h, ld: N, bias, rows: 0..<B, columns: 0..<N)
}

/// `addBiasReluKeepingZ` on a block of rows and columns of Z and H (both with row stride `ld`): a
/// tile of Z as the GEMM finishes it (`GEMMTileHook`), 16 columns at a time as `addBias(_:ld:...)`.
@inline(__always)
func addBiasReluKeepingZ(_ z: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>, ld: Int, _ bias: UnsafePointer<Float>,
                         rows: Range<Int>, columns: Range<Int>) {
    for b in rows {
        let zRow = z + b * ld, hRow = h + b * ld
        var n = columns.lowerBound
        while n + 16 <= columns.upperBound {
            let v = load16(zRow + n) + load16(bias + n)
            store16(v, zRow + n)
            store16(v.replacing(with: 0, where: .!(v .> 0)), hRow + n)  // v > 0 ? v : 0, NaN to 0 as well
            n += 16
        }
        while n < columns.upperBound {
            let v = zRow[n] + bias[n]
            zRow[n] = v
            hRow[n] = v > 0 ? v : 0
            n += 1
        }
    }
}

/// dbias[n] = sum_b dout[b, n] (overwrites). Summed in row order for determinism. With
/// `continuing`, the rows are added to dbias as it is (rows of a batch in consecutive calls).
@inline(__always)
func biasGradient(_ dbias: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, rows B: Int, columns N: Int,
                  continuing: Bool = false) {
    if !continuing { dbias.update(repeating: 0, count: N) }
    for b in 0..<B {
        let row = dout + b * N
        for n in 0..<N { dbias[n] += row[n] }
    }
}

/// out = max(x, 0), element-wise over `count` values (out may alias x).
@inline(__always)
func reluForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { out[i] = x[i] > 0 ? x[i] : 0 }
}

/// dx = dout where the pre-activation was > 0, else 0 (the subgradient 0 at exactly 0, matching the
/// strict `z > 0` that defines the activation pattern). dx may alias dout.
@inline(__always)
func reluBackward(_ dx: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, preActivation z: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { dx[i] = z[i] > 0 ? dout[i] : 0 }
}

/// Mean softmax cross-entropy over B rows of K logits, and its gradient with respect to the logits.
///
/// loss = mean_b(logsumexp(z_b) - z_b[y_b]); dlogits[b, k] = (softmax(z_b)[k] - [k == y_b]) / B.
/// Max-shifted and accumulated in Double so that the loss of a well-trained network (tiny
/// per-example losses) keeps its digits. Returns the loss; a non-finite logit gives a non-finite
/// loss, which the trainer reports as divergence.
func softmaxCrossEntropy(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows B: Int, classes K: Int,
                         dlogits: UnsafeMutablePointer<Float>?) -> Double {
    var total = 0.0
    let scale = 1.0 / Double(B)
    for b in 0..<B {
        let z = logits + b * K
        var maximum = -Float.infinity
        for k in 0..<K { maximum = max(maximum, z[k]) }
        var sum = 0.0
        for k in 0..<K { sum += exp(Double(z[k] - maximum)) }
        let label = Int(labels[b])
        let logSum = Double(maximum) + log(sum)
        total += logSum - Double(z[label])
        if let dlogits {
            let dz = dlogits + b * K
            for k in 0..<K {
                let p = exp(Double(z[k]) - logSum)
                dz[k] = Float((p - (k == label ? 1 : 0)) * scale)
            }
        }
    }
    return total * scale
}

/// Index of the largest of K logits per row (first on ties), for accuracy.
func argmaxRows(_ logits: UnsafePointer<Float>, rows B: Int, classes K: Int, into out: UnsafeMutablePointer<Int32>) {
    for b in 0..<B {
        let z = logits + b * K
        var best = 0
        for k in 1..<K where z[k] > z[best] { best = k }
        out[b] = Int32(best)
    }
}
