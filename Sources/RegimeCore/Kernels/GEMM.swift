// Single-precision general matrix multiply (SGEMM) in pure Swift SIMD: no BLAS, no C.
//
//     C = alpha * op(A) * op(B) + beta * C        (row-major; op(X) = X or X^T)
//
// Algorithm (GotoBLAS / BLIS structure, arranged for a row-major C and a register tile that is
// vectorised along the rows of C):
//
//   for jc in 0..<n step NC                       -- column panel of B and C
//     for pc in 0..<k step KC                     -- rank-kc update
//       pack op(B)[pc..<pc+kc, jc..<jc+nc] into 32-column slivers (the "B panel")
//       for ic in 0..<m step MC                   -- row block of A and C
//         pack op(A)[ic..<ic+mc, pc..<pc+kc] into 12-row slivers (transA only; see below)
//         for ir in 0..<mc step 12                -- one 12-row sliver of A ...
//           for jr in 0..<nc step 32              -- ... against every B sliver of the panel
//             micro-kernel: C[ic+ir.., jc+jr..] (12 x 32) = alpha * sum_p A[:, p] B[p, :] + beta' * C
//
// Packing turns all four (transA, transB) combinations into the same two layouts, so one set of
// micro-kernels serves them all: the transposed cases (op(A) = A when A is row-major M x K, and
// op(B) = B^T) go through 16 x 16 in-register SIMD transposes, the others are straight copies.
// A row-major A (op(A) = A) is not packed, though: full 12 x 32 tiles read it in place
// (`gemmKernel12x32Rows`, the same FMAs on the same values), as do edge slivers of 4 or 8 rows
// (`gemmKernel4x32Rows`) and 12-row tiles of at most 16 columns (`gemmKernel12x16Rows`), and only
// a sliver with another edge tile is packed, because for the narrow products of the ViT and the
// MLP's backward pass the transposing copy cost up to half as much as the FMAs. Nor is a
// row-major B (op(B) = B): its 32-column slivers are read in place (row p at b + p * ldb), only a
// narrower last one is packed (the copies were 2-4% of an MLP training step, whose backward
// products all have op(B) = B).
// Edges are zero-padded in the packs; m % 12 and n % 32 remainders use 4-row and 16-column
// variants of the kernel, and a partial tile goes through a 12 x 32 scratch tile.
//
// Reproducibility: every block size and kernel choice depends only on (m, n, k), and every
// C element is computed the same way whichever kernel produces it: acc = FMA chain over p in
// increasing order within each KC block, then C = alpha * acc + beta' * C with one FMA, with
// beta' = beta for the first KC block and 1 for the later ones. Results are therefore
// bit-identical for the same inputs and shapes (on any x86-64 with FMA, and any machine whose
// FMA is IEEE fused multiply-add), independent of timing, addresses or threads.
//
// Thread safety: the only state is two pack buffers (KC x NC + MC x KC floats at most, i.e.
// 4 MiB + 193 KiB, far less for small shapes) that a call takes from a mutex-guarded pool and
// gives back (GEMM+Scratch.swift: freeing them made every call fault their pages in again), so
// concurrent calls never share a buffer.

// Block sizes, for one core of the machine they were tuned on (AMD EPYC Zen 4: 32 KiB L1d,
// 1 MiB L2, 32 MiB shared L3; 32 zmm registers; 512-bit FMAs issued as 2 x 256-bit, so the
// fp32 peak is 32 flop/cycle, ~115 GFLOP/s measured; FMA latency 4 cycles). Measured on a
// machine shared with other jobs (+-5% noise), so differences below that were not acted on.

/// Rows of the register tile (the broadcast direction, from A).
///
/// Register tile 12 x 32: 24 accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers;
/// per k step 2 vector loads and 12 broadcasts feed 24 FMAs, so the FMA pipes, not the load
/// ports, are the limit, and 24 independent chains cover the FMA latency. Measured against
/// 8x32, 14x32, 6x64 and a 4x-unrolled 12x32: 12x32 was the most consistent (8x32 ties at
/// m = 256, where 256 % 12 leaves an edge, but is ~4% slower at 1024; 14x32 was ~5% slower
/// and 6x64 and the unrolled loop no better).
@usableFromInline internal let gemmMR = 12
/// Columns of the register tile (the vector direction, from B): two SIMD16<Float>.
@usableFromInline internal let gemmNR = 32

/// Depth of one rank-kc update. The C tile is loaded and stored once per kernel call, i.e. once
/// per 24 * kc FMAs, so a long kc amortises it and the cache misses on C behind it; per k step
/// the kernel streams 48 B of A and 128 B of B, which L2 (64 B/cycle) sustains with room to
/// spare, so the 24 KiB A sliver need not stay in L1. 384 and 512 were within noise; 512 keeps
/// k <= 512 in one block. k is split into ceil(k / KC) equal parts (600 = 300 + 300, not 512 + 88).
@usableFromInline internal let gemmKC = 512

/// Width of the packed B panel (kc x nc floats, up to 4 MiB: L3-resident). A is packed once
/// per panel, so a wide panel makes packing A a one-off for n <= 2048, while re-reading a 64 KiB
/// B sliver from L3 per kernel call needs only ~5 B/cycle. Measured at n = 1024: NC = 480 (an
/// L2-sized panel) ~5% slower than 1024-2048. n is split into equal parts rounded up to 32.
@usableFromInline internal let gemmNC = 2048

/// Rows of A packed per pass (8 slivers). Packing walks the stored rows in order, so for
/// transA it reads 96 contiguous floats per row of A instead of 12 (rows a page apart defeat the
/// hardware prefetcher); the packed block, 96 x kc floats = 192 KiB, stays in L2. 48 to 1032 were
/// within noise.
@usableFromInline internal let gemmMC = 96

/// 2 * m * n * k: the floating-point operations of one GEMM (one multiply and one add per term).
public func gemmFlops(m: Int, n: Int, k: Int) -> Double {
    2.0 * Double(m) * Double(n) * Double(k)
}

/// C = alpha * op(A) * op(B) + beta * C, row-major; op(A) is M x K, op(B) is K x N, C is M x N.
/// A is M x K (lda >= K) when !transA, else K x M (lda >= M). B is K x N (ldb >= N) when !transB,
/// else N x K (ldb >= K).
///
/// When beta == 0, C is only written, never read (NaNs or garbage in C are overwritten); when
/// k == 0 or alpha == 0, A and B are not read and C = beta * C. Single-threaded; safe to call
/// concurrently (on disjoint C); deterministic: the summation order depends only on the shapes.
/// `finished` is called on each tile of C once it is final (`GEMMTileHook`; when k == 0 or
/// alpha == 0, once on the whole of C).
public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, finished: GEMMTileHook = { _, _ in }) {
    precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension")
    precondition(lda >= max(1, transA ? m : k), "sgemm: lda too small")
    precondition(ldb >= max(1, transB ? k : n), "sgemm: ldb too small")
    precondition(ldc >= max(1, n), "sgemm: ldc too small")
    let clock = KernelClock.start()
    defer { KernelClock.stop(clock, .init(kind: .gemm, m: m, n: n, k: k, transA: transA), flops: gemmFlops(m: m, n: n, k: k)) }
    if m == 0 || n == 0 { return }
    if k == 0 || alpha == 0 {
        gemmScaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
        finished(0..<m, 0..<n)
        return
    }
    gemmBlocked(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, kcBlock: gemmKC, ncBlock: gemmNC, finished: finished)
}

/// The naive triple loop with the same contract as `sgemm`, the reference kernel for tests:
/// for each C[i, j], acc = sum over p = 0..<k, in that order, in Float, of op(A)[i, p] * op(B)[p, j]
/// (separate multiply and add), then C[i, j] = alpha * acc + beta * C[i, j] (C[i, j] = alpha * acc,
/// C not read, when beta == 0).
public func sgemmReference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    precondition(m >= 0 && n >= 0 && k >= 0, "sgemmReference: negative dimension")
    for i in 0..<m {
        for j in 0..<n {
            var acc: Float = 0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                acc += av * bv
            }
            let ci = c + i * ldc + j
            ci.pointee = beta == 0 ? alpha * acc : alpha * acc + beta * ci.pointee
        }
    }
}

