import Foundation

/// Time and FLOPs spent inside the engine's dense kernels, for `regime bench`'s split of a
/// training step into the kernels and everything else (`ArchitectureBenchmark.kernels`).
///
/// The kernels are the calls that carry the FLOPs `FlopCounting` counts, except the attention
/// products: the GEMMs (`sgemm`, `sgemm(packedB:)`, `sgemmWithEpilogue`) and the convolutions
/// (`conv2dForward`, `conv2dBackward`, `conv2dDirectBackwardThroughPool`), each with what runs
/// inside it: the packing of its operands, its tiles' epilogues (bias, ReLU, the ReLU mask and
/// bias gradient), a convolution's bias gradient, the pool backward fused into the first
/// convolution's. A kernel's FLOPs are 2 x its multiply-adds (`gemmFlops`, and per example
/// `ConvGeometry.flopsPerExample` for each product a convolution call forms). A kernel called
/// inside another (a convolution's im2col GEMM) counts once, in the outer call.
///
/// Everything else in a step is outside: packing the weights after an update, the optimizer,
/// LayerNorm, the attention products and softmax, pooling, the loss, the probe-set instruments,
/// loading the batch. A step's time outside the kernels is what a loop loses against a kernel
/// running alone; its kernels' own rate says how fast they run at the loop's shapes.
///
/// Off unless `measure` runs its body: a kernel call then costs one load and one branch more.
/// While it runs, each kernel call reads the monotonic clock twice, 22 ns a read through the vDSO
/// on this machine kind: a tracked `vit:1x28x28-p7-d64-h4-l2-10` step at batch 128 and probe 512
/// makes 519 kernel calls in about 25 ms (the MLP's 12 in 3 ms, the CNN's 346 in 20 ms), so the
/// clock adds under 0.1%. Wall time, not thread CPU time: that clock costs 244 ns a read here,
/// and on an idle core the two agree. One thread: `measure` is for the bench, whose loops run on
/// its thread; a kernel that another thread runs meanwhile would be counted too.
public enum KernelClock {
    /// What the kernels did: their wall time, FLOPs and outermost calls.
    public struct Reading: Sendable, Equatable, Codable {
        public var seconds = 0.0
        public var flops = 0.0
        public var calls = 0
        public init() {}
    }

    nonisolated(unsafe) private static var running = false
    nonisolated(unsafe) private static var depth = 0
    nonisolated(unsafe) private static var reading = Reading()

    /// Runs `body` with the clock on and returns what the kernels it called did.
    public static func measure(_ body: () throws -> Void) rethrows -> Reading {
        precondition(!running, "KernelClock.measure: already measuring")
        (running, depth, reading) = (true, 0, Reading())
        defer { running = false }
        try body()
        return reading
    }

    /// At the start of a kernel call: its start time while measuring, else nil.
    @inline(__always)
    static func start() -> Double? {
        guard running else { return nil }
        depth += 1
        return Clocks.monotonic()
    }

    /// At the end of a kernel call, with what `start` returned and the call's FLOPs (evaluated
    /// only while measuring); the outermost call adds its time and FLOPs.
    @inline(__always)
    static func stop(_ started: Double?, flops: @autoclosure () -> Double) {
        guard let started else { return }
        depth -= 1
        guard depth == 0 else { return }
        reading.seconds += Clocks.monotonic() - started
        reading.flops += flops()
        reading.calls += 1
    }
}
