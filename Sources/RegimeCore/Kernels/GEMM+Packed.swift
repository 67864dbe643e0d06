// GEMM operands packed once, in the layouts `gemmBlocked` packs them in, for several products
// that share one operand: the probe input (A of the MLP's first layer) and the MLP's weights (B of
// every forward layer). The products read the packed blocks instead of packing them again, the same
// blocks in the same order, so they are the same bits as `sgemm` (tested).

/// Where the block of op(A) at depth pc and row ic (kc deep) starts in a `GEMMPackedA` of m rows.
@inline(__always)
internal func gemmPackedAOffset(pc: Int, ic: Int, kc: Int, m: Int) -> Int { pc * gemmRoundUp(m, gemmMR) + ic * kc }

/// Where the block of op(B) at column jc (nc wide) and depth pc starts in a `GEMMPackedB` of depth k.
@inline(__always)
internal func gemmPackedBOffset(jc: Int, pc: Int, nc: Int, k: Int) -> Int { jc * k + gemmRoundUp(nc, gemmNR) * pc }

/// op(A) packed once, for products of one A with many B.
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
        var pc = 0
        while pc < k {
            let kc = min(kcMax, k - pc)
            var ic = 0
            while ic < m {
                let mc = min(mcMax, m - ic)
                gemmPackA(transA: transA, a: a, lda: lda, row0: ic, col0: pc, mc: mc, kc: kc,
                          dst: pointer + gemmPackedAOffset(pc: pc, ic: ic, kc: kc, m: m))
                ic += mc
            }
            pc += kc
        }
    }

    deinit { pointer.deallocate() }
}

/// op(B) packed, for products of many A with one B, re-packed in place when B changes.
///
/// Why: the MLP's forward layers multiply by W_l^T (op(B), k = D_{l-1}, n = D_l), a transposing
/// copy per call. A probe pass calls each layer once per chunk of the probe, and the training
/// forward of iteration t + 1 reads the same θ_t the probe pass of iteration t read: packed once,
/// W_l serves all of them (`MLP.reusePackedWeights`).
///
/// Layout: op(B) (k x n) in the column panels of `gemmBlocked` (n in ceil(n / NC) parts of
/// `gemmPanelWidth` columns, a multiple of 32), each panel as its depth blocks (k split by
/// `gemmDepthBlock`), each depth block in `gemmPackB`'s layout (ceil(nc / 32) slivers, columns past
/// nc zero). The panel starting at column jc is at jc * k, and its depth block starting at row pc
/// at roundUp(nc, 32) * pc.
///
/// Memory: k x (n rounded up to 32) floats (the paper MLP's three layers: 1.1 MB).
public final class GEMMPackedB: @unchecked Sendable {
    public let k: Int
    public let n: Int
    let pointer: UnsafeMutablePointer<Float>

    /// Floats of a packed k x n operand: k x `paddedColumns(n:)`.
    public static func floats(k: Int, n: Int) -> Int { k * paddedColumns(n: n) }

    /// The columns of the packed operand: every panel's width rounded up to 32.
    public static func paddedColumns(n: Int) -> Int {
        let ncMax = gemmPanelWidth(n: n, ncBlock: gemmNC)
        return n / ncMax * ncMax + gemmRoundUp(n % ncMax, gemmNR)
    }

    /// Storage for a k x n operand (uninitialised until `pack`).
    public init(k: Int, n: Int) {
        precondition(k > 0 && n > 0, "GEMMPackedB: empty operand")
        self.k = k
        self.n = n
        pointer = gemmAllocate(Self.floats(k: k, n: n))
    }

    /// Packs op(B), k x n: B is k x n (ldb >= n) when !transB, else n x k (ldb >= k).
    public func pack(transB: Bool, b: UnsafePointer<Float>, ldb: Int) {
        pack(transB: transB, b: b, ldb: ldb, columns: 0..<n)
    }