// MARK: - Blocked driver

/// Whether rows `ld` floats apart fall on the same L1 sets (a stride that is a multiple of 4 KiB:
/// the set of a line is its address bits 6-11, the same for every row). A kernel reading such an
/// operand in place, a line of each of kc rows per sliver, keeps evicting them: `n = 1024` NN
/// products ran at 91 GFLOP/s against 180 for n = 512 (`regime bench`). Such operands are packed.
@inline(__always)
internal func gemmStrideAliases(_ ld: Int) -> Bool { ld % 1024 == 0 }

/// The blocked algorithm of `sgemm` for m, n, k > 0 and alpha != 0, with the block sizes
/// KC = `kcBlock`, NC = `ncBlock`, MC = `mcBlock` (all > 0) as parameters (tests use small ones).
///
/// With `packedA` (a `GEMMPackedA` of this m and k) op(A) is read from it instead of being packed
/// (`a` and `transA` are then unused), with `packedB` (a `GEMMPackedB` of this k and n) likewise
/// op(B) (`b`, `ldb`, `transB` unused); both are packed with the default KC and NC: the same
/// blocks, the same bits (GEMM+Packed.swift). `finished` is called on each tile of C once it is
/// final (`GEMMTileHook`). With `bias`, a product of one depth block with beta = 0 adds bias[j]
/// (then, with `relu`, the ReLU) to the full 12 x 32 tiles read in place as the kernel stores them
/// (`gemmKernel12x32RowsBias`), and `finished` is not called for those tiles: what
/// `sgemmWithEpilogue`'s bias epilogue would do to them, without reading them back.
internal func gemmBlocked(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                          a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                          beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                          kcBlock: Int, ncBlock: Int, mcBlock: Int = gemmMC, packedA: UnsafePointer<Float>? = nil,
                          packedB: UnsafePointer<Float>? = nil, bias: UnsafePointer<Float>? = nil, relu: Bool = false,
                          finished: GEMMTileHook = { _, _ in }) {
    let mr = gemmMR, nr = gemmNR
    // Balanced blocks: k in ceil(k / KC) nearly equal parts, n in ceil(n / NC) equal parts
    // rounded up to NR, so that no block is a thin remainder.
    let kcMax = gemmDepthBlock(k: k, kcBlock: kcBlock)
    let ncMax = gemmPanelWidth(n: n, ncBlock: ncBlock)

    let mcMax = gemmRoundUp(min(m, mcBlock), mr)
    // A row-major B (op(B) = B) is not packed either: a full 32-column sliver is read in place
    // (row p at b + p * ldb), and only a panel's last sliver, when narrower, is packed; unless
    // its rows are a multiple of 4 KiB apart (`gemmStrideAliases`).
    let bInPlace = packedB == nil && !transB && !gemmStrideAliases(ldb)
    // A transposed (op(A) = A^T) with at most two 32-column slivers of C (n <= 64) is not packed
    // either: step p of a 12-row tile is 12 adjacent floats of A's row p, read in place
    // (`gemmKernel12x32Columns`); only edge tiles pack their sliver. Why: such a product (the
    // ViT's weight gradients dW = dY^T X, n = D = 64) reads each packed float only once per
    // column sliver, so the packing's stores (the whole of dY rewritten, each line from L2)
    // cost as much as the kernel saves; with more columns the packed sliver is reused more.
    let aColumnsInPlace = packedA == nil && transA && n <= 2 * nr

    let (bPack, bCapacity) = packedB == nil ? GEMMScratch.take(kcMax * ncMax) : (c, 0)
    let (aPack, aCapacity) = packedA == nil ? GEMMScratch.take(mcMax * kcMax) : (c, 0)
    defer {
        if packedB == nil { GEMMScratch.give(bPack, capacity: bCapacity) }
        if packedA == nil { GEMMScratch.give(aPack, capacity: aCapacity) }
    }
    // 12 x 32 scratch for partial tiles of C (1.5 KiB, on the stack).
    withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { tileBuffer in
        let tile = tileBuffer.baseAddress!
        var jc = 0
        while jc < n {
            let nc = min(ncMax, n - jc)
            var pc = 0
            while pc < k {
                let kc = min(kcMax, k - pc)
                let bPanel: UnsafePointer<Float>
                let fullSlivers = nc / nr * nr
                if let packedB {
                    bPanel = packedB + gemmPackedBOffset(jc: jc, pc: pc, nc: nc, k: k)
                } else if bInPlace {
                    if fullSlivers < nc {
                        gemmPackB(transB: false, b: b, ldb: ldb, row0: pc, col0: jc + fullSlivers, kc: kc,
                                  nc: nc - fullSlivers, dst: bPack)
                    }
                    bPanel = UnsafePointer(bPack)  // the packed last sliver only
                } else {
                    gemmPackB(transB: transB, b: b, ldb: ldb, row0: pc, col0: jc, kc: kc, nc: nc, dst: bPack)
                    bPanel = UnsafePointer(bPack)
                }
                // The first rank-kc update applies beta; the later ones accumulate into C.
                let betaIsZero = pc == 0 && beta == 0
                let betaNow: Float = pc == 0 ? beta : 1
                var ic = 0
                while ic < m {
                    let mc = min(mcMax, m - ic)
                    let aBlock: UnsafePointer<Float>
                    if let packedA {
                        aBlock = packedA + gemmPackedAOffset(pc: pc, ic: ic, kc: kc, m: m)
                    } else if !transA || aColumnsInPlace {
                        aBlock = UnsafePointer(aPack)  // a sliver is packed only for its edge tiles
                    } else {
                        gemmPackA(transA: transA, a: a, lda: lda, row0: ic, col0: pc, mc: mc, kc: kc, dst: aPack)
                        aBlock = UnsafePointer(aPack)
                    }
                    var ir = 0
                    while ir < mc {
                        let mrNow = min(mr, mc - ir)
                        let aSliver = aBlock + ir * kc
                        // A stored row-major (!transA) and not packed: full tiles read it in place
                        // (`gemmKernel12x32Rows`); an edge tile packs its sliver first, as `gemmPackA`.
                        let aRows = packedA == nil && !transA ? a + (ic + ir) * lda + pc : nil
                        let aColumns = aColumnsInPlace ? a + pc * lda + ic + ir : nil
                        var sliverPacked = aRows == nil && aColumns == nil
                        var jr = 0
                        while jr < nc {
                            let nrNow = min(nr, nc - jr)
                            let cTile = c + (ic + ir) * ldc + jc + jr
                            let inPlace = bInPlace && jr < fullSlivers
                            let bSliver = inPlace ? b + pc * ldb + jc + jr : bPanel + (bInPlace ? jr - fullSlivers : jr) * kc
                            let bStride = inPlace ? ldb : nr
                            var biasAdded = false
                            if mrNow == mr && nrNow == nr, let aRows, let bias, kc == k, betaIsZero {
                                gemmKernel12x32RowsBias(kc: kc, a: aRows, lda: lda, b: bSliver, ldb: bStride, c: cTile, ldc: ldc,
                                                        alpha: alpha, bias: bias + jc + jr, relu: relu)
                                biasAdded = true
                            } else if mrNow == mr && nrNow == nr, let aRows {
                                gemmKernel12x32Rows(kc: kc, a: aRows, lda: lda, b: bSliver, ldb: bStride, c: cTile, ldc: ldc,
                                                    alpha: alpha, beta: betaNow, betaIsZero: betaIsZero)
                            } else if mrNow == mr && nrNow == nr, let aColumns {
                                gemmKernel12x32Columns(kc: kc, a: aColumns, lda: lda, b: bSliver, ldb: bStride, c: cTile,
                                                       ldc: ldc, alpha: alpha, beta: betaNow, betaIsZero: betaIsZero)
                            } else if mrNow == mr && nrNow == nr {
                                gemmKernel12x32(kc: kc, a: aSliver, b: bSliver, ldb: bStride, c: cTile, ldc: ldc,
                                                alpha: alpha, beta: betaNow, betaIsZero: betaIsZero)
                            } else if nrNow == nr && mrNow % 4 == 0, let aRows {
                                // An edge sliver of 4 or 8 rows in place, 4 rows at a time: the
                                // 4-row calls `gemmEdgeTile` makes, without packing the sliver.
                                var r0 = 0
                                while r0 < mrNow {
                                    gemmKernel4x32Rows(kc: kc, a: aRows + r0 * lda, lda: lda, b: bSliver, ldb: bStride,
                                                       c: cTile + r0 * ldc, ldc: ldc, alpha: alpha, beta: betaNow,
                                                       betaIsZero: betaIsZero)
                                    r0 += 4
                                }
                            } else if let aRows, gemmEdgeTileReadsRows(mr: mrNow, nr: nrNow) {
                                gemmEdgeTile(kc: kc, a: aSliver, aRows: aRows, lda: lda, b: bSliver, ldb: bStride, mr: mrNow,
                                             nr: nrNow, c: cTile, ldc: ldc, alpha: alpha, beta: betaNow, betaIsZero: betaIsZero,
                                             tile: tile)
                            } else {
                                if !sliverPacked, let aRows {
                                    gemmPackTransposed(src: aRows, ld: lda, rows: mrNow, kc: kc, dst: aPack + ir * kc, dstStride: mr)
                                    sliverPacked = true
                                }
                                if !sliverPacked, aColumns != nil {
                                    gemmPackA(transA: true, a: a, lda: lda, row0: ic + ir, col0: pc, mc: mrNow, kc: kc,
                                              dst: aPack + ir * kc)
                                    sliverPacked = true
                                }
                                gemmEdgeTile(kc: kc, a: aSliver, b: bSliver, ldb: bStride, mr: mrNow, nr: nrNow, c: cTile,
                                             ldc: ldc, alpha: alpha, beta: betaNow, betaIsZero: betaIsZero, tile: tile)
                            }
                            if pc + kc == k && !biasAdded {
                                finished((ic + ir)..<(ic + ir + mrNow), (jc + jr)..<(jc + jr + nrNow))
                            }
                            jr += nr
                        }
                        ir += mr
                    }
                    ic += mc
                }
                pc += kc
            }
            jc += nc
        }
    }
}

