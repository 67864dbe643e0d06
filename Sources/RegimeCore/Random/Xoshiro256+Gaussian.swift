/// Bulk standard normal deviates in Float, 32 per 16 generator outputs: the null model's sampler.
///
/// Box-Muller on 16 lanes at once. Output w of the generator gives u1 = (2 (w >> 41) + 1) / 2^24
/// in (0, 1) (never 0, so the logarithm is finite; its smallest value 2^-24 bounds |z| by
/// sqrt(48 ln 2) = 5.77, a tail the exact normal exceeds with probability 8e-9) and the angle
/// 2 pi u2 from the next 24 bits, u2 = ((w >> 16) mod 2^24) / 2^24: its top 2 bits are the
/// quadrant, the other 22 the fraction of a right angle. Then r = sqrt(-2 ln u1), and lane k of a
/// block of 32 values is r cos(2 pi u2), lane k + 16 is r sin(2 pi u2). The pair (r cos, r sin)
/// of exact Box-Muller is two independent N(0, 1); here ln, sin and cos are the polynomials
/// below, accurate to a few Float ulps (tested against Double libm), so the deviates are N(0, 1)
/// up to Float rounding and the uniforms' 23- and 24-bit granularity. Integers become Floats by
/// exponent-field tricks (exact), not by conversions, which the compiler does not vectorise.
///
/// Why not a scalar sampler (the null model used Marsaglia's polar method in Double): it draws
/// points x draws x P deviates per trial (64 x 4 x 270k = 69M for the paper MLP); the polar
/// method with libm's log took 6.5% of a 1500-iteration tracked trial's CPU under `perf`, as much
/// as the null model's probe passes. The polynomials use only +, -, *, / and sqrt on Float (IEEE
/// correctly rounded, never contracted to FMAs by the compiler), so the deviates are the same bits
/// on every machine and libm version, which the polar method's `log` does not promise.
extension Xoshiro256 {
    /// Fills p[0..<count] with standard normal deviates, 32 per block of 16 generator outputs in
    /// order; a last partial block is drawn whole and truncated (the stream advances by
    /// 16 ceil(count / 32) outputs).
    ///
    /// Software-pipelined: the 16 outputs of block b + 1 are drawn (a serial chain of scalar
    /// operations) while block b's Box-Muller (vector operations) runs, so the two overlap; block
    /// b's outputs were stored a block earlier, so its two 8-word vector loads do not wait on
    /// store forwarding from 16 scalar stores. The bit fields come out of the words by vector
    /// shifts and narrowing. Same values and stream as `fillStandardNormalReference`, block by
    /// block (tested); 2.5 -> 1.6 ns per deviate measured on the CI machine kind.
    public mutating func fillStandardNormal(_ p: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        let blocks = (count + 31) / 32
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 32) { ring in
            let words = ring.baseAddress!
            for j in 0..<16 { words[j] = next() }
            for b in 0..<blocks {
                if b + 1 < blocks {
                    let following = words + 16 * ((b + 1) & 1)
                    for j in 0..<16 { following[j] = next() }
                }
                let raw = UnsafeRawPointer(words + 16 * (b & 1))
                let low = raw.loadUnaligned(as: SIMD8<UInt64>.self)
                let high = raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<UInt64>.self)
                let radiusBits = SIMD16(lowHalf: SIMD8<UInt32>(truncatingIfNeeded: low &>> 41),
                                        highHalf: SIMD8<UInt32>(truncatingIfNeeded: high &>> 41))
                let angleBits = SIMD16(lowHalf: SIMD8<UInt32>(truncatingIfNeeded: low &>> 16),
                                       highHalf: SIMD8<UInt32>(truncatingIfNeeded: high &>> 16)) & 0xFF_FFFF
                let (c, s) = GaussianBlock.boxMuller(radiusBits: radiusBits, angleBits: angleBits)
                GaussianBlock.store(c, s, to: p + 32 * b, count: count - 32 * b)
            }
        }
    }

    /// The reference of `fillStandardNormal`: the same deviates, one block at a time, the 16
    /// outputs' bit fields stored lane by lane.
    mutating func fillStandardNormalReference(_ p: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count {
            // Written through a pointer: assigning lanes by a loop index compiles to a broadcast,
            // compare and masked move per lane (measured: 26 ns per deviate instead of ~1).
            var radiusBits = SIMD16<UInt32>(), angleBits = SIMD16<UInt32>()
            withUnsafeMutableBytes(of: &radiusBits) { radius in
                withUnsafeMutableBytes(of: &angleBits) { angle in
                    for lane in 0..<16 {
                        let w = next()
                        radius.storeBytes(of: UInt32(truncatingIfNeeded: w >> 41), toByteOffset: 4 * lane, as: UInt32.self)
                        angle.storeBytes(of: UInt32(truncatingIfNeeded: w >> 16) & 0xFF_FFFF, toByteOffset: 4 * lane,
                                         as: UInt32.self)
                    }
                }
            }
            let (c, s) = GaussianBlock.boxMuller(radiusBits: radiusBits, angleBits: angleBits)
            GaussianBlock.store(c, s, to: p + i, count: count - i)
            i += 32
        }
    }
}

