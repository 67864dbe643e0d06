// A GEMM whose element-wise follow-up runs on each 12 x 32 tile of C right after the kernel has
// stored it, while the tile is in L1, instead of in a separate pass over the whole of C.
//
// Why: the ViT's feed-forward products are wide (n = 4D) and tall (m = the rows of a group or of
// the batch), and what follows them is element-wise: the forward pass adds the bias (and applies
// the ReLU), the backward pass masks dH by the pattern and sums its rows into the bias gradient.
// As separate passes these read C back from L2 or memory (C of the backward's dH is 2 MiB), which
// the perf profile of the tracked ViT loop showed as ~5% of an iteration (`feedForwardHidden`'s
// bias and ReLU, the ReLU backward and `biasGradient` inlined in `VisionTransformer.backward`).
//
// Same bits: the tile is the kernel's output (`gemmKernel12x32Rows`, alpha = 1 so C = acc exactly,
// beta = 0, one depth block since k <= KC), and every epilogue does per element what the separate
// pass does (the same operations in the same order; the bias gradient adds the rows of each
// column in increasing row order, as `biasGradient` does, because the row slivers are visited in
// increasing order and each column block within a sliver once). Products that do not fit the
// fused path (k > KC, n not a multiple of 32 or wider than one panel, transposed operands) run
// `sgemm` and then the epilogue over the whole of C: the reference the tests hold the fused path to.
// The existing kernels (GEMM.swift) are reused as they are; nothing of them is copied.

/// What happens to C = A op(B) element-wise after the product.
enum GEMMEpilogue {
    /// C[i, j] += bias[j], then, when `relu`, C[i, j] = C[i, j] > 0 ? C[i, j] : 0: `addBias`
    /// followed by `reluForward` (or `addBiasRelu`).
    case bias(UnsafePointer<Float>, relu: Bool)
    /// C[i, j] = mask[i * ldm + j] > 0 ? C[i, j] : 0, then dbias[j] = sum over i (in increasing
    /// order, from +0) of C[i, j]: `reluBackward` with the pre-activation (or gate) `mask`, followed
    /// by `biasGradient`. dbias (n floats) is overwritten.
    case reluMaskBiasGradient(mask: UnsafePointer<Float>, ldm: Int, dbias: UnsafeMutablePointer<Float>)
}

/// Applies `epilogue` to rows `rows` and columns `columns` of C (row stride ldc; the columns a
/// multiple of 16 wide or running to n, handled 16 at a time and then one by one). Called on each
/// tile of the fused path and on the rows the fused path leaves to `sgemm`.
@inline(__always)
private func gemmApplyEpilogue(_ epilogue: GEMMEpilogue, c: UnsafeMutablePointer<Float>, ldc: Int, rows: Range<Int>,
                               columns: Range<Int>) {
    switch epilogue {
    case let .bias(bias, relu):
        var j = columns.lowerBound
        while j + 16 <= columns.upperBound {
            let vb = load16(bias + j)
            for i in rows {
                let p = c + (i &* ldc &+ j)
                var v = load16(p) + vb
                if relu { v.replace(with: 0, where: .!(v .> 0)) }
                store16(v, p)
            }
            j += 16
        }
        while j < columns.upperBound {
            for i in rows {
                let z = c[i * ldc + j] + bias[j]
                c[i * ldc + j] = relu ? (z > 0 ? z : 0) : z
            }
            j += 1
        }
    case let .reluMaskBiasGradient(mask, ldm, dbias):
        var j = columns.lowerBound
        while j + 16 <= columns.upperBound {
            var sum = load16(dbias + j)
            for i in rows {
                let p = c + (i &* ldc &+ j)
                var v = load16(p)
                v.replace(with: 0, where: .!(load16(mask + (i &* ldm &+ j)) .> 0))
                store16(v, p)
                sum += v
            }
            store16(sum, dbias + j)
            j += 16
        }
        while j < columns.upperBound {
            for i in rows {
                let v = mask[i * ldm + j] > 0 ? c[i * ldc + j] : 0
                c[i * ldc + j] = v
                dbias[j] += v
            }
            j += 1
        }
    }
}

