import CIntrinsics

// Small unsafe helpers shared by the SIMD code (one copy each: the kernels, the instruments and the
// data path).

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
/// (`FlipSensitivity.squares` ran at a third of its speed), in the same lanes and order. The
/// floats are read one by one, not as a `SIMD4<Float>` load whose lanes are then extracted: in
/// `ParameterSquares.squares` (a loop around a closure call) that form compiled to scalar
/// converts, blends and broadcasts, 3.2% of a tracked MLP step.
@inline(__always)
func loadWidened4(_ p: UnsafePointer<Float>) -> SIMD4<Double> {
    SIMD4<Double>(Double(p[0]), Double(p[1]), Double(p[2]), Double(p[3]))
}

/// Eight floats from `p` (unaligned) as Doubles, exactly, in one `SIMD8<Double>`.
@inline(__always)
func loadWidened8(_ p: UnsafePointer<Float>) -> SIMD8<Double> {
    SIMD8<Double>(lowHalf: loadWidened4(p), highHalf: loadWidened4(p + 4))
}

/// Sixteen bytes from `p` (unaligned) as Floats, exactly: one `vpmovzxbd` and one `vcvtdq2ps`.
/// Written lane by lane because the generic `SIMD16<Float>(SIMD16<UInt8>)` conversion was not
/// specialised inside a closure: `PixelRule.convert` called it once per 16 bytes (2% of a
/// tracked MLP step, most of it the call's `vzeroupper`).
@inline(__always)
func loadBytesWidened16(_ p: UnsafePointer<UInt8>) -> SIMD16<Float> {
    let v = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt8>.self)
    return SIMD16<Float>(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3]), Float(v[4]), Float(v[5]), Float(v[6]), Float(v[7]),
                         Float(v[8]), Float(v[9]), Float(v[10]), Float(v[11]), Float(v[12]), Float(v[13]), Float(v[14]), Float(v[15]))
}

/// Prefetches the cache lines of `count` bytes from `start`, for reading or, with `forWriting`,
/// for writing: one hint per 64-byte step and one for the last byte, whose line the steps miss when
/// `start` is not line-aligned (a hint never faults, so the range may run past an allocation).
func prefetchBytes(_ start: UnsafeRawPointer, count: Int, forWriting: Bool = false) {
    @inline(__always) func hint(_ address: UnsafeRawPointer) {
        if forWriting { regime_prefetch_write(address) } else { regime_prefetch(address) }
    }
    var offset = 0
    while offset < count {
        hint(start + offset)
        offset += 64
    }
    if count > 0 { hint(start + (count - 1)) }
}

/// The lanes of a 16-lane comparison as an integer: bit i is set exactly when lane i is true (on
/// AVX-512 the compare's mask register moved to a general one, `kmovw`). Swift has no such
/// operation; selecting 1 << i into the true lanes and summing them (the way it was written before)
/// compiled to lane extractions and a call to the generic `wrappedSum` per vector, 5% of a tracked
/// CNN step in `PatternSet.store`. Any 16-lane mask of 32-bit lanes (Float, Int32, UInt32) has this type.
@inline(__always)
func laneBits(_ mask: SIMDMask<SIMD16<Int32>>) -> UInt16 {
    regime_lane_bits16(SIMD16<Int32>().replacing(with: -1, where: mask))
}

/// The high 16 bits of the magnitudes of the 32 floats at `p` (unaligned), in order: a magnitude's
/// bit pattern rounded down to a multiple of 2^16, i.e. to 7 bits of mantissa. Two loads, one word
/// permute and one and (`regime_magnitude_halves32`).
@inline(__always)
func loadMagnitudeHalves32(_ p: UnsafePointer<Float>) -> SIMD32<UInt16> {
    let raw = UnsafeRawPointer(p)
    return regime_magnitude_halves32(raw.loadUnaligned(as: SIMD16<Int32>.self),
                                     raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Int32>.self))
}

/// The IEEE square root of each lane, correctly rounded (the bits of `Float.squareRoot()` lane by
/// lane): one `vsqrtps` (`regime_sqrt16`). `SIMD16<Float>.squareRoot()` compiled to sixteen scalar
/// square roots, each behind libm's errno branch.
@inline(__always)
func squareRoot16(_ x: SIMD16<Float>) -> SIMD16<Float> { regime_sqrt16(x) }

/// v[0..<16] transposed in place (v[r][c] becomes v[c][r]): `regime_transpose16x16`, 64 two-source
/// permutes with the rows in registers.
@inline(__always)
func transpose16x16(_ v: UnsafeMutablePointer<SIMD16<Float>>) {
    regime_transpose16x16(UnsafeMutableRawPointer(v).assumingMemoryBound(to: Float.self))
}
