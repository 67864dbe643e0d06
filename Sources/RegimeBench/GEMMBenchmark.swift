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
        let count = size * size
        var a = [Float](repeating: 0, count: count)
        var b = [Float](repeating: 0, count: count)
        var c = [Float](repeating: 0, count: count)
        var rng = SplitMix64(state: 0x9E37_79B9_7F4A_7C15 &* UInt64(size))
        for i in 0..<count { a[i] = rng.nextSymmetricFloat() }
        for i in 0..<count { b[i] = rng.nextSymmetricFloat() }
        let flops = gemmFlops(m: size, n: size, k: size)
        for (variant, transA, transB) in [("NN", false, false), ("TN", true, false), ("NT", false, true)] {
            let fast = gemmBenchBestSeconds(minSeconds: minSeconds, minRuns: 3, warmup: true) {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            sgemm(transA: transA, transB: transB, m: size, n: size, k: size, alpha: 1,
                                  a: pa.baseAddress!, lda: size, b: pb.baseAddress!, ldb: size,
                                  beta: 0, c: pc.baseAddress!, ldc: size)
                        }
                    }
                }
            }
            var naive: Double? = nil
            if size <= benchmarkGEMMNaiveMaxSize {
                let t = gemmBenchBestSeconds(minSeconds: minSeconds, minRuns: 1, warmup: false) {
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                sgemmReference(transA: transA, transB: transB, m: size, n: size, k: size,
                                               alpha: 1, a: pa.baseAddress!, lda: size, b: pb.baseAddress!,
                                               ldb: size, beta: 0, c: pc.baseAddress!, ldc: size)
                            }
                        }
                    }
                }
                naive = flops / t / 1e9
            }
            rows.append(GEMMBenchmarkRow(size: size, variant: variant, fastGFLOPS: flops / fast / 1e9,
                                         naiveGFLOPS: naive))
        }
    }
    return rows
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

