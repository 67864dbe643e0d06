// Small unsafe helpers shared by the SIMD kernels (one copy each, used by Pooling, Attention and
// Convolution).

/// Sixteen consecutive floats from `p`, which need not be 64-byte aligned (an unaligned vector
/// load; on AVX-512 one `vmovups`).
@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

/// Stores sixteen floats at `p` (unaligned).
@inline(__always)
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// The eight floats as Doubles (exact), lane by lane: LLVM folds this into one `vcvtps2pd`. The
/// generic `SIMD8<Double>(_: SIMD8<Float>)` is not always inlined: `FlipSensitivity.squares`
/// called it out of line, four calls per 16 floats (0.8% of a tracked MLP trial under `perf`).
@inline(__always)
func widen(_ x: SIMD8<Float>) -> SIMD8<Double> {
    SIMD8<Double>(Double(x[0]), Double(x[1]), Double(x[2]), Double(x[3]),
                  Double(x[4]), Double(x[5]), Double(x[6]), Double(x[7]))
}
