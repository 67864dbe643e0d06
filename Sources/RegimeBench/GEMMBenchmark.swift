import Foundation
import RegimeCore

// Throughput benchmark of `sgemm` (and of the naive `sgemmReference` for small sizes), used by
// `regime bench`.

/// One measured (size, variant): square m = n = k = `size`.
public struct GEMMBenchmarkRow: Sendable, Equatable, Codable {
    /// m = n = k.
    public var size: Int
    /// "NN" (C = A B), "TN" (C = A^T B) or "NT" (C = A B^T), all operands contiguous.
    public var variant: String
    /// Best-of-runs GFLOP/s of `sgemm` (2 n^3 flops / best wall time).
    public var fastGFLOPS: Double
    /// Best-of-runs GFLOP/s of `sgemmReference`; nil above `benchmarkGEMMNaiveMaxSize`.
    public var naiveGFLOPS: Double?

    public init(size: Int, variant: String, fastGFLOPS: Double, naiveGFLOPS: Double?) {
        self.size = size
        self.variant = variant
        self.fastGFLOPS = fastGFLOPS
        self.naiveGFLOPS = naiveGFLOPS
    }
}

/// The naive kernel is only timed up to this size (it runs at ~1 GFLOP/s).
public let benchmarkGEMMNaiveMaxSize = 512

/// Times `sgemm` for each size in `sizes` and each variant NN, TN, NT (alpha = 1, beta = 0, square
/// contiguous operands filled with deterministic pseudo-random values in [-1, 1)). Each timing is
/// the best single-call wall time (monotonic `ContinuousClock`) over repeated calls lasting at
/// least `minSeconds` (and at least 3 calls); one untimed warm-up call precedes them. The naive
/// reference is timed the same way for sizes <= `benchmarkGEMMNaiveMaxSize` (at least 1 call).
public func benchmarkGEMM(sizes: [Int], minSeconds: Double) -> [GEMMBenchmarkRow] {
    var rows: [GEMMBenchmarkRow] = []
    for size in sizes where size > 0 {
        let operands = GEMMBenchmarkOperands(size: size)
        let flops = gemmFlops(m: size, n: size, k: size)
        for variant in GEMMBenchmarkOperands.variants {
            let fast = gemmBenchBestSeconds(minSeconds: minSeconds, minRuns: 3, warmup: true) { operands.multiply(variant) }
            var naive: Double? = nil
            if size <= benchmarkGEMMNaiveMaxSize {
                let t = gemmBenchBestSeconds(minSeconds: minSeconds, minRuns: 1, warmup: false) {
                    operands.multiply(variant, naive: true)
                }
                naive = flops / t / 1e9
            }
            rows.append(GEMMBenchmarkRow(size: size, variant: variant, fastGFLOPS: flops / fast / 1e9,
                                         naiveGFLOPS: naive))
        }
    }
    return rows
}

/// The square operands of one benchmark size (A and B filled with deterministic pseudo-random
/// values in [-1, 1)), and the products the benchmark times on them.
final class GEMMBenchmarkOperands {
    /// The variants timed, as `GEMMBenchmarkRow.variant` names them.
    static let variants = ["NN", "TN", "NT"]
    let size: Int
    private let a: FloatBuffer, b: FloatBuffer, c: FloatBuffer

    init(size: Int) {
        self.size = size
        let count = size * size
        (a, b, c) = (FloatBuffer(count: count), FloatBuffer(count: count), FloatBuffer(count: count))
        var rng = SplitMix64(state: 0x9E37_79B9_7F4A_7C15 &* UInt64(size))
        for i in 0..<count { a.pointer[i] = rng.nextSymmetricFloat() }
        for i in 0..<count { b.pointer[i] = rng.nextSymmetricFloat() }
    }

    /// C = op(A) op(B) for `variant` ("NN", "TN" or "NT"), by `sgemm` or, `naive`, `sgemmReference`.
    func multiply(_ variant: String, naive: Bool = false) {
        precondition(Self.variants.contains(variant), "GEMMBenchmarkOperands: unknown variant \(variant)")
        let (transA, transB) = (variant.hasPrefix("T"), variant.hasSuffix("T"))
        let n = size
        if naive {
            sgemmReference(transA: transA, transB: transB, m: n, n: n, k: n, alpha: 1, a: a.pointer, lda: n, b: b.pointer,
                           ldb: n, beta: 0, c: c.pointer, ldc: n)
        } else {
            sgemm(transA: transA, transB: transB, m: n, n: n, k: n, alpha: 1, a: a.pointer, lda: n, b: b.pointer, ldb: n,
                  beta: 0, c: c.pointer, ldc: n)
        }
    }
}

/// A GEMM timed in the same rounds of turns as the training loops (`benchmarkArchitectures`): the
/// three variants of the size of the GEMM table's fastest row, each rate from the median call
/// (thread CPU time), as the loops' rates come from their median steps; the reference rate is
/// the fastest variant's.
///
/// Why: the GEMM table is timed once, before the loops, as the best call; on this machine kind
/// the core's clock changes over minutes (one run's table had the FMA peak at 214 GFLOP/s and the
/// GEMM at 197 while the loops ran at their usual rates, against 179 and 167 in the runs around
/// it), so a loop's fraction of that rate moved by 15% with no change in the loop. Timed in the
/// same rounds, a change of clock falls on the GEMM and the loops alike. All three variants:
/// which one has the best single call is a lottery (one run's was TN, whose median call in
/// turns was 160 GFLOP/s against NN's usual 174), and the loops are compared with the GEMM at its
/// fastest.
public struct GEMMInTurns: Sendable, Equatable, Codable {
    public var size: Int
    public var variant: String
    /// 2 n^3 / the median call's thread CPU seconds, / 1e9.
    public var gflops: Double
}

/// Best wall time in seconds of `body` over calls lasting at least `minSeconds` in total.
internal func gemmBenchBestSeconds(minSeconds: Double, minRuns: Int, warmup: Bool, _ body: () -> Void) -> Double {
    if warmup { body() }
    let clock = ContinuousClock()
    let start = clock.now
    var best = Double.infinity
    var runs = 0
    while runs < minRuns || gemmBenchSeconds(start.duration(to: clock.now)) < minSeconds {
        let t0 = clock.now
        body()
        best = min(best, gemmBenchSeconds(t0.duration(to: clock.now)))
        runs += 1
    }
    return best
}

@inline(__always)
internal func gemmBenchSeconds(_ d: Duration) -> Double {
    let (s, atto) = d.components
    return Double(s) + Double(atto) * 1e-18
}

