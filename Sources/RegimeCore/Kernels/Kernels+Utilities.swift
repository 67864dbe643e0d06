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

/// Four floats from `p` (unaligned) as Doubles, exactly: one `vcvtps2pd` from memory. The Double
/// sums of the instruments keep 8 lanes as two `SIMD4<Double>` halves: with `SIMD8<Double>`, the
/// conversion of eight floats compiled to scalar loads, converts and shuffles around the FMAs
/// (`FlipSensitivity.squares` ran at a third of its speed), in the same lanes and order.
@inline(__always)
func loadWidened4(_ p: UnsafePointer<Float>) -> SIMD4<Double> {
    let x = UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
    return SIMD4<Double>(Double(x[0]), Double(x[1]), Double(x[2]), Double(x[3]))
}