/// What a caller of `sgemm` (through `gemmBlocked`) does to each tile of C, rows by
/// columns of C, once the tile holds its final value: its last depth block stored, so the tile is
/// still in L1. Every element of C is in exactly one call; within a column panel the calls come in
/// increasing row order. An element-wise follow-up of the product (the bias and the ReLU of a
/// layer) run here reads C from L1 instead of in a pass over the whole of C afterwards (for the
/// MLP's probe pass, 512 x 256 floats per layer, from L2). A parameter of this type does not
/// escape: as an optional (escaping) closure, its context was retained and released around every
/// call, which cost as much as the pass it saved.
public typealias GEMMTileHook = (_ rows: Range<Int>, _ columns: Range<Int>) -> Void

/// A partial tile, mr <= 12 rows by nr <= 32 columns: rows in one 12-row kernel call (mr > 8)
/// or in 4-row calls at row offsets 0 and 4, columns in a 32- (nr > 16) or 16-column kernel.
/// A call whose whole block is valid writes C directly; otherwise it writes alpha * acc to the
/// scratch tile and `gemmMergeTile` copies the valid part, with the same arithmetic. A is the
/// packed sliver `a`, or, for 12 rows by at most 16 columns only (`gemmEdgeTileReadsRows`), the
/// row-major rows `aRows` (row stride `lda`; `gemmKernel12x16Rows`).
internal func gemmEdgeTile(kc: Int, a: UnsafePointer<Float>, aRows: UnsafePointer<Float>? = nil, lda: Int = 0,
                           b: UnsafePointer<Float>, ldb: Int = gemmNR, mr: Int, nr: Int,
                           c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                           betaIsZero: Bool, tile: UnsafeMutablePointer<Float>) {
    precondition(ldb == gemmNR || nr == gemmNR, "gemmEdgeTile: a B sliver read in place must be 32 columns wide")
    precondition(aRows == nil || gemmEdgeTileReadsRows(mr: mr, nr: nr), "gemmEdgeTile: A in place for a 12 x 16 tile only")
    let rows = mr > 8 ? 12 : 4
    let cols = nr > 16 ? 32 : 16
    var r0 = 0
    while r0 < mr {
        let validRows = min(rows, mr - r0)
        let direct = validRows == rows && nr == cols
        let dst = direct ? c + r0 * ldc : tile
        let ldDst = direct ? ldc : gemmNR
        let bz = direct ? betaIsZero : true
        switch (rows, cols) {
        case (12, 32):
            gemmKernel12x32(kc: kc, a: a + r0, b: b, ldb: ldb, c: dst, ldc: ldDst, alpha: alpha, beta: beta, betaIsZero: bz)
        case (12, 16):
            if let aRows {
                gemmKernel12x16Rows(kc: kc, a: aRows, lda: lda, b: b, c: dst, ldc: ldDst, alpha: alpha, beta: beta, betaIsZero: bz)
            } else {
                gemmKernel12x16(kc: kc, a: a + r0, b: b, c: dst, ldc: ldDst, alpha: alpha, beta: beta, betaIsZero: bz)
            }
        case (4, 32):
            gemmKernel4x32(kc: kc, a: a + r0, b: b, ldb: ldb, c: dst, ldc: ldDst, alpha: alpha, beta: beta, betaIsZero: bz)
        default:
            gemmKernel4x16(kc: kc, a: a + r0, b: b, c: dst, ldc: ldDst, alpha: alpha, beta: beta, betaIsZero: bz)
        }
        if !direct {
            gemmMergeTile(tile: tile, mr: validRows, nr: nr, c: c + r0 * ldc, ldc: ldc,
                          beta: beta, betaIsZero: betaIsZero)
        }
        r0 += rows
    }
}

/// Whether `gemmEdgeTile` reads A in place for an mr x nr tile: one 12 x 16 kernel call.
@inline(__always)
internal func gemmEdgeTileReadsRows(mr: Int, nr: Int) -> Bool { mr == gemmMR && nr <= 16 }

// MARK: - Small helpers

@inline(__always)
internal func gemmRoundUp(_ x: Int, _ to: Int) -> Int { (x + to - 1) / to * to }

/// The depth of the rank-kc updates for k: k in ceil(k / KC) nearly equal parts, each
/// `gemmDepthBlock` deep but the last (600 = 300 + 300, not 512 + 88).
@inline(__always)
internal func gemmDepthBlock(k: Int, kcBlock: Int) -> Int {
    let parts = (k + kcBlock - 1) / kcBlock
    return (k + parts - 1) / parts
}

/// The width of the column panels for n: n in ceil(n / NC) equal parts rounded up to NR.
@inline(__always)
internal func gemmPanelWidth(n: Int, ncBlock: Int) -> Int {
    let parts = (n + ncBlock - 1) / ncBlock
    return gemmRoundUp((n + parts - 1) / parts, gemmNR)
}

/// A 64-byte aligned buffer of `count` floats (uninitialised; every element read is written first).
@inline(__always)
internal func gemmAllocate(_ count: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        .bindMemory(to: Float.self, capacity: count)
}

/// C = beta * C (C = 0 when beta == 0, ignoring NaNs in C): the k == 0 or alpha == 0 case.
internal func gemmScaleC(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 {
            row.update(repeating: 0, count: n)
        } else if beta != 1 {
            for j in 0..<n { row[j] *= beta }
        }
    }
}

/// p[0..<16] = v, or with `bias` `addBias(relu:)`'s step on v (`addingBias16`).
@inline(__always)
internal func gemmStore(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, plus bias: SIMD16<Float>?, relu: Bool) {
    store16(bias.map { addingBias16(v, $0, relu: relu) } ?? v, p)
}