/// Whether `sgemmWithEpilogue` can run the product (k deep, n wide) tile by tile: one depth block
/// (k <= KC), one column panel, whole 32-column slivers.
private func gemmEpilogueFuses(n: Int, k: Int) -> Bool {
    k <= gemmKC && n % gemmNR == 0 && gemmPanelWidth(n: n, ncBlock: gemmNC) == n
}

/// C = A op(B), then `epilogue` (alpha 1, beta 0): A is m x k row-major (lda >= k), op(B) is
/// either B, k x n row-major (`b`, ldb >= n), or `packedB` (k x n). The same bits as `sgemm` (or
/// `sgemm(packedB:)`) followed by the epilogue's separate passes (tested); see the file comment.
///
/// Fused path: each full 12-row sliver of A against each 32-column sliver of op(B), by
/// `gemmKernel12x32Rows` reading A in place (as `gemmBlocked` does for a row-major A) and B in
/// place or from its packed panel, then the epilogue on that 12 x 32 tile. The last m % 12 rows go
/// through `sgemm` and then the epilogue, after all the others (the bias gradient's row order).
func sgemmWithEpilogue(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>? = nil,
                       ldb: Int = 0, packedB: GEMMPackedB? = nil, c: UnsafeMutablePointer<Float>, ldc: Int,
                       epilogue: GEMMEpilogue) {
    precondition((b == nil) != (packedB == nil), "sgemmWithEpilogue: give B either packed or as a matrix")
    precondition(packedB == nil || (packedB!.k == k && packedB!.n == n), "sgemmWithEpilogue: packed B is not k x n")
    precondition(m >= 0 && n > 0 && k > 0 && lda >= k && ldc >= n && (b == nil || ldb >= n),
                 "sgemmWithEpilogue: bad dimensions")
    if case let .reluMaskBiasGradient(_, _, dbias) = epilogue { dbias.update(repeating: 0, count: n) }
    /// The reference order: `sgemm` on rows `rows`, then the epilogue on them.
    func product(rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        let (a0, c0) = (a + rows.lowerBound * lda, c + rows.lowerBound * ldc)
        if let packedB {
            sgemm(m: rows.count, a: a0, lda: lda, packedB: packedB, alpha: 1, beta: 0, c: c0, ldc: ldc)
        } else {
            sgemm(transA: false, transB: false, m: rows.count, n: n, k: k, alpha: 1, a: a0, lda: lda, b: b!, ldb: ldb,
                  beta: 0, c: c0, ldc: ldc)
        }
        gemmApplyEpilogue(epilogue, c: c, ldc: ldc, rows: rows, columns: 0..<n)
    }
    guard gemmEpilogueFuses(n: n, k: k) else {
        product(rows: 0..<m)
        return
    }
    // The B sliver at column jr: in place (row p at b + p * ldb), or in the packed panel
    // (`gemmPackedBOffset(jc: 0, pc: 0, ...)` = 0, slivers kc = k apart, rows 32 floats apart).
    let (bBase, bStride, sliverStep) = packedB.map { (UnsafePointer($0.pointer), gemmNR, k) } ?? (b!, ldb, 1)
    let fullRows = m / gemmMR * gemmMR
    var ir = 0
    while ir < fullRows {
        var jr = 0
        while jr < n {
            gemmKernel12x32Rows(kc: k, a: a + ir * lda, lda: lda, b: bBase + jr * sliverStep, ldb: bStride,
                                c: c + ir * ldc + jr, ldc: ldc, alpha: 1, beta: 0, betaIsZero: true)
            gemmApplyEpilogue(epilogue, c: c, ldc: ldc, rows: ir..<(ir + gemmMR), columns: jr..<(jr + gemmNR))
            jr += gemmNR
        }
        ir += gemmMR
    }
    product(rows: fullRows..<m)
}