/// The SIMD pieces of `fillStandardNormal`, internal so that tests can hold each against Double libm.
enum GaussianBlock {
    /// A block's deviates to p[0..<min(32, count)]: the cosines, then the sines.
    @inline(__always)
    static func store(_ c: SIMD16<Float>, _ s: SIMD16<Float>, to p: UnsafeMutablePointer<Float>, count: Int) {
        if count >= 32 {
            store16(c, p)
            store16(s, p + 16)
        } else {
            for lane in 0..<min(16, count) { p[lane] = c[lane] }
            for lane in 0..<max(0, count - 16) { p[16 + lane] = s[lane] }
        }
    }

    /// The Float in [0, 1) whose 23 fraction bits are `bits` (< 2^23): 1.bits - 1, exact.
    @inline(__always)
    static func unitFloat(fraction23 bits: SIMD16<UInt32>) -> SIMD16<Float> {
        unsafeBitCast(bits | 0x3F80_0000, to: SIMD16<Float>.self) - 1
    }

    /// Lanes of r cos(2 pi u2) and r sin(2 pi u2): `radiusBits` < 2^23 give u1, `angleBits` < 2^24
    /// give u2 (see the extension).
    @inline(__always)
    static func boxMuller(radiusBits: SIMD16<UInt32>, angleBits: SIMD16<UInt32>) -> (SIMD16<Float>, SIMD16<Float>) {
        let u1 = unitFloat(fraction23: radiusBits) + 0x1.0p-24
        let r = squareRoot(log(u1) * -2)
        let (c, s) = cosSin(quadrant: angleBits &>> 22, fraction: unitFloat(fraction23: (angleBits & 0x3F_FFFF) &<< 1))
        return (r * c, r * s)
    }

    /// sqrt x for x in [2^-126, 2^126]: x times 1/sqrt x, which three Newton steps y(3 - x y^2)/2
    /// bring from the bit-trick first guess (relative error below 3.5%) to Float rounding
    /// (3.5% -> 1.8e-3 -> 4.9e-6 -> 4e-11 before rounding). `SIMD16.squareRoot()` compiles to
    /// sixteen scalar square roots with libm's errno branch (measured: the whole sampler then ran
    /// lane by lane), and the hardware's reciprocal-root estimate differs between CPU vendors;
    /// this uses +, -, * on Float only, the same bits everywhere. Within 1 ulp (tested).
    @inline(__always)
    static func squareRoot(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let guess = SIMD16<UInt32>(repeating: 0x5F37_59DF) &- (unsafeBitCast(x, to: SIMD16<UInt32>.self) &>> 1)
        var y = unsafeBitCast(guess, to: SIMD16<Float>.self)
        let halfX: SIMD16<Float> = x * 0.5
        for _ in 0..<3 {
            let yy: SIMD16<Float> = y * y
            y = y * (1.5 - halfX * yy)
        }
        // s = x y carries the steps' rounding (measured up to 2.9 ulps); one correction
        // s + (y/2)(x - s^2) takes it to 1 ulp.
        let root: SIMD16<Float> = x * y
        let residual: SIMD16<Float> = x - root * root
        return root + (y * 0.5) * residual
    }