/// p[0..<16] = v + vb * p[0..<16] with one FMA per lane (`v` is already alpha * acc).
@inline(__always)
internal func gemmUpdate(_ v: SIMD16<Float>, _ vb: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    let raw = UnsafeMutableRawPointer(p)
    let old = raw.loadUnaligned(as: SIMD16<Float>.self)
    raw.storeBytes(of: v.addingProduct(vb, old), as: SIMD16<Float>.self)
}

/// Copies the valid mr x nr corner of the scratch tile (row stride 32, holding alpha * acc) into
/// C with the arithmetic of the full-tile path: C = t + beta * C (one fused multiply-add), or
/// C = t when beta is zero; so edge elements round exactly like interior ones.
internal func gemmMergeTile(tile: UnsafeMutablePointer<Float>, mr: Int, nr: Int,
                            c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float, betaIsZero: Bool) {
    for i in 0..<mr {
        let t = tile + i * gemmNR
        let row = c + i * ldc
        if betaIsZero {
            for j in 0..<nr { row[j] = t[j] }
        } else {
            for j in 0..<nr { row[j] = t[j].addingProduct(beta, row[j]) }
        }
    }
}

// MARK: - Packing

/// Packs op(A)[row0 ..< row0+mc, col0 ..< col0+kc] into ceil(mc / 12) slivers; sliver s holds
/// rows 12s ..< 12s+12 as dst[s * kc * 12 + p * 12 + i] (column p of the sliver contiguous: what
/// the micro-kernel broadcasts at step p), rows past mc zero-filled.
internal func gemmPackA(transA: Bool, a: UnsafePointer<Float>, lda: Int, row0: Int, col0: Int,
                        mc: Int, kc: Int, dst: UnsafeMutablePointer<Float>) {
    let MR = gemmMR
    if transA {
        // op(A)[i, p] = A[p, i]: row p of A holds all mc values of step p contiguously; walk the
        // rows of A in order (sequential reads the hardware prefetcher follows) and deal each
        // into the slivers 12 floats at a time.
        let full = mc / MR, rest = mc - full * MR
        for p in 0..<kc {
            let src = a + (col0 + p) * lda + row0
            var d = dst + p * MR
            for s in 0..<full {
                gemmCopy12(from: src + s * MR, to: d)
                d += kc * MR
            }
            if rest > 0 {
                d.update(from: src + full * MR, count: rest)
                (d + rest).update(repeating: 0, count: MR - rest)
            }
        }
    } else {
        // op(A)[i, p] = A[i, p]: 12 strided rows per sliver, transposed in 16 x 16 register blocks.
        var i0 = 0
        while i0 < mc {
            gemmPackTransposed(src: a + (row0 + i0) * lda + col0, ld: lda, rows: min(MR, mc - i0),
                               kc: kc, dst: dst + i0 * kc, dstStride: MR)
            i0 += MR
        }
    }
}

/// to[0..<12] = from[0..<12] as one 8- and one 4-lane vector move.
@inline(__always)
internal func gemmCopy12(from: UnsafePointer<Float>, to: UnsafeMutablePointer<Float>) {
    let s = UnsafeRawPointer(from), d = UnsafeMutableRawPointer(to)
    d.storeBytes(of: s.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
    d.storeBytes(of: s.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self), toByteOffset: 32, as: SIMD4<Float>.self)
}

/// Packs op(B)[row0 ..< row0+kc, col0 ..< col0+nc] into ceil(nc / NR) slivers; sliver s holds
/// columns s*NR ..< s*NR+NR as dst[s * kc * NR + p * NR + j] (row p of the sliver contiguous:
/// what the micro-kernel loads as two SIMD16 at step p), columns past nc zero-filled.
internal func gemmPackB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, row0: Int, col0: Int,
                        kc: Int, nc: Int, dst: UnsafeMutablePointer<Float>) {
    let NR = gemmNR
    if !transB {
        // op(B)[p, j] = B[p, j]: row p of B holds all nc values of step p contiguously; walk the
        // rows in order (sequential reads) and deal each into the slivers 32 floats at a time.
        let full = nc / NR, rest = nc - full * NR
        for p in 0..<kc {
            let src = UnsafeRawPointer(b + (row0 + p) * ldb + col0)
            var d = UnsafeMutableRawPointer(dst + p * NR)
            for s in 0..<full {
                let v0 = src.loadUnaligned(fromByteOffset: s * 128, as: SIMD16<Float>.self)
                let v1 = src.loadUnaligned(fromByteOffset: s * 128 + 64, as: SIMD16<Float>.self)
                d.storeBytes(of: v0, as: SIMD16<Float>.self)
                d.storeBytes(of: v1, toByteOffset: 64, as: SIMD16<Float>.self)
                d += kc * NR * 4
            }
            if rest > 0 {
                let df = d.assumingMemoryBound(to: Float.self)
                df.update(from: src.assumingMemoryBound(to: Float.self) + full * NR, count: rest)
                (df + rest).update(repeating: 0, count: NR - rest)
            }
        }
    } else {
        // op(B)[p, j] = B[j, p]: 32 strided rows of B per sliver, transposed in 16 x 16 register
        // blocks (two per sliver; rows past nc read as zero).
        var jr = 0
        while jr < nc {
            let nr = min(NR, nc - jr)
            let sliver = dst + jr * kc, src = b + (col0 + jr) * ldb + row0
            if nr == NR {
                gemmPackTransposedSliver(src: src, ld: ldb, kc: kc, dst: sliver)
            } else {
                var j0 = 0
                while j0 < NR {
                    gemmPackTransposed(src: src + j0 * ldb, ld: ldb, rows: max(0, min(16, nr - j0)),
                                       kc: kc, dst: sliver + j0, dstStride: NR)
                    j0 += 16
                }
            }
            jr += NR
        }
    }
}

/// `gemmPackTransposed` of a whole 32-row B sliver (dst[p * 32 + r] = src[r * ld + p], r < 32):
/// its two 16-row halves block by block, so that the two 64-byte halves of each 128-byte row of the
/// sliver are written one after the other while the line is in L1. Half after half, the first
/// halves of a kc = 392 sliver (50 KiB) left L1 before the second halves came, and every line was
/// fetched twice.
internal func gemmPackTransposedSliver(src: UnsafePointer<Float>, ld: Int, kc: Int, dst: UnsafeMutablePointer<Float>) {
    let NR = gemmNR
    var p = 0
    while p + 16 <= kc {
        gemmTranspose16x16(src: src + p, ld: ld, rows: 16, dst: dst + p * NR, dstStride: NR, width: 16, columns: 16)
        gemmTranspose16x16(src: src + 16 * ld + p, ld: ld, rows: 16, dst: dst + p * NR + 16, dstStride: NR,
                           width: 16, columns: 16)
        p += 16
    }
    if p < kc {
        gemmPackTransposed(src: src + p, ld: ld, rows: 16, kc: kc - p, dst: dst + p * NR, dstStride: NR)
        gemmPackTransposed(src: src + 16 * ld + p, ld: ld, rows: 16, kc: kc - p, dst: dst + p * NR + 16, dstStride: NR)
    }
}

