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
