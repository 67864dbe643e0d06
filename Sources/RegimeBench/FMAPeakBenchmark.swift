import Foundation
import RegimeCore

// The core's fp32 fused multiply-add peak, the ceiling every other rate of `regime bench` is
// compared with.

/// Independent accumulator chains of the peak loop. An FMA's result is the next FMA's input on
/// the same chain, so one chain issues one FMA per FMA latency (4 cycles on Zen 4); with one
/// 512-bit FMA per cycle (two 256-bit halves) at least 4 chains keep the pipes full, 8 on a core
/// with two 512-bit pipes. 16 covers both with room for a longer latency and still fits the 32
/// vector registers of AVX-512 (16 accumulators + 2 operands), so nothing spills.
let fmaPeakChains = 16

/// One timed call of the peak loop: `steps` x 16 chains x 16 lanes FMAs. Each step does, per chain,
/// acc = acc + x * y (one `SIMD16<Float>` FMA) with x = 1 + 2^-20 and y = 2^-20: the accumulators grow
/// by about 1e-6 per step (no overflow, no denormals, whose slow paths would distort the rate), and
/// their sum is returned so that the compiler cannot drop the loop.
@inline(never)
func fmaPeakLoop(steps: Int, x: Float, y: Float) -> Float {
    let vx = SIMD16<Float>(repeating: x), vy = SIMD16<Float>(repeating: y)
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
    var a8 = SIMD16<Float>(), a9 = SIMD16<Float>(), a10 = SIMD16<Float>(), a11 = SIMD16<Float>()
    var a12 = SIMD16<Float>(), a13 = SIMD16<Float>(), a14 = SIMD16<Float>(), a15 = SIMD16<Float>()
    for _ in 0..<steps {
        a0 = a0.addingProduct(vx, vy); a1 = a1.addingProduct(vx, vy)
        a2 = a2.addingProduct(vx, vy); a3 = a3.addingProduct(vx, vy)
        a4 = a4.addingProduct(vx, vy); a5 = a5.addingProduct(vx, vy)
        a6 = a6.addingProduct(vx, vy); a7 = a7.addingProduct(vx, vy)
        a8 = a8.addingProduct(vx, vy); a9 = a9.addingProduct(vx, vy)
        a10 = a10.addingProduct(vx, vy); a11 = a11.addingProduct(vx, vy)
        a12 = a12.addingProduct(vx, vy); a13 = a13.addingProduct(vx, vy)
        a14 = a14.addingProduct(vx, vy); a15 = a15.addingProduct(vx, vy)
    }
    let s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15))
    return s.sum()
}

/// The measured fp32 FMA peak of the calling thread's core.
public struct FMAPeakBenchmark: Sendable, Equatable, Codable {
    /// Best GFLOP/s (an FMA counts 2 flops) over the timed calls, in thread CPU time (time the thread
    /// was on a core: on a shared machine, other processes' turns do not count).
    public var gflops: Double
    /// Independent accumulator chains (`fmaPeakChains`) x SIMD lanes.
    public var chains: Int
    public var lanes: Int
}

/// Times `fmaPeakLoop` in calls of 2^20 steps (2^29 flops, ~5 ms at 100 GFLOP/s: long enough for
/// the clock, short enough that a scheduler tick rarely lands in the best call), one untimed
/// warm-up call (which also lets the core reach its AVX-512 frequency), then calls for at least
/// `seconds` and at least 5; returns the best rate.
public func benchmarkFMAPeak(seconds: Double) -> FMAPeakBenchmark {
    let steps = 1 << 20
    let flops = Double(steps * fmaPeakChains * 16 * 2)
    let x: Float = 1 + 0x1p-20, y: Float = 0x1p-20
    var sink = fmaPeakLoop(steps: steps, x: x, y: y)
    let start = Clocks.monotonic()
    var best = Double.infinity, calls = 0
    while calls < 5 || Clocks.monotonic() - start < seconds {
        let t0 = Clocks.threadCPU()
        sink += fmaPeakLoop(steps: steps, x: x, y: y)
        best = min(best, Clocks.threadCPU() - t0)
        calls += 1
    }
    precondition(sink.isFinite, "FMA peak loop overflowed")
    return FMAPeakBenchmark(gflops: flops / best / 1e9, chains: fmaPeakChains, lanes: 16)
}