/// Writes dst[p * dstStride + r] = src[r * ld + p] for r in 0..<16, p in 0..<kc, where rows
/// r >= `rows` (0...16) read as zero. Writes exactly min(dstStride, 16) floats per p. Full 16 x 16
/// blocks go through `gemmTranspose16x16`; the last kc % 16 columns are copied into a zeroed
/// 16 x 16 tile on the stack and transposed from there.
///
/// The two shapes of every full sliver are specialised (rows and width constants, so the loads
/// and stores carry no per-row test): 16 rows into a 32-float B sliver (`gemmPackB`, transB) and
/// 12 rows into a 12-float A sliver (`gemmPackA`, !transA). With `rows` a run-time value the
/// compiler kept it on the stack and tested it at every row of every block; the specialised
/// loops pack `mlp:784-256-256-10`'s W_1^T in 62 us instead of 66-86 us (a 12-row A sliver:
/// 0.30 instead of 0.35-0.38 ns per float), against 42 us for a plain copy of the same blocks.
internal func gemmPackTransposed(src: UnsafePointer<Float>, ld: Int, rows: Int, kc: Int,
                                 dst: UnsafeMutablePointer<Float>, dstStride: Int) {
    if rows == 0 {
        let width = min(dstStride, 16)
        for q in 0..<kc { (dst + q * dstStride).update(repeating: 0, count: width) }
    } else if rows == 16 && dstStride >= 16 {
        gemmPackTransposedRows(src: src, ld: ld, rows: 16, kc: kc, dst: dst, dstStride: dstStride, width: 16)
    } else if rows == 12 && dstStride == 12 {
        gemmPackTransposedRows(src: src, ld: ld, rows: 12, kc: kc, dst: dst, dstStride: 12, width: 12)
    } else {
        gemmPackTransposedRows(src: src, ld: ld, rows: rows, kc: kc, dst: dst, dstStride: dstStride, width: min(dstStride, 16))
    }
}

/// `gemmPackTransposed` for rows in 1...16 and width = min(dstStride, 16); inlined into each of
/// its calls so that constant rows and widths specialise it.
@inline(__always)
internal func gemmPackTransposedRows(src: UnsafePointer<Float>, ld: Int, rows: Int, kc: Int,
                                     dst: UnsafeMutablePointer<Float>, dstStride: Int, width: Int) {
    var p = 0
    while p + 16 <= kc {
        gemmTranspose16x16(src: src + p, ld: ld, rows: rows, dst: dst + p * dstStride, dstStride: dstStride,
                           width: width, columns: 16)
        p += 16
    }
    let left = kc - p
    guard left > 0 else { return }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { tile in
        let t = tile.baseAddress!
        t.update(repeating: 0, count: 256)
        for r in 0..<rows { (t + 16 * r).update(from: src + r * ld + p, count: left) }
        gemmTranspose16x16(src: UnsafePointer(t), ld: 16, rows: 16, dst: dst + p * dstStride, dstStride: dstStride,
                           width: width, columns: left)
    }
}

/// One 16 x 16 block: loads rows x_r = src[r * ld ..< r * ld + 16] (zero for r >= rows), and
/// stores the first `width` lanes of column c, (x_0[c], ..., x_15[c]), at dst + c * dstStride for
/// c < `columns`. Four shuffle stages of 16 two-source shuffles each (32-bit and 64-bit
/// interleaves inside 128-bit lanes, then two 128-bit lane selections), the classic AVX-512
/// transpose; ~0.3 shuffles per element instead of a scalar load and store per element.
@inline(__always)
internal func gemmTranspose16x16(src: UnsafePointer<Float>, ld: Int, rows: Int, dst: UnsafeMutablePointer<Float>,
                                 dstStride: Int, width: Int, columns count: Int) {
    @inline(__always) func row(_ r: Int) -> SIMD16<Float> {
        r < rows ? UnsafeRawPointer(src + r * ld).loadUnaligned(as: SIMD16<Float>.self) : SIMD16<Float>()
    }
    // Stage 1: 32-bit interleave of row pairs.
    let x0 = row(0), x1 = row(1), x2 = row(2), x3 = row(3)
    let x4 = row(4), x5 = row(5), x6 = row(6), x7 = row(7)
    let x8 = row(8), x9 = row(9), x10 = row(10), x11 = row(11)
    let x12 = row(12), x13 = row(13), x14 = row(14), x15 = row(15)
    let a0 = gemmUnpackLo32(x0, x1), a1 = gemmUnpackHi32(x0, x1)
    let a2 = gemmUnpackLo32(x2, x3), a3 = gemmUnpackHi32(x2, x3)
    let a4 = gemmUnpackLo32(x4, x5), a5 = gemmUnpackHi32(x4, x5)
    let a6 = gemmUnpackLo32(x6, x7), a7 = gemmUnpackHi32(x6, x7)
    let a8 = gemmUnpackLo32(x8, x9), a9 = gemmUnpackHi32(x8, x9)
    let a10 = gemmUnpackLo32(x10, x11), a11 = gemmUnpackHi32(x10, x11)
    let a12 = gemmUnpackLo32(x12, x13), a13 = gemmUnpackHi32(x12, x13)
    let a14 = gemmUnpackLo32(x14, x15), a15 = gemmUnpackHi32(x14, x15)
    // Stage 2: 64-bit interleave. b{g}{c} has, in 128-bit lane L, rows 4g..<4g+4 of column c + 4L.
    let b00 = gemmUnpackLo64(a0, a2), b01 = gemmUnpackHi64(a0, a2)
    let b02 = gemmUnpackLo64(a1, a3), b03 = gemmUnpackHi64(a1, a3)
    let b10 = gemmUnpackLo64(a4, a6), b11 = gemmUnpackHi64(a4, a6)
    let b12 = gemmUnpackLo64(a5, a7), b13 = gemmUnpackHi64(a5, a7)
    let b20 = gemmUnpackLo64(a8, a10), b21 = gemmUnpackHi64(a8, a10)
    let b22 = gemmUnpackLo64(a9, a11), b23 = gemmUnpackHi64(a9, a11)
    let b30 = gemmUnpackLo64(a12, a14), b31 = gemmUnpackHi64(a12, a14)
    let b32 = gemmUnpackLo64(a13, a15), b33 = gemmUnpackHi64(a13, a15)
    // The first `width` lanes of column c (width 12 = MR: one 8- and one 4-lane store).
    @inline(__always) func store(_ v: SIMD16<Float>, _ c: Int) {
        guard c < count else { return }
        let p = dst + c * dstStride, raw = UnsafeMutableRawPointer(p)
        if width == 16 {
            raw.storeBytes(of: v, as: SIMD16<Float>.self)
        } else if width == 12 {
            raw.storeBytes(of: v.lowHalf, as: SIMD8<Float>.self)
            raw.storeBytes(of: v.highHalf.lowHalf, toByteOffset: 32, as: SIMD4<Float>.self)
        } else {
            for i in 0..<width { p[i] = v[i] }
        }
    }
    // Stages 3 and 4: gather the four 128-bit pieces of each column.
    @inline(__always) func columns(_ g0: SIMD16<Float>, _ g1: SIMD16<Float>, _ g2: SIMD16<Float>,
                                   _ g3: SIMD16<Float>, _ c: Int) {
        let sLo = gemmLanes(g0, g1, 0, 1, 0, 1), sHi = gemmLanes(g0, g1, 2, 3, 2, 3)
        let tLo = gemmLanes(g2, g3, 0, 1, 0, 1), tHi = gemmLanes(g2, g3, 2, 3, 2, 3)
        store(gemmLanes(sLo, tLo, 0, 2, 0, 2), c)
        store(gemmLanes(sLo, tLo, 1, 3, 1, 3), c + 4)
        store(gemmLanes(sHi, tHi, 0, 2, 0, 2), c + 8)
        store(gemmLanes(sHi, tHi, 1, 3, 1, 3), c + 12)
    }
    columns(b00, b10, b20, b30, 0)
    columns(b01, b11, b21, b31, 1)
    columns(b02, b12, b22, b32, 2)
    columns(b03, b13, b23, b33, 3)
}

/// Per 128-bit lane l: (a[4l], b[4l], a[4l+1], b[4l+1]) (vunpcklps).
@inline(__always)
internal func gemmUnpackLo32(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5], a[8], b[8], a[9], b[9], a[12], b[12], a[13], b[13])
}

/// Per 128-bit lane l: (a[4l+2], b[4l+2], a[4l+3], b[4l+3]) (vunpckhps).
@inline(__always)
internal func gemmUnpackHi32(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7], a[10], b[10], a[11], b[11], a[14], b[14], a[15], b[15])
}

/// Per 128-bit lane l: (a[4l], a[4l+1], b[4l], b[4l+1]) (vunpcklpd).
@inline(__always)
internal func gemmUnpackLo64(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16(a[0], a[1], b[0], b[1], a[4], a[5], b[4], b[5], a[8], a[9], b[8], b[9], a[12], a[13], b[12], b[13])
}

