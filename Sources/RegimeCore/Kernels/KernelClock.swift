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
/// `measureCalls` also lists each outermost call with its shape (`Shape`), which `regime bench`
/// groups to show which shapes run slowest at the loop's sizes.
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

    /// A kernel call's kind and shape: for a GEMM, C (m x n) += op(A) (m x k) op(B); for a
    /// convolution, the examples (m), output channels (n) and patch size (k: taps x input
    /// channels), and its output positions.
    public struct Shape: Sendable, Hashable, Codable {
        public enum Kind: String, Sendable, Codable {
            /// `sgemm`, `sgemm(packedB:)` (with an operand packed beforehand), `sgemmWithEpilogue`.
            case gemm, gemmPacked = "gemm packed", gemmEpilogue = "gemm epilogue"
            /// `conv2dForward`, `conv2dBackward` (weight and, if asked, input gradients),
            /// `conv2dDirectBackwardThroughPool`.
            case convForward = "conv forward", convBackward = "conv backward"
            case convBackwardThroughPool = "conv backward through pool"
        }
        public var kind: Kind
        public var m: Int, n: Int, k: Int
        public var positions = 0
        /// Whether A enters transposed (op(A) = A^T), for the GEMMs.
        public var transA = false

        public init(kind: Kind, m: Int, n: Int, k: Int, positions: Int = 0, transA: Bool = false) {
            (self.kind, self.m, self.n, self.k, self.positions, self.transA) = (kind, m, n, k, positions, transA)
        }

        /// As the bench prints it: "gemm packed 192x64x256", "gemm 256x64x512 A^T",
        /// "conv forward 5 ex x 32 ch x 144 taps x 196 pos".
        public var description: String {
            switch kind {
            case .gemm, .gemmPacked, .gemmEpilogue: return "\(kind.rawValue) \(m)x\(n)x\(k)" + (transA ? " A^T" : "")
            case .convForward, .convBackward, .convBackwardThroughPool:
                return "\(kind.rawValue) \(m) ex x \(n) ch x \(k) taps x \(positions) pos"
            }
        }
    }

    /// One outermost kernel call, as `measureCalls` lists it.
    public struct Call: Sendable, Equatable {
        public var shape: Shape
        public var seconds: Double
        public var flops: Double

        public init(shape: Shape, seconds: Double, flops: Double) {
            (self.shape, self.seconds, self.flops) = (shape, seconds, flops)
        }
    }

    nonisolated(unsafe) private static var running = false
    nonisolated(unsafe) private static var depth = 0
    nonisolated(unsafe) private static var reading = Reading()
    nonisolated(unsafe) private static var listing = false
    nonisolated(unsafe) private static var calls: [Call] = []

    /// Runs `body` with the clock on and returns what the kernels it called did.
    public static func measure(_ body: () throws -> Void) rethrows -> Reading {
        try measure(listing: false, body).reading
    }

    /// `measure`, and each outermost kernel call in the order made (its shape formed only here).
    public static func measureCalls(_ body: () throws -> Void) rethrows -> (reading: Reading, calls: [Call]) {
        try measure(listing: true, body)
    }

    private static func measure(listing list: Bool, _ body: () throws -> Void) rethrows -> (reading: Reading, calls: [Call]) {
        precondition(!running, "KernelClock.measure: already measuring")
        (running, depth, reading, listing, calls) = (true, 0, Reading(), list, [])
        defer { (running, calls) = (false, []) }
        try body()
        return (reading, calls)
    }

    /// At the start of a kernel call: its start time while measuring, else nil.
    @inline(__always)
    static func start() -> Double? {
        guard running else { return nil }
        depth += 1
        return Clocks.monotonic()
    }

    /// At the end of a kernel call, with what `start` returned, the call's shape and its FLOPs
    /// (2 x multiply-adds; both evaluated only while measuring); the outermost call adds its time
    /// and FLOPs.
    @inline(__always)
    static func stop(_ started: Double?, _ shape: @autoclosure () -> Shape, flops: @autoclosure () -> Double) {
        guard let started else { return }
        depth -= 1
        guard depth == 0 else { return }
        let seconds = Clocks.monotonic() - started, shape = shape(), callFlops = flops()
        reading.seconds += seconds
        reading.flops += callFlops
        reading.calls += 1
        if listing { calls.append(Call(shape: shape, seconds: seconds, flops: callFlops)) }
    }
}

extension ConvGeometry {
    /// A convolution call's shape for `KernelClock`.
    func kernelShape(_ kind: KernelClock.Shape.Kind, batch: Int) -> KernelClock.Shape {
        KernelClock.Shape(kind: kind, m: batch, n: outChannels, k: patchSize, positions: positions)
    }
}
