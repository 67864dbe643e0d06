import Dispatch
import Synchronization
import XCTest
@testable import RegimeCore

final class GEMMTests: XCTestCase {
    /// Deterministic values in [-1, 1) (the engine's SplitMix64).
    private struct Rng {
        var generator: SplitMix64
        init(state: UInt64) { generator = SplitMix64(state: state) }
        mutating func next() -> Float { generator.nextSymmetricFloat() }
    }

    private struct Case {
        var transA: Bool, transB: Bool
        var m: Int, n: Int, k: Int
        var alpha: Float, beta: Float
        var padA = 0, padB = 0, padC = 0
        /// When set, call the internal blocked driver with these block sizes instead of `sgemm`
        /// (to cross KC / NC / MC block boundaries with small, debug-fast shapes).
        var blocks: (kc: Int, nc: Int, mc: Int)? = nil
    }

    /// Runs sgemm and sgemmReference on the same inputs and checks every element of C against
    /// the reference within 1e-5 * sum_p |op(A)[i,p]| |op(B)[p,j]| (+ |beta C| scale) + 1e-30.
    /// Returns false (after recording a failure describing the first bad element) on mismatch.
    @discardableResult
    private func check(_ t: Case, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let rowsA = t.transA ? t.k : t.m, colsA = t.transA ? t.m : t.k
        let rowsB = t.transB ? t.n : t.k, colsB = t.transB ? t.k : t.n
        let lda = colsA + t.padA, ldb = colsB + t.padB, ldc = t.n + t.padC
        var rng = Rng(state: seed)
        let a = (0..<max(1, rowsA * lda)).map { _ in rng.next() }
        let b = (0..<max(1, rowsB * ldb)).map { _ in rng.next() }
        var c0 = (0..<max(1, t.m * ldc)).map { _ in rng.next() }
        if t.beta == 0 {
            for i in 0..<t.m { for j in 0..<t.n { c0[i * ldc + j] = .nan } }
        }
        var fast = c0, ref = c0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                fast.withUnsafeMutableBufferPointer { pc in
                    if let blocks = t.blocks {
                        gemmBlocked(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                                    a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                    beta: t.beta, c: pc.baseAddress!, ldc: ldc, kcBlock: blocks.kc, ncBlock: blocks.nc,
                                    mcBlock: blocks.mc)
                    } else {
                        sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                              a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                              beta: t.beta, c: pc.baseAddress!, ldc: ldc)
                    }
                }
                ref.withUnsafeMutableBufferPointer { pc in
                    sgemmReference(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                                   a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                   beta: t.beta, c: pc.baseAddress!, ldc: ldc)
                }
            }
        }
        // sum_p |op(A)[i,p]| |op(B)[p,j]|, via the reference kernel on |A| and |B|.
        let absA = a.map { abs($0) }, absB = b.map { abs($0) }
        var sumAbs = [Float](repeating: 0, count: max(1, t.m * ldc))
        absA.withUnsafeBufferPointer { pa in
            absB.withUnsafeBufferPointer { pb in
                sumAbs.withUnsafeMutableBufferPointer { pc in
                    sgemmReference(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: abs(t.alpha),
                                   a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                   beta: 0, c: pc.baseAddress!, ldc: ldc)
                }
            }
        }

        var firstBad: (i: Int, j: Int, got: Float, want: Float, tol: Float)? = nil
        var badCount = 0
        var maxDiff: Float = 0
        for i in 0..<t.m {
            for j in 0..<t.n {
                let scale = sumAbs[i * ldc + j] + (t.beta == 0 ? 0 : abs(t.beta * c0[i * ldc + j]))
                let tol = 1e-5 * scale + 1e-30
                let got = fast[i * ldc + j], want = ref[i * ldc + j]
                let diff = abs(got - want)
                if !(diff <= tol) {
                    badCount += 1
                    if firstBad == nil { firstBad = (i, j, got, want, tol) }
                }
                if diff.isNaN { maxDiff = .nan } else if !maxDiff.isNaN { maxDiff = max(maxDiff, diff) }
            }
        }
        // Padding of C (columns n ..< ldc) must be untouched.
        var padTouched = false
        for i in 0..<t.m {
            for j in t.n..<ldc where fast[i * ldc + j].bitPattern != c0[i * ldc + j].bitPattern {
                padTouched = true
            }
        }
        var desc = "transA=\(t.transA) transB=\(t.transB) m=\(t.m) n=\(t.n) k=\(t.k) alpha=\(t.alpha) beta=\(t.beta) lda=\(lda) ldb=\(ldb) ldc=\(ldc)"
        if let blocks = t.blocks { desc += " KC=\(blocks.kc) NC=\(blocks.nc) MC=\(blocks.mc)" }
        if let f = firstBad {
            XCTFail("sgemm mismatch [\(desc)]: \(badCount) bad elements; first at (\(f.i), \(f.j)): got \(f.got), reference \(f.want), tol \(f.tol); largest |diff| \(maxDiff)",
                    file: file, line: line)
            return false
        }
        if padTouched {
            XCTFail("sgemm wrote into the padding of C [\(desc)]", file: file, line: line)
            return false
        }
        return true
    }

    func testAwkwardShapesAllTranspositions() {
        let dims = [1, 7, 33, 257]
        var seed: UInt64 = 1
        var failures = 0
        for transA in [false, true] {
            for transB in [false, true] {
                for m in dims {
                    for n in dims {
                        for k in dims {
                            // The 257^3 cube costs as much as the rest of the grid in a debug build:
                            // run it for NN and TT only (NT and TN still get every other shape,
                            // including 257 x 257 x 33).
                            if m == 257 && n == 257 && k == 257 && transA != transB { continue }
                            // One beta per shape, rotating through {0, 1, 0.5}, keeps the debug
                            // build fast while every shape and every beta is still covered.
                            seed &+= 1
                            let beta: Float = [0, 1, 0.5][Int(seed % 3)]
                            let pad = Int(seed % 4)  // 0...3 extra columns
                            let t = Case(transA: transA, transB: transB, m: m, n: n, k: k,
                                         alpha: 1.5, beta: beta, padA: pad, padB: 3 - pad, padC: pad + 1)
                            if !check(t, seed: seed) { failures += 1 }
                            if failures > 5 { return }  // enough detail; don't flood the log
                        }
                    }
                }
            }
        }
    }

    func testSpecificShapes() {
        let shapes: [(Int, Int, Int)] = [(16, 16, 16), (100, 3, 65), (3, 100, 65), (12, 32, 1),
                                         (13, 33, 385), (24, 64, 384), (25, 481, 20), (1, 1000, 3),
                                         (50, 40, 800), (20, 64, 70), (128, 96, 200)]  // 8-row edges
        var seed: UInt64 = 1000
        for (m, n, k) in shapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    seed &+= 1
                    let (alpha, beta): (Float, Float) = [(1, 0), (-0.75, 1), (2, 0.5)][Int(seed % 3)]
                    check(Case(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                               beta: beta, padA: 3, padB: 5, padC: 7), seed: seed)
                }
            }
        }
    }

    /// Crosses the real KC (512) block boundary and every m % 12 / n % 32 edge kind.
    func testLargeBlockBoundaries() {
        check(Case(transA: false, transB: false, m: 37, n: 500, k: 800, alpha: 1, beta: 0.5, padC: 3), seed: 77)
        check(Case(transA: true, transB: true, m: 29, n: 90, k: 1030, alpha: -1, beta: 0, padA: 1, padB: 1), seed: 78)
        // n > NC = 2048: two column panels (kept thin so the debug reference stays fast).
        check(Case(transA: false, transB: true, m: 5, n: 2100, k: 20, alpha: 1, beta: 1), seed: 79)
    }

    /// The blocked driver with small KC / NC / MC, so several rank-kc updates (beta applied once,
    /// then accumulation), column panels and row blocks, including uneven ones, run on small shapes.
    func testSmallBlocks() {
        var seed: UInt64 = 500
        for (kc, nc, mc) in [(1, 32, 12), (7, 64, 24), (16, 32, 96), (33, 96, 12)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for (m, n, k) in [(13, 70, 40), (25, 33, 17), (4, 129, 50)] {
                        seed &+= 1
                        let beta: Float = [0, 1, 0.5][Int(seed % 3)]
                        check(Case(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, beta: beta,
                                   padA: 1, padB: 2, padC: 3, blocks: (kc, nc, mc)), seed: seed)
                    }
                }
            }
        }
    }

    /// k == 0 and alpha == 0 reduce to C = beta * C; beta == 0 then overwrites NaNs with zeros.
    func testDegenerate() {
        var c: [Float] = [.nan, 2, .nan, 4]
        let a: [Float] = [1, 2], b: [Float] = [3, 4]
        sgemm(transA: false, transB: false, m: 2, n: 2, k: 0, alpha: 1, a: a, lda: 1, b: b, ldb: 2,
              beta: 0, c: &c, ldc: 2)
        XCTAssertEqual(c, [0, 0, 0, 0])
        c = [1, 2, 3, 4]
        sgemm(transA: false, transB: false, m: 2, n: 2, k: 1, alpha: 0, a: a, lda: 1, b: b, ldb: 2,
              beta: 0.5, c: &c, ldc: 2)
        XCTAssertEqual(c, [0.5, 1, 1.5, 2])
        // m == 0 / n == 0: nothing touched.
        sgemm(transA: false, transB: false, m: 0, n: 2, k: 1, alpha: 1, a: a, lda: 1, b: b, ldb: 2,
              beta: 0, c: &c, ldc: 2)
        XCTAssertEqual(c, [0.5, 1, 1.5, 2])
        XCTAssertEqual(gemmFlops(m: 2, n: 3, k: 4), 48)
    }

    /// A few entries of C against a Double-precision dot product, for every transposition.
    func testAgainstDouble() {
        let m = 45, n = 70, k = 300
        var rng = Rng(state: 4242)
        let a = (0..<(m * k)).map { _ in rng.next() }   // used as M x K or K x M
        let b = (0..<(k * n)).map { _ in rng.next() }   // used as K x N or N x K
        for transA in [false, true] {
            for transB in [false, true] {
                let lda = transA ? m : k, ldb = transB ? k : n
                var c = [Float](repeating: .nan, count: m * n)
                sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                      b: b, ldb: ldb, beta: 0, c: &c, ldc: n)
                for (i, j) in [(0, 0), (11, 31), (44, 69), (12, 32), (23, 47), (44, 0)] {
                    var exact = 0.0, scale = 0.0
                    for p in 0..<k {
                        let av = Double(transA ? a[p * lda + i] : a[i * lda + p])
                        let bv = Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                        exact += av * bv
                        scale += abs(av * bv)
                    }
                    exact *= 0.5
                    let err = abs(Double(c[i * n + j]) - exact)
                    XCTAssertLessThanOrEqual(err, 1e-6 * scale + 1e-30,
                                             "transA=\(transA) transB=\(transB) C[\(i),\(j)] = \(c[i * n + j]), exact \(exact)")
                }
            }
        }
    }

    /// Same inputs, same shapes, same bits: repeated calls agree exactly.
    func testDeterministic() {
        let m = 61, n = 75, k = 400
        var rng = Rng(state: 9)
        let a = (0..<(m * k)).map { _ in rng.next() }
        let b = (0..<(k * n)).map { _ in rng.next() }
        var c1 = [Float](repeating: 0, count: m * n), c2 = c1
        sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k,
              beta: 0, c: &c1, ldc: n)
        sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k,
              beta: 0, c: &c2, ldc: n)
        XCTAssertEqual(c1.map(\.bitPattern), c2.map(\.bitPattern))
    }
    /// The pooled pack buffers (GEMM+Scratch.swift) are never shared: products of different
    /// shapes computed on four threads at once, each 25 times, equal the same products computed
    /// alone, bit for bit (a shared buffer would mix one call's packs into another's results).
    func testConcurrentCallsGiveTheSerialBits() {
        let shapes = [(m: 128, n: 256, k: 784), (m: 512, n: 256, k: 256), (m: 37, n: 70, k: 300), (m: 300, n: 33, k: 1100)]
        var rng = Rng(state: 99)
        let inputs = shapes.map { s in
            ((0..<(s.m * s.k)).map { _ in rng.next() }, (0..<(s.k * s.n)).map { _ in rng.next() })
        }
        func product(_ i: Int) -> [Float] {
            let s = shapes[i]
            var c = [Float](repeating: 0, count: s.m * s.n)
            inputs[i].0.withUnsafeBufferPointer { a in
                inputs[i].1.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        sgemm(transA: false, transB: false, m: s.m, n: s.n, k: s.k, alpha: 1, a: a.baseAddress!,
                              lda: s.k, b: b.baseAddress!, ldb: s.n, beta: 0, c: c.baseAddress!, ldc: s.n)
                    }
                }
            }
            return c
        }
        let serial = shapes.indices.map(product)
        let mismatches = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: shapes.count) { i in
            for round in 0..<25 {
                let c = product(i)
                if let j = c.indices.first(where: { c[$0].bitPattern != serial[i][$0].bitPattern }) {
                    mismatches.withLock { $0.append("shape \(shapes[i]) round \(round): C[\(j)] = \(c[j]), alone \(serial[i][j])") }
                    return
                }
            }
        }
        let found = mismatches.withLock { $0 }
        XCTAssertTrue(found.isEmpty, "concurrent products differ from serial ones; first: \(found.first ?? "")")
    }

    /// Products with op(A) packed once (`GEMMPackedA`), op(B) packed (`GEMMPackedB`) or both equal
    /// `sgemm` on the unpacked operands bit for bit, for both layouts of A and of B, row counts
    /// with 12- and 96-row edges, column counts with 32-column edges (12-row tiles of at most 16
    /// columns read a row-major A in place, the others pack it) and two panels (n > NC),
    /// depths in one, two and three KC blocks, beta 0 and 1, and one packed A reused with two B;
    /// the first differing element is named.
    func testPackedOperandsGiveTheBitsOfSgemm() {
        var rng = Rng(state: 2026)
        for (m, n, k) in [(1, 1, 1), (13, 40, 7), (97, 33, 512), (256, 256, 784), (200, 65, 1100), (12, 32, 513), (20, 2100, 30),
                          (128, 10, 256)] {
            for transA in [false, true] {
                let lda = (transA ? m : k) + 3
                let a = (0..<((transA ? k : m) * lda)).map { _ in rng.next() }
                let packed = a.withUnsafeBufferPointer { GEMMPackedA(transA: transA, m: m, k: k, a: $0.baseAddress!, lda: lda) }
                for transB in [false, true] {
                    for beta: Float in [0, 1] {
                        for round in 0..<2 {
                            let ldb = (transB ? k : n) + 1, ldc = n + 2
                            let b = (0..<((transB ? n : k) * ldb)).map { _ in rng.next() }
                            let c0 = (0..<(m * ldc)).map { _ in rng.next() }
                            var want = c0, gotA = c0, gotB = c0, gotAB = c0
                            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda, b: b, ldb: ldb,
                                  beta: beta, c: &want, ldc: ldc)
                            let packedB = GEMMPackedB(k: k, n: n)
                            a.withUnsafeBufferPointer { pa in
                                b.withUnsafeBufferPointer { pb in
                                    packedB.pack(transB: transB, b: pb.baseAddress!, ldb: ldb)
                                    gotA.withUnsafeMutableBufferPointer { pc in
                                        sgemm(packedA: packed, transB: transB, n: n, b: pb.baseAddress!, ldb: ldb, alpha: 0.75,
                                              beta: beta, c: pc.baseAddress!, ldc: ldc)
                                    }
                                    gotB.withUnsafeMutableBufferPointer { pc in
                                        sgemm(transA: transA, m: m, a: pa.baseAddress!, lda: lda, packedB: packedB, alpha: 0.75,
                                              beta: beta, c: pc.baseAddress!, ldc: ldc)
                                    }
                                    gotAB.withUnsafeMutableBufferPointer { pc in
                                        sgemm(packedA: packed, packedB: packedB, alpha: 0.75, beta: beta, c: pc.baseAddress!, ldc: ldc)
                                    }
                                }
                            }
                            for (which, got) in [("A", gotA), ("B", gotB), ("A and B", gotAB)] {
                                if let j = got.indices.first(where: { got[$0].bitPattern != want[$0].bitPattern }) {
                                    XCTFail("m=\(m) n=\(n) k=\(k) transA=\(transA) transB=\(transB) beta=\(beta) B #\(round): "
                                            + "C[\(j / ldc), \(j % ldc)] = \(got[j]) with \(which) packed, \(want[j]) unpacked")
                                    return
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The tile hook (`GEMMTileHook`) sees every element of C exactly once, after its value is
    /// final (C there equals the finished product), in increasing row order within each column
    /// panel, for products with row and column edges, one and two depth blocks, and two panels,
    /// through both entries (B packed, and B as a matrix with A transposed).
    func testTileHookSeesEachFinalElementOnceInRowOrder() {
        var rng = Rng(state: 31)
        for (m, n, k) in [(128, 10, 256), (29, 70, 784), (13, 2100, 9), (512, 256, 40)] {
            let a = (0..<(m * k)).map { _ in rng.next() }, b = (0..<(n * k)).map { _ in rng.next() }
            let packedB = b.withUnsafeBufferPointer { pb in
                let p = GEMMPackedB(k: k, n: n)
                p.pack(transB: true, b: pb.baseAddress!, ldb: k)
                return p
            }
            // A^T (k x m), for the entry that takes op(A) = A^T.
            let at = (0..<(k * m)).map { a[($0 % m) * k + $0 / m] }
            var want = [Float](repeating: 0, count: m * n)
            sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 0, c: &want, ldc: n)
            for entry in ["packed B", "transposed A"] {
                var seen = [Int](repeating: 0, count: m * n), early: [String] = [], order: [String] = []
                var lastRow = [Int: Int]()  // per column panel, the last tile's first row
                var c = [Float](repeating: .nan, count: m * n)
                c.withUnsafeMutableBufferPointer { pc in
                    func hook(_ rows: Range<Int>, _ columns: Range<Int>) {
                        let panel = columns.lowerBound / gemmPanelWidth(n: n, ncBlock: gemmNC)
                        if let last = lastRow[panel], last > rows.lowerBound { order.append("rows \(rows) after row \(last)") }
                        lastRow[panel] = rows.lowerBound
                        for i in rows {
                            for j in columns {
                                seen[i * n + j] += 1
                                if pc[i * n + j].bitPattern != want[i * n + j].bitPattern { early.append("C[\(i), \(j)]") }
                            }
                        }
                    }
                    if entry == "packed B" {
                        a.withUnsafeBufferPointer { pa in
                            sgemm(m: m, a: pa.baseAddress!, lda: k, packedB: packedB, alpha: 1, beta: 0, c: pc.baseAddress!,
                                  ldc: n, finished: hook)
                        }
                    } else {
                        at.withUnsafeBufferPointer { pa in
                            b.withUnsafeBufferPointer { pb in
                                sgemm(transA: true, transB: true, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: m,
                                      b: pb.baseAddress!, ldb: k, beta: 0, c: pc.baseAddress!, ldc: n, finished: hook)
                            }
                        }
                    }
                }
                let label = "\(entry) m=\(m) n=\(n) k=\(k)"
                if let e = seen.indices.first(where: { seen[$0] != 1 }) {
                    XCTFail("\(label): C[\(e / n), \(e % n)] seen \(seen[e]) times")
                }
                XCTAssertTrue(early.isEmpty, "\(label): not final when the hook saw it: \(early.prefix(3))")
                XCTAssertTrue(order.isEmpty, "\(label): \(order.prefix(3))")
            }
        }
    }
}