/// Per 128-bit lane l: (a[4l+2], a[4l+3], b[4l+2], b[4l+3]) (vunpckhpd).
@inline(__always)
internal func gemmUnpackHi64(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16(a[2], a[3], b[2], b[3], a[6], a[7], b[6], b[7], a[10], a[11], b[10], b[11], a[14], a[15], b[14], b[15])
}

/// 128-bit lanes (a.lane i, a.lane j, b.lane k, b.lane l) (vshuff32x4); indices are constants.
@inline(__always)
internal func gemmLanes(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ i: Int, _ j: Int, _ k: Int, _ l: Int) -> SIMD16<Float> {
    SIMD16(a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3],
           a[4 * j], a[4 * j + 1], a[4 * j + 2], a[4 * j + 3],
           b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3],
           b[4 * l], b[4 * l + 1], b[4 * l + 2], b[4 * l + 3])
}


// MARK: - Micro-kernels
//
// Fully unrolled by hand (one accumulator variable per SIMD16 of the tile, so that they all live
// in registers); the four kernels differ only in tile size. Each reads the packed A sliver with
// stride 12 (a 4-row kernel gets a pointer offset into it) and the packed B sliver with stride 32;
// `gemmKernel12x32Rows` is the 12 x 32 kernel reading a row-major A in place.

/// 12 x 32 register tile: 24 SIMD16<Float> accumulators, 2 SIMD16 of the B row, and one
/// broadcast A element at a time. For p in 0..<kc: acc[i, :] += A[p * 12 + i] * B[p * 32 ..< p * 32 + 32]
/// (rows i in 0..<12 of the packed A sliver starting at `a`, the first 32 columns of the packed B
/// sliver), one FMA per SIMD16; then C[i, :] = alpha * acc[i, :] (+ beta * C[i, :] unless `betaIsZero`).
@inline(never)
internal func gemmKernel12x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int = gemmNR,
                              c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    gemmTile12x32(kc: kc, a: a, rowStride: 1, stepStride: gemmMR, b: b, ldb: ldb, c: c, ldc: ldc, alpha: alpha, beta: beta,
                  betaIsZero: betaIsZero)
}

/// `gemmKernel12x32` reading A unpacked: rows i in 0..<12 of a row-major A (row stride `lda`),
/// element (i, p) at a[i * lda + p]. The same FMAs in the same order on the same values as the
/// packed kernel, so the same bits; what it saves is the transposing copy of A into slivers
/// (`gemmPackTransposed`), which for a product with few columns (n = 64: the ViT's input
/// gradients dX = dY W, k = 64 or 256) cost up to half as much as the FMAs. The 12 broadcasts per
/// step come from 12 rows instead of one sliver: 12 cache lines, each serving 16 steps, in L1.
@inline(never)
internal func gemmKernel12x32Rows(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int = gemmNR,
                                  c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    gemmTile12x32(kc: kc, a: a, rowStride: lda, stepStride: 1, b: b, ldb: ldb, c: c, ldc: ldc, alpha: alpha, beta: beta,
                  betaIsZero: betaIsZero)
}

/// `gemmKernel12x32Rows` with beta = 0 that stores alpha * acc + bias[j] (and with `relu` its
/// ReLU) instead of alpha * acc: the operations `addBias(relu:)` applies to the stored tile, on
/// the values still in registers, so the same bits without storing, reloading and storing again.
@inline(never)
internal func gemmKernel12x32RowsBias(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int = gemmNR,
                                      c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, bias: UnsafePointer<Float>,
                                      relu: Bool) {
    if relu {  // (two copies of the tile, so that neither tests `relu` at its 24 stores)
        gemmTile12x32(kc: kc, a: a, rowStride: lda, stepStride: 1, b: b, ldb: ldb, c: c, ldc: ldc, alpha: alpha, beta: 0,
                      betaIsZero: true, bias: bias, relu: true)
    } else {
        gemmTile12x32(kc: kc, a: a, rowStride: lda, stepStride: 1, b: b, ldb: ldb, c: c, ldc: ldc, alpha: alpha, beta: 0,
                      betaIsZero: true, bias: bias, relu: false)
    }
}

/// `gemmKernel12x32` reading A^T in place: op(A)'s rows i in 0..<12 are columns of a row-major A
/// (row stride `lda`), element (i, p) at a[p * lda + i], so step p broadcasts 12 adjacent floats
/// of A's row p. The same FMAs in the same order on the same values as the packed kernel, so the
/// same bits; it saves `gemmPackA`'s dealing of A's rows into slivers (see `gemmBlocked`). Each
/// step reads one or two new lines of A (rows lda apart, from L2), so the kernel asks for the
/// step `gemmColumnsPrefetchSteps` ahead (both ends of its 12 floats): without that, perf put the
/// kernel's samples on the FMAs waiting for the first, fifth and ninth broadcast of a step.
@inline(never)
internal func gemmKernel12x32Columns(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int = gemmNR,
                                     c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    gemmTile12x32(kc: kc, a: a, rowStride: 1, stepStride: lda, b: b, ldb: ldb, c: c, ldc: ldc, alpha: alpha, beta: beta,
                  betaIsZero: betaIsZero, prefetchSteps: gemmColumnsPrefetchSteps)
}

/// How many steps ahead `gemmKernel12x32Columns` prefetches A: a step is at least 12 cycles (24
/// FMAs on two ports), an L2 hit ~16, and the rows come from L2 or L3.
internal let gemmColumnsPrefetchSteps = 8