    /// Packs the columns `columns` of op(B) (B as in `pack(transB:b:ldb:)`), whole 32-column
    /// slivers: the bounds are multiples of 32 or n. The other slivers keep what they hold; packing
    /// every sliver this way, in any order, writes the floats the whole `pack` writes. The MLP packs
    /// W_l^T sliver by sliver while the optimizer updates the rows of W_l (`MLP.parametersUpdated`).
    public func pack(transB: Bool, b: UnsafePointer<Float>, ldb: Int, columns: Range<Int>) {
        precondition(ldb >= (transB ? k : n), "GEMMPackedB: ldb too small")
        precondition(columns.lowerBound >= 0 && columns.lowerBound % gemmNR == 0 && columns.upperBound <= n
                     && (columns.upperBound % gemmNR == 0 || columns.upperBound == n), "GEMMPackedB: columns not whole slivers")
        let kcMax = gemmDepthBlock(k: k, kcBlock: gemmKC)
        let ncMax = gemmPanelWidth(n: n, ncBlock: gemmNC)
        var jc = columns.lowerBound / ncMax * ncMax
        while jc < columns.upperBound {
            let nc = min(ncMax, n - jc)
            // The panel's slivers within `columns`: panels start at multiples of 32, so a sliver
            // never straddles two.
            let first = max(jc, columns.lowerBound), last = min(jc + nc, columns.upperBound)
            var pc = 0
            while pc < k {
                let kc = min(kcMax, k - pc)
                gemmPackB(transB: transB, b: b, ldb: ldb, row0: pc, col0: first, kc: kc, nc: last - first,
                          dst: pointer + gemmPackedBOffset(jc: jc, pc: pc, nc: nc, k: k) + (first - jc) * kc)
                pc += kc
            }
            jc += nc
        }
    }

    deinit { pointer.deallocate() }
}

/// C = alpha * op(A) * op(B) + beta * C with op(A) given packed (`packedA`, m x k) or as A
/// (`a`, m rows), and op(B) given packed (`packedB`, k x n) or as B (`b`): `sgemm`'s contract
/// and bits otherwise. At least one operand is packed. `finished` is called on each tile of C
/// once it is final (`GEMMTileHook`; with alpha = 0, once on the whole of C).
public func sgemm(transA: Bool = false, m: Int? = nil, a: UnsafePointer<Float>? = nil, lda: Int = 0,
                  packedA: GEMMPackedA? = nil, transB: Bool = false, n: Int? = nil, b: UnsafePointer<Float>? = nil,
                  ldb: Int = 0, packedB: GEMMPackedB? = nil, alpha: Float, beta: Float,
                  c: UnsafeMutablePointer<Float>, ldc: Int, finished: GEMMTileHook = { _, _ in }) {
    precondition(packedA != nil || packedB != nil, "sgemm: no packed operand (use sgemm(transA:transB:...))")
    precondition((packedA == nil) == (a != nil && m != nil), "sgemm: give A either packed or as a matrix with m")
    precondition((packedB == nil) == (b != nil && n != nil), "sgemm: give B either packed or as a matrix with n")
    let m = packedA?.m ?? m!, n = packedB?.n ?? n!
    let k = packedA?.k ?? packedB!.k
    precondition(packedB == nil || packedB!.k == k, "sgemm: the packed operands' depths differ")
    precondition(m >= 0 && n >= 0, "sgemm: negative dimension")
    precondition(packedA != nil || lda >= max(1, transA ? m : k), "sgemm: lda too small")
    precondition(packedB != nil || ldb >= max(1, transB ? k : n), "sgemm: ldb too small")
    precondition(ldc >= max(1, n), "sgemm: ldc too small")
    let clock = KernelClock.start()
    defer { KernelClock.stop(clock, .init(kind: .gemmPacked, m: m, n: n, k: k, transA: packedA == nil && transA),
                                 flops: gemmFlops(m: m, n: n, k: k)) }
    if m == 0 || n == 0 { return }
    if alpha == 0 {
        gemmScaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
        finished(0..<m, 0..<n)
        return
    }
    let aPointer = packedA.map { UnsafePointer($0.pointer) } ?? a!, bPointer = packedB.map { UnsafePointer($0.pointer) } ?? b!
    gemmBlocked(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: aPointer, lda: max(lda, 1),
                b: bPointer, ldb: max(ldb, 1), beta: beta, c: c, ldc: ldc, kcBlock: gemmKC, ncBlock: gemmNC,
                packedA: packedA.map { UnsafePointer($0.pointer) }, packedB: packedB.map { UnsafePointer($0.pointer) },
                finished: finished)
}
