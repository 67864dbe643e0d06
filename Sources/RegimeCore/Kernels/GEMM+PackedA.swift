/// op(A) packed once, in the layout `gemmBlocked` packs it in, for products of one A with many B.
///
/// Why: the probe set is fixed for a trial, and the MLP's first layer multiplies it by new weights
/// at every recorded iteration (Z_1 = X W_1^T, X the p x D0 probe input), and again for each of
/// the null model's draws and in the settling replay. Packing X is a transposing copy of p x D0
/// floats per pass (`gemmPackTransposed`, 38% of a probe pass's packing for `mlp:784-256-256-10`);
/// done once, the pass reads the packed blocks directly.
///
/// Layout: op(A) (m x k) in the depth blocks of `gemmBlocked` (k in ceil(k / KC) parts of
/// `gemmDepthBlock` columns), each depth block as ceil(m / 12) slivers of 12 rows in `gemmPackA`'s
/// layout (rows past m zero). The depth block starting at column pc is at pc * roundUp(m, 12), and
/// within it the row block starting at row ic (a multiple of 12, as every row block of
/// `gemmBlocked` starts) at ic * kc. These are the floats `gemmBlocked` would pack for each block,
/// so `sgemm(packedA:...)` gives the same bits as `sgemm` on the unpacked A (tested).
///
/// Memory: roundUp(m, 12) x k floats (the probe's 512 x 784 in two chunks of 256 rows: 1.6 MiB).
public final class GEMMPackedA: @unchecked Sendable {
    public let m: Int
    public let k: Int
    let pointer: UnsafeMutablePointer<Float>

    /// Floats of a packed m x k operand.
    public static func floats(m: Int, k: Int) -> Int { gemmRoundUp(m, gemmMR) * k }

    /// Packs op(A), m x k: A is m x k (lda >= k) when !transA, else k x m (lda >= m); A is read
    /// only here.
    public init(transA: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int) {
        precondition(m > 0 && k > 0, "GEMMPackedA: empty operand")
        precondition(lda >= (transA ? m : k), "GEMMPackedA: lda too small")
        self.m = m
        self.k = k
        let count = Self.floats(m: m, k: k)
        pointer = gemmAllocate(count)
        let kcMax = gemmDepthBlock(k: k, kcBlock: gemmKC)
        let mcMax = gemmRoundUp(min(m, gemmMC), gemmMR)
        let mPadded = gemmRoundUp(m, gemmMR)
        var pc = 0
        while pc < k {
            let kc = min(kcMax, k - pc)
            var ic = 0
            while ic < m {
                let mc = min(mcMax, m - ic)
                gemmPackA(transA: transA, a: a, lda: lda, row0: ic, col0: pc, mc: mc, kc: kc,
                          dst: pointer + pc * mPadded + ic * kc)
                ic += mc
            }
            pc += kc
        }
    }

    deinit { pointer.deallocate() }
}

/// C = alpha * op(A) * op(B) + beta * C with op(A) already packed (m x k from `packedA`): `sgemm`'s
/// contract and bits otherwise.
public func sgemm(packedA: GEMMPackedA, transB: Bool, n: Int, alpha: Float, b: UnsafePointer<Float>, ldb: Int,
                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let (m, k) = (packedA.m, packedA.k)
    precondition(n >= 0, "sgemm: negative dimension")
    precondition(ldb >= max(1, transB ? k : n), "sgemm: ldb too small")
    precondition(ldc >= max(1, n), "sgemm: ldc too small")
    if n == 0 { return }
    if alpha == 0 {
        gemmScaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
        return
    }
    gemmBlocked(transA: false, transB: transB, m: m, n: n, k: k, alpha: alpha, a: packedA.pointer, lda: k,
                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, kcBlock: gemmKC, ncBlock: gemmNC,
                packedA: packedA.pointer)
}