/// The body of the 12 x 32 kernels: A's element (i, p) at a[i * rowStride + p * stepStride], B's
/// row p (32 floats) at b + p * ldb.
@inline(__always)
internal func gemmTile12x32(kc: Int, a: UnsafePointer<Float>, rowStride rs: Int, stepStride cs: Int, b: UnsafePointer<Float>,
                            ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool,
                            prefetchSteps: Int = 0, bias: UnsafePointer<Float>? = nil, relu: Bool = false) {
    let bStep = ldb * MemoryLayout<Float>.stride
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
    var ap = a
    var bp = UnsafeRawPointer(b)
    for _ in 0..<kc {
        if prefetchSteps > 0 {  // step p + prefetchSteps's 12 floats (a hint: past A's end it does nothing)
            prefetchBytes(ap + prefetchSteps &* cs, count: (11 &* rs &+ 1) &* MemoryLayout<Float>.stride)
        }
        let b0 = bp.loadUnaligned(fromByteOffset: 0, as: SIMD16<Float>.self)
        let b1 = bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let a0 = ap[0 * rs]
        c0_0 = c0_0.addingProduct(b0, a0)
        c0_1 = c0_1.addingProduct(b1, a0)
        let a1 = ap[1 * rs]
        c1_0 = c1_0.addingProduct(b0, a1)
        c1_1 = c1_1.addingProduct(b1, a1)
        let a2 = ap[2 * rs]
        c2_0 = c2_0.addingProduct(b0, a2)
        c2_1 = c2_1.addingProduct(b1, a2)
        let a3 = ap[3 * rs]
        c3_0 = c3_0.addingProduct(b0, a3)
        c3_1 = c3_1.addingProduct(b1, a3)
        let a4 = ap[4 * rs]
        c4_0 = c4_0.addingProduct(b0, a4)
        c4_1 = c4_1.addingProduct(b1, a4)
        let a5 = ap[5 * rs]
        c5_0 = c5_0.addingProduct(b0, a5)
        c5_1 = c5_1.addingProduct(b1, a5)
        let a6 = ap[6 * rs]
        c6_0 = c6_0.addingProduct(b0, a6)
        c6_1 = c6_1.addingProduct(b1, a6)
        let a7 = ap[7 * rs]
        c7_0 = c7_0.addingProduct(b0, a7)
        c7_1 = c7_1.addingProduct(b1, a7)
        let a8 = ap[8 * rs]
        c8_0 = c8_0.addingProduct(b0, a8)
        c8_1 = c8_1.addingProduct(b1, a8)
        let a9 = ap[9 * rs]
        c9_0 = c9_0.addingProduct(b0, a9)
        c9_1 = c9_1.addingProduct(b1, a9)
        let a10 = ap[10 * rs]
        c10_0 = c10_0.addingProduct(b0, a10)
        c10_1 = c10_1.addingProduct(b1, a10)
        let a11 = ap[11 * rs]
        c11_0 = c11_0.addingProduct(b0, a11)
        c11_1 = c11_1.addingProduct(b1, a11)
        ap += cs
        bp += bStep
    }
    let va = SIMD16<Float>(repeating: alpha)
    if betaIsZero {
        let bias0 = bias.map { load16($0) }, bias1 = bias.map { load16($0 + 16) }
        gemmStore(va * c0_0, c + 0 * ldc, plus: bias0, relu: relu); gemmStore(va * c0_1, c + 0 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c1_0, c + 1 * ldc, plus: bias0, relu: relu); gemmStore(va * c1_1, c + 1 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c2_0, c + 2 * ldc, plus: bias0, relu: relu); gemmStore(va * c2_1, c + 2 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c3_0, c + 3 * ldc, plus: bias0, relu: relu); gemmStore(va * c3_1, c + 3 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c4_0, c + 4 * ldc, plus: bias0, relu: relu); gemmStore(va * c4_1, c + 4 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c5_0, c + 5 * ldc, plus: bias0, relu: relu); gemmStore(va * c5_1, c + 5 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c6_0, c + 6 * ldc, plus: bias0, relu: relu); gemmStore(va * c6_1, c + 6 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c7_0, c + 7 * ldc, plus: bias0, relu: relu); gemmStore(va * c7_1, c + 7 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c8_0, c + 8 * ldc, plus: bias0, relu: relu); gemmStore(va * c8_1, c + 8 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c9_0, c + 9 * ldc, plus: bias0, relu: relu); gemmStore(va * c9_1, c + 9 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c10_0, c + 10 * ldc, plus: bias0, relu: relu); gemmStore(va * c10_1, c + 10 * ldc + 16, plus: bias1, relu: relu)
        gemmStore(va * c11_0, c + 11 * ldc, plus: bias0, relu: relu); gemmStore(va * c11_1, c + 11 * ldc + 16, plus: bias1, relu: relu)
    } else {
        let vb = SIMD16<Float>(repeating: beta)
        gemmUpdate(va * c0_0, vb, c + 0 * ldc); gemmUpdate(va * c0_1, vb, c + 0 * ldc + 16)
        gemmUpdate(va * c1_0, vb, c + 1 * ldc); gemmUpdate(va * c1_1, vb, c + 1 * ldc + 16)
        gemmUpdate(va * c2_0, vb, c + 2 * ldc); gemmUpdate(va * c2_1, vb, c + 2 * ldc + 16)
        gemmUpdate(va * c3_0, vb, c + 3 * ldc); gemmUpdate(va * c3_1, vb, c + 3 * ldc + 16)
        gemmUpdate(va * c4_0, vb, c + 4 * ldc); gemmUpdate(va * c4_1, vb, c + 4 * ldc + 16)
        gemmUpdate(va * c5_0, vb, c + 5 * ldc); gemmUpdate(va * c5_1, vb, c + 5 * ldc + 16)
        gemmUpdate(va * c6_0, vb, c + 6 * ldc); gemmUpdate(va * c6_1, vb, c + 6 * ldc + 16)
        gemmUpdate(va * c7_0, vb, c + 7 * ldc); gemmUpdate(va * c7_1, vb, c + 7 * ldc + 16)
        gemmUpdate(va * c8_0, vb, c + 8 * ldc); gemmUpdate(va * c8_1, vb, c + 8 * ldc + 16)
        gemmUpdate(va * c9_0, vb, c + 9 * ldc); gemmUpdate(va * c9_1, vb, c + 9 * ldc + 16)
        gemmUpdate(va * c10_0, vb, c + 10 * ldc); gemmUpdate(va * c10_1, vb, c + 10 * ldc + 16)
        gemmUpdate(va * c11_0, vb, c + 11 * ldc); gemmUpdate(va * c11_1, vb, c + 11 * ldc + 16)
    }
}

/// 4 x 32 register tile: 8 SIMD16<Float> accumulators, 2 SIMD16 of the B row, and one
/// broadcast A element at a time. For p in 0..<kc: acc[i, :] += A[p * 12 + i] * B[p * 32 ..< p * 32 + 32]
/// (rows i in 0..<4 of the packed A sliver starting at `a`, the first 32 columns of the packed B
/// sliver), one FMA per SIMD16; then C[i, :] = alpha * acc[i, :] (+ beta * C[i, :] unless `betaIsZero`).
@inline(never)
internal func gemmKernel4x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int = gemmNR,
                             c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    gemmTile4x32(kc: kc, a: a, rowStride: 1, stepStride: gemmMR, b: b, ldb: ldb, c: c, ldc: ldc, alpha: alpha, beta: beta,
                 betaIsZero: betaIsZero)
}

/// `gemmKernel4x32` reading A unpacked, rows i in 0..<4 of a row-major A at a[i * lda + p], as
/// `gemmKernel12x32Rows` does for full tiles: an edge sliver of 4 or 8 rows (the MLP's batch of
/// 128 and probe chunks of 256 rows leave one) runs in place instead of being packed first.
@inline(never)
internal func gemmKernel4x32Rows(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                 c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    gemmTile4x32(kc: kc, a: a, rowStride: lda, stepStride: 1, b: b, ldb: ldb, c: c, ldc: ldc, alpha: alpha, beta: beta,
                 betaIsZero: betaIsZero)
}

/// The body of both 4 x 32 kernels: A's element (i, p) at a[i * rowStride + p * stepStride], B's
/// row p at b + p * ldb.
@inline(__always)
internal func gemmTile4x32(kc: Int, a: UnsafePointer<Float>, rowStride rs: Int, stepStride cs: Int, b: UnsafePointer<Float>,
                           ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    let bStep = ldb * MemoryLayout<Float>.stride
    var c0_0 = SIMD16<Float>(), c0_1 = SIMD16<Float>()
    var c1_0 = SIMD16<Float>(), c1_1 = SIMD16<Float>()
    var c2_0 = SIMD16<Float>(), c2_1 = SIMD16<Float>()
    var c3_0 = SIMD16<Float>(), c3_1 = SIMD16<Float>()
    var ap = a
    var bp = UnsafeRawPointer(b)
    for _ in 0..<kc {
        let b0 = bp.loadUnaligned(fromByteOffset: 0, as: SIMD16<Float>.self)
        let b1 = bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let a0 = ap[0 * rs]
        c0_0 = c0_0.addingProduct(b0, a0)
        c0_1 = c0_1.addingProduct(b1, a0)
        let a1 = ap[1 * rs]
        c1_0 = c1_0.addingProduct(b0, a1)
        c1_1 = c1_1.addingProduct(b1, a1)
        let a2 = ap[2 * rs]
        c2_0 = c2_0.addingProduct(b0, a2)
        c2_1 = c2_1.addingProduct(b1, a2)
        let a3 = ap[3 * rs]
        c3_0 = c3_0.addingProduct(b0, a3)
        c3_1 = c3_1.addingProduct(b1, a3)
        ap += cs
        bp += bStep
    }
    let va = SIMD16<Float>(repeating: alpha)
    if betaIsZero {
        store16(va * c0_0, c + 0 * ldc); store16(va * c0_1, c + 0 * ldc + 16)
        store16(va * c1_0, c + 1 * ldc); store16(va * c1_1, c + 1 * ldc + 16)
        store16(va * c2_0, c + 2 * ldc); store16(va * c2_1, c + 2 * ldc + 16)
        store16(va * c3_0, c + 3 * ldc); store16(va * c3_1, c + 3 * ldc + 16)
    } else {
        let vb = SIMD16<Float>(repeating: beta)
        gemmUpdate(va * c0_0, vb, c + 0 * ldc); gemmUpdate(va * c0_1, vb, c + 0 * ldc + 16)
        gemmUpdate(va * c1_0, vb, c + 1 * ldc); gemmUpdate(va * c1_1, vb, c + 1 * ldc + 16)
        gemmUpdate(va * c2_0, vb, c + 2 * ldc); gemmUpdate(va * c2_1, vb, c + 2 * ldc + 16)
        gemmUpdate(va * c3_0, vb, c + 3 * ldc); gemmUpdate(va * c3_1, vb, c + 3 * ldc + 16)
    }
}

