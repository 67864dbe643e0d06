// A GEMM whose element-wise follow-up runs on each tile of C as soon as the tile is final, while
// it is in L1, instead of in a separate pass over the whole of C.
//
// Why: the ViT's feed-forward products are wide (n = 4D) and tall (m = the rows of a group or of
// the batch), and what follows them is element-wise: the forward pass adds the bias (and applies
// the ReLU), the backward pass masks dH by the pattern and sums its rows into the bias gradient.
// As separate passes these read C back from L2 or memory (C of the backward's dH is 2 MiB), which
// the perf profile of the tracked ViT loop showed as ~5% of an iteration (`feedForwardHidden`'s
// bias and ReLU, the ReLU backward and `biasGradient` inlined in `VisionTransformer.backward`).
//
// How: `sgemm`'s tile hook (`GEMMTileHook`) calls the epilogue on each tile of C once the tile is
// final, whatever the shape (row and column edges, several depth blocks, several panels).
//
// Same bits: every epilogue does per element what the separate pass does (the same operations in
// the same order on the final C); the bias gradient adds the rows of each column in increasing
// row order, as `biasGradient` does, because the hook visits the tiles of a column panel in
// increasing row order and each column lies in one panel.

/// What happens to C = A op(B) element-wise after the product.
enum GEMMEpilogue {
    /// C[i, j] += bias[j], then, when `relu`, C[i, j] = C[i, j] > 0 ? C[i, j] : 0: `addBias`
    /// followed by `reluForward` (or `addBiasRelu`).
    case bias(UnsafePointer<Float>, relu: Bool)
    /// C[i, j] = mask[i * ldm + j] > 0 ? C[i, j] : 0, then dbias[j] = sum over i (in increasing
    /// order, from +0) of C[i, j]: `reluBackward` with the pre-activation (or gate) `mask`, followed
    /// by `biasGradient`. dbias (n floats) is overwritten, or with `continuing` added to (the
    /// rows of a batch in consecutive products: `biasGradient(continuing:)`).
    case reluMaskBiasGradient(mask: UnsafePointer<Float>, ldm: Int, dbias: UnsafeMutablePointer<Float>, continuing: Bool = false)
}

/// Applies `epilogue` to rows `rows` and columns `columns` of C (row stride ldc; the columns
/// handled 16 at a time and then one by one): the tile hook of `sgemmWithEpilogue`.
@inline(__always)
private func gemmApplyEpilogue(_ epilogue: GEMMEpilogue, c: UnsafeMutablePointer<Float>, ldc: Int, rows: Range<Int>,
                               columns: Range<Int>) {
    switch epilogue {
    case let .bias(bias, relu):
        addBias(c, ld: ldc, bias, rows: rows, columns: columns, relu: relu)
    case let .reluMaskBiasGradient(mask, ldm, dbias, _):
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

/// C = A op(B), then `epilogue` (alpha 1, beta 0): A is m x k row-major (lda >= k), op(B) is
/// either B, k x n row-major (`b`, ldb >= n), or `packedB` (k x n). The same bits as `sgemm` (or
/// `sgemm(packedB:)`) followed by the epilogue's separate passes (tested); see the file comment.
func sgemmWithEpilogue(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>? = nil,
                       ldb: Int = 0, packedB: GEMMPackedB? = nil, c: UnsafeMutablePointer<Float>, ldc: Int,
                       epilogue: GEMMEpilogue) {
    precondition((b == nil) != (packedB == nil), "sgemmWithEpilogue: give B either packed or as a matrix")
    precondition(packedB == nil || (packedB!.k == k && packedB!.n == n), "sgemmWithEpilogue: packed B is not k x n")
    precondition(m >= 0 && n > 0 && k > 0 && lda >= k && ldc >= n && (b == nil || ldb >= n),
                 "sgemmWithEpilogue: bad dimensions")
    let clock = KernelClock.start()
    defer { KernelClock.stop(clock, .init(kind: .gemmEpilogue, m: m, n: n, k: k), flops: gemmFlops(m: m, n: n, k: k)) }
    if case let .reluMaskBiasGradient(_, _, dbias, continuing) = epilogue, !continuing { dbias.update(repeating: 0, count: n) }
    func tile(_ rows: Range<Int>, _ columns: Range<Int>) {
        gemmApplyEpilogue(epilogue, c: c, ldc: ldc, rows: rows, columns: columns)
    }
    if m == 0 { return }
    // The bias epilogue goes into the kernel where it can (`gemmBlocked`'s bias: the full tiles of
    // a one-depth-block product add the bias and ReLU in registers; the hook gets the others).
    var bias: UnsafePointer<Float>?, relu = false
    if case let .bias(b, r) = epilogue { (bias, relu) = (b, r) }
    let packed = packedB.map { UnsafePointer($0.pointer) }
    gemmBlocked(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: packed ?? b!, ldb: packed == nil ? ldb : 1,
                beta: 0, c: c, ldc: ldc, kcBlock: gemmKC, ncBlock: gemmNC, packedB: packed, bias: bias, relu: relu, finished: tile)
}