    /// ln x for x in (0, 1] (normal Floats): x = m 2^e with m in [sqrt(1/2), sqrt(2)), then
    /// ln m = 2 atanh(f) with f = (m - 1) / (m + 1), |f| <= 0.1716, summed to 2 f^9 / 9 (the next
    /// term, 2 f^11 / 11, is f^10 / 11 < 2.1e-9 of ln m, far below Float's rounding of 6e-8);
    /// ln x = e ln 2 + ln m with ln 2 split in a high part exact in Float times e and a low part.
    @inline(__always)
    static func log(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let bits = unsafeBitCast(x, to: SIMD16<Int32>.self)
        // Exponent e and mantissa in [1, 2); shift to [sqrt(1/2), sqrt(2)) by moving the
        // mantissas >= sqrt(2) (bits above 0x3FB504F3) down one binade.
        let shifted = bits &- 0x3F35_04F3  // the bits of sqrt(1/2): m >= sqrt(1/2) iff no borrow
        let e = shifted &>> 23
        let mBits = (shifted & 0x007F_FFFF) &+ 0x3F35_04F3
        let m = unsafeBitCast(mBits, to: SIMD16<Float>.self)
        let one = SIMD16<Float>(repeating: 1)
        let f: SIMD16<Float> = (m - one) / (m + one)
        let f2: SIMD16<Float> = f * f
        var series = f2 * (Float(1) / 9)
        series = f2 * (series + Float(1) / 7)
        series = f2 * (series + Float(1) / 5)
        series = f2 * (series + Float(1) / 3)
        let twoF: SIMD16<Float> = f + f
        let lnM: SIMD16<Float> = twoF + twoF * series
        // e in [-126, 0] as a Float, exactly: 2^23 + (e + 128) has the fraction bits e + 128.
        let eF = unsafeBitCast(e &+ (0x4B00_0000 + 128), to: SIMD16<Float>.self) - (0x1.0p23 + 128)
        let ln2High: Float = 0.693_145_751_953_125  // 0x1.62e4p-1: 16 significant bits, e * it is exact
        let ln2Low: Float = 1.428_606_820_309_417e-06  // ln 2 - ln2High
        let low: SIMD16<Float> = lnM + eF * ln2Low
        return eF * ln2High + low
    }

    /// (cos, sin) of the angle (quadrant + fraction) pi/2, quadrant in 0...3, fraction in [0, 1):
    /// a = (fraction - 1/2) pi/2 in [-pi/4, pi/4); Taylor series of sin a to a^9 and cos a to
    /// a^10 (truncation below 2e-8 and 1.2e-9); the angle a + pi/4 by the addition formulas and
    /// the quadrant by a rotation of (cos, sin) through that many right angles.
    @inline(__always)
    static func cosSin(quadrant: SIMD16<UInt32>, fraction: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        let a: SIMD16<Float> = (fraction - 0.5) * (Float.pi / 2)
        let a2: SIMD16<Float> = a * a
        let one = SIMD16<Float>(repeating: 1)
        // sin a = a (1 - a^2/6 (1 - a^2/20 (1 - a^2/42 (1 - a^2/72)))), Horner from the inside.
        var sinA: SIMD16<Float> = one - a2 * (Float(1) / 72)
        sinA = one - a2 * (Float(1) / 42) * sinA
        sinA = one - a2 * (Float(1) / 20) * sinA
        sinA = one - a2 * (Float(1) / 6) * sinA
        sinA = a * sinA
        // cos a = 1 - a^2/2 (1 - a^2/12 (1 - a^2/30 (1 - a^2/56 (1 - a^2/90)))).
        var cosA: SIMD16<Float> = one - a2 * (Float(1) / 90)
        cosA = one - a2 * (Float(1) / 56) * cosA
        cosA = one - a2 * (Float(1) / 30) * cosA
        cosA = one - a2 * (Float(1) / 12) * cosA
        cosA = one - a2 * (Float(1) / 2) * cosA
        let half: Float = 0.707_106_781_186_547_5  // sqrt(1/2)
        let c: SIMD16<Float> = (cosA - sinA) * half  // cos(a + pi/4)
        let s: SIMD16<Float> = (cosA + sinA) * half  // sin(a + pi/4)
        // The rotation by bits: an odd quadrant maps (c, s) to (-s, c), quadrants 2 and 3 negate
        // both (a lane-wise `.==` and `replace` compile to a scalar loop over the lanes).
        let swap = SIMD16<UInt32>(repeating: 0) &- (quadrant & 1)  // all ones in odd quadrants
        let flip = (quadrant &>> 1) &<< 31  // the sign bit in quadrants 2 and 3
        let cBits = unsafeBitCast(c, to: SIMD16<UInt32>.self), sBits = unsafeBitCast(s, to: SIMD16<UInt32>.self)
        let minusSBits = sBits ^ 0x8000_0000
        let cosBits = ((cBits & ~swap) | (minusSBits & swap)) ^ flip
        let sinBits = ((sBits & ~swap) | (cBits & swap)) ^ flip
        let cosOut = unsafeBitCast(cosBits, to: SIMD16<Float>.self)
        let sinOut = unsafeBitCast(sinBits, to: SIMD16<Float>.self)
        return (cosOut, sinOut)
    }
}