/// 12 x 16 register tile: 12 SIMD16<Float> accumulators, 1 SIMD16 of the B row, and one
/// broadcast A element at a time. For p in 0..<kc: acc[i, :] += A[p * 12 + i] * B[p * 32 ..< p * 32 + 16]
/// (rows i in 0..<12 of the packed A sliver starting at `a`, the first 16 columns of the packed B
/// sliver), one FMA per SIMD16; then C[i, :] = alpha * acc[i, :] (+ beta * C[i, :] unless `betaIsZero`).
@inline(never)
internal func gemmKernel12x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                              c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    gemmTile12x16(kc: kc, a: a, rowStride: 1, stepStride: gemmMR, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta,
                  betaIsZero: betaIsZero)
}

/// `gemmKernel12x16` reading A unpacked, as `gemmKernel12x32Rows` does: rows i in 0..<12 of a
/// row-major A (row stride `lda`). For a product whose last B sliver is 16 columns or fewer (the
/// MLP's classifier, n = 10) it spares packing every 12-row sliver of A for that sliver alone.
@inline(never)
internal func gemmKernel12x16Rows(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                                  c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    gemmTile12x16(kc: kc, a: a, rowStride: lda, stepStride: 1, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta,
                  betaIsZero: betaIsZero)
}

/// The body of both 12 x 16 kernels: A's element (i, p) at a[i * rowStride + p * stepStride], B's
/// row p (the first 16 of 32 floats) at b + p * 32.
@inline(__always)
internal func gemmTile12x16(kc: Int, a: UnsafePointer<Float>, rowStride rs: Int, stepStride cs: Int, b: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    var c0_0 = SIMD16<Float>()
    var c1_0 = SIMD16<Float>()
    var c2_0 = SIMD16<Float>()
    var c3_0 = SIMD16<Float>()
    var c4_0 = SIMD16<Float>()
    var c5_0 = SIMD16<Float>()
    var c6_0 = SIMD16<Float>()
    var c7_0 = SIMD16<Float>()
    var c8_0 = SIMD16<Float>()
    var c9_0 = SIMD16<Float>()
    var c10_0 = SIMD16<Float>()
    var c11_0 = SIMD16<Float>()
    var ap = a
    var bp = UnsafeRawPointer(b)
    for _ in 0..<kc {
        let b0 = bp.loadUnaligned(fromByteOffset: 0, as: SIMD16<Float>.self)
        let a0 = ap[0 * rs]
        c0_0 = c0_0.addingProduct(b0, a0)
        let a1 = ap[1 * rs]
        c1_0 = c1_0.addingProduct(b0, a1)
        let a2 = ap[2 * rs]
        c2_0 = c2_0.addingProduct(b0, a2)
        let a3 = ap[3 * rs]
        c3_0 = c3_0.addingProduct(b0, a3)
        let a4 = ap[4 * rs]
        c4_0 = c4_0.addingProduct(b0, a4)
        let a5 = ap[5 * rs]
        c5_0 = c5_0.addingProduct(b0, a5)
        let a6 = ap[6 * rs]
        c6_0 = c6_0.addingProduct(b0, a6)
        let a7 = ap[7 * rs]
        c7_0 = c7_0.addingProduct(b0, a7)
        let a8 = ap[8 * rs]
        c8_0 = c8_0.addingProduct(b0, a8)
        let a9 = ap[9 * rs]
        c9_0 = c9_0.addingProduct(b0, a9)
        let a10 = ap[10 * rs]
        c10_0 = c10_0.addingProduct(b0, a10)
        let a11 = ap[11 * rs]
        c11_0 = c11_0.addingProduct(b0, a11)
        ap += cs
        bp += 128
    }
    let va = SIMD16<Float>(repeating: alpha)
    if betaIsZero {
        store16(va * c0_0, c + 0 * ldc)
        store16(va * c1_0, c + 1 * ldc)
        store16(va * c2_0, c + 2 * ldc)
        store16(va * c3_0, c + 3 * ldc)
        store16(va * c4_0, c + 4 * ldc)
        store16(va * c5_0, c + 5 * ldc)
        store16(va * c6_0, c + 6 * ldc)
        store16(va * c7_0, c + 7 * ldc)
        store16(va * c8_0, c + 8 * ldc)
        store16(va * c9_0, c + 9 * ldc)
        store16(va * c10_0, c + 10 * ldc)
        store16(va * c11_0, c + 11 * ldc)
    } else {
        let vb = SIMD16<Float>(repeating: beta)
        gemmUpdate(va * c0_0, vb, c + 0 * ldc)
        gemmUpdate(va * c1_0, vb, c + 1 * ldc)
        gemmUpdate(va * c2_0, vb, c + 2 * ldc)
        gemmUpdate(va * c3_0, vb, c + 3 * ldc)
        gemmUpdate(va * c4_0, vb, c + 4 * ldc)
        gemmUpdate(va * c5_0, vb, c + 5 * ldc)
        gemmUpdate(va * c6_0, vb, c + 6 * ldc)
        gemmUpdate(va * c7_0, vb, c + 7 * ldc)
        gemmUpdate(va * c8_0, vb, c + 8 * ldc)
        gemmUpdate(va * c9_0, vb, c + 9 * ldc)
        gemmUpdate(va * c10_0, vb, c + 10 * ldc)
        gemmUpdate(va * c11_0, vb, c + 11 * ldc)
    }
}

/// 4 x 16 register tile: 4 SIMD16<Float> accumulators, 1 SIMD16 of the B row, and one
/// broadcast A element at a time. For p in 0..<kc: acc[i, :] += A[p * 12 + i] * B[p * 32 ..< p * 32 + 16]
/// (rows i in 0..<4 of the packed A sliver starting at `a`, the first 16 columns of the packed B
/// sliver), one FMA per SIMD16; then C[i, :] = alpha * acc[i, :] (+ beta * C[i, :] unless `betaIsZero`).
@inline(never)
internal func gemmKernel4x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                             c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float, betaIsZero: Bool) {
    var c0_0 = SIMD16<Float>()
    var c1_0 = SIMD16<Float>()
    var c2_0 = SIMD16<Float>()
    var c3_0 = SIMD16<Float>()
    var ap = a
    var bp = UnsafeRawPointer(b)
    for _ in 0..<kc {
        let b0 = bp.loadUnaligned(fromByteOffset: 0, as: SIMD16<Float>.self)
        let a0 = ap[0]
        c0_0 = c0_0.addingProduct(b0, a0)
        let a1 = ap[1]
        c1_0 = c1_0.addingProduct(b0, a1)
        let a2 = ap[2]
        c2_0 = c2_0.addingProduct(b0, a2)
        let a3 = ap[3]
        c3_0 = c3_0.addingProduct(b0, a3)
        ap += 12
        bp += 128
    }
    let va = SIMD16<Float>(repeating: alpha)
    if betaIsZero {
        store16(va * c0_0, c + 0 * ldc)
        store16(va * c1_0, c + 1 * ldc)
        store16(va * c2_0, c + 2 * ldc)
        store16(va * c3_0, c + 3 * ldc)
    } else {
        let vb = SIMD16<Float>(repeating: beta)
        gemmUpdate(va * c0_0, vb, c + 0 * ldc)
        gemmUpdate(va * c1_0, vb, c + 1 * ldc)
        gemmUpdate(va * c2_0, vb, c + 2 * ldc)
        gemmUpdate(va * c3_0, vb, c + 3 * ldc)
    }
}
