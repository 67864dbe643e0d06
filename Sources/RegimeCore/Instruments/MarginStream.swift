import CIntrinsics

/// One pattern layer's probe pass as the margin meter sees it (docs/numerics.md, "Stability
/// margins"): one pass over each delivered block of pre-activations, while it is in cache, that
/// takes both what the margins need without keeping the values.
///
/// - The sum of squares, in the lanes of `MarginMeter.squareLanes`: the pass delivers the layer's
///   n values in order, and element i < n - n % 8 is added to lane i % 8 with the same fused
///   multiply-add, in the same order, as one `squareLanes` over the whole array; the last n % 8
///   values are kept and squared after the lanes, as `finishSquares` does. So `sumOfSquares` is the
///   bits of `MarginMeter.sumOfSquares` over the whole pass.
/// - For each δ (up to three: lane 3 of the SIMD4s is unused), a band [lower_δ, lower_δ + width_δ) of magnitude bit patterns
///   (|x| as bits: `x.bitPattern & 0x7FFFFFFF`, which orders non-negative Floats): the values below
///   the band are counted, the values inside it are kept (in the meter's band buffer). Once the
///   pass is over and s is known, the count below the limit f_δ (as bits b_δ) is exact whenever
///   lower_δ <= b_δ <= lower_δ + width_δ: #{a < b_δ} = #{a < lower_δ} + #{kept: lower_δ <= a < b_δ},
///   since every value with lower_δ <= a < b_δ is inside the band and kept once.
///
/// A store that does not continue where the previous one ended (position 0 starts a new pass)
/// leaves the stream unusable (`sumOfSquares` nil): the meter needs each layer's values in order.
struct MarginStream {
    /// The bands, as magnitude bit patterns; an unused δ lane has width 0 (keeps nothing) and
    /// lower 0 (counts nothing below). Lane 3 must be unused (the vector loop reads lanes 0-2).
    let lower: SIMD4<UInt32>, widths: SIMD4<UInt32>
    private(set) var lanes = SIMD8<Double>()
    /// Positions n - n % 8 ..< n (squared after the lanes).
    private var tail = SIMD8<Float>()
    /// The position the next store must start at; nil once the order was broken.
    private var next: Int? = 0
    /// Per δ, the values of the pass below its band.
    private(set) var below = SIMD4<Int>()
    /// Values inside a band so far; the first `capacity` of them are in the band buffer.
    private(set) var kept = 0

    /// Whether every band's edges are multiples of 2^16 (`addHalves`).
    var halfAligned: Bool { all((lower | (lower &+ widths)) & 0xFFFF .== 0) }

    init(lower: SIMD4<UInt32>, widths: SIMD4<UInt32>) {
        self.lower = lower
        self.widths = widths
    }

    /// Adds z[0..<count], the layer's values at positions start ..< start + count of a pass of n,
    /// appending the values inside a band to `band` (at most `capacity` of them stored).
    mutating func add(_ z: UnsafePointer<Float>, at start: Int, count: Int, total n: Int,
                      band: UnsafeMutablePointer<Float>, capacity: Int) {
        if start == 0 { self = MarginStream(lower: lower, widths: widths) }
        guard next == start else { next = nil; return }
        next = start + count
        let squaredEnd = n - n % 8, end = start + count
        // Locals, kept in registers (stored properties went through memory).
        var squares = lanes, below = self.below, kept = self.kept
        defer {
            lanes = squares
            self.below = below
            self.kept = kept
        }
        // One value, scalar: the head before position 8k, and the tail.
        @inline(__always) func one(_ i: Int) {
            let x = z[i - start]
            if i < squaredEnd {
                let wide = Double(x)
                squares[i % 8] = squares[i % 8].addingProduct(wide, wide)
            } else {
                tail[i - squaredEnd] = x
            }
            let a = x.bitPattern & 0x7FFF_FFFF
            below &+= SIMD4<Int>(truncatingIfNeeded: SIMD4<UInt32>(repeating: 0).replacing(with: 1, where: a .< lower))
            if any((a &- lower) .< widths) {
                if kept < capacity { band[kept] = x }
                kept += 1
            }
        }
        var i = start
        while i < end && i % 8 != 0 { one(i); i += 1 }
        // Sixteen values at a time: two 8-lane square FMAs (lanes 0-7, then 0-7 again: per lane
        // the order of `squareLanes`, whose two 4-lane halves are the two halves of one register
        // here), d_δ = a - lower_δ (wrapping) per δ, and from it
        // - the count below each band: a and lower_δ are both below 2^31, so a < lower_δ exactly
        //   when d_δ read as an Int32 is negative: its top bit, shifted down and added (UInt32
        //   lanes, flushed every 2^20 blocks, far from overflow);
        // - one test whether any value falls in a band: lower_δ <= a < lower_δ + width_δ exactly
        //   when d_δ < width_δ (unsigned), as the 16 bits of its mask (`laneBits`); the rare block
        //   that has one (under 10% of a tracked CNN's) keeps its values in order, going through
        //   the set bits.
        // The loop is bound by its vector instructions on the two ports that run 512-bit ones, not by
        // the FMA chain: this form (zmm widening and FMAs, the counts from d_δ's sign instead of
        // a second compare) has 22 of them per 16 values where four ymm FMAs and compares had 31, and
        // took the stream from 6.0-6.4% of a tracked CNN step to 5.1-5.3% (perf, same bits).
        precondition(lower[3] == 0 && widths[3] == 0, "margin stream: three bands at most")
        precondition(all(lower .< 0x8000_0000), "margin stream: bands are magnitudes")
        if halfAligned { addHalves(z, from: &i, start: start, end: min(end, squaredEnd), squares: &squares, below: &below,
                                   kept: &kept, band: band, capacity: capacity) }
        let bodyEnd = i + max(0, min(end, squaredEnd) - i) / 16 * 16
        let magnitude = SIMD16<UInt32>(repeating: 0x7FFF_FFFF), zero = SIMD16<UInt32>()
        let l0 = SIMD16<UInt32>(repeating: lower[0]), l1 = SIMD16<UInt32>(repeating: lower[1])
        let l2 = SIMD16<UInt32>(repeating: lower[2])
        let w0 = SIMD16<UInt32>(repeating: widths[0]), w1 = SIMD16<UInt32>(repeating: widths[1])
        let w2 = SIMD16<UInt32>(repeating: widths[2])
        while i < bodyEnd {
            let blockEnd = min(bodyEnd, i + 16 << 20)
            var c0 = zero, c1 = zero, c2 = zero
            while i < blockEnd {
                let p = z + (i - start)
                let a0 = loadWidened8(p), a1 = loadWidened8(p + 8)
                squares.addProduct(a0, a0)
                squares.addProduct(a1, a1)
                let a = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt32>.self) & magnitude
                let d0 = a &- l0, d1 = a &- l1, d2 = a &- l2
                c0 &+= d0 &>> 31
                c1 &+= d1 &>> 31
                c2 &+= d2 &>> 31
                let inBand = (d0 .< w0) .| (d1 .< w1) .| (d2 .< w2)
                var mask = laneBits(inBand)
                while mask != 0 {
                    if kept < capacity { band[kept] = p[mask.trailingZeroBitCount] }
                    kept += 1
                    mask &= mask - 1
                }
                i += 16
            }
            below &+= SIMD4(Int(c0.wrappedSum()), Int(c1.wrappedSum()), Int(c2.wrappedSum()), 0)
        }
        while i < end { one(i); i += 1 }
    }

    /// The body of `add` in blocks of 32 values, for bands whose edges are multiples of 2^16
    /// (`halfAligned`), from position i (a multiple of 8) while a whole block fits before `end`:
    /// the square lanes as the 16-value body adds them (values 8k ..< 8k + 8 of a block into lanes
    /// 0-7, k = 0..<4, in order), and the counts and the kept values from the high 16 bits of each
    /// magnitude, 32 to a vector (`loadMagnitudeHalves32`). Exact: with lower_δ = L 2^16 and
    /// lower_δ + width_δ = U 2^16, a < lower_δ exactly when a >> 16 < L, and a is inside the band
    /// exactly when L <= a >> 16 < U; a >> 16 and L are below 2^15, so d = (a >> 16) - L (wrapping,
    /// 16 bits) has its top bit set exactly when a >> 16 < L, and d < U - L (unsigned) exactly
    /// inside. The same counts and kept values as the 32-bit body, with the count and band
    /// instructions shared by 32 values instead of 16: a block of 32 takes 19 vector instructions
    /// beside the squares' 12, where two blocks of 16 took 32 beside the same 12. The 16-bit
    /// counters add at most 1 per block and are flushed every 2^15 blocks.
    ///
    /// Measured (perf, tracked CNN): the stream went from 6.95% to 5.82% of the step, and its
    /// samples now sit on the square lanes' FMAs: four dependent ones per block, 16 cycles per 32
    /// values, against about 15 cycles of vector instructions on the two ports that run them. Not
    /// kept: the squares as exact products and separate adds (the add's shorter latency, but four
    /// more instructions: 6.21%); the pattern bits of `PatternSet.store` taken in this loop from
    /// the same values (the stream grew by the 1.1% the separate store pass lost).
    @inline(__always)
    private func addHalves(_ z: UnsafePointer<Float>, from i: inout Int, start: Int, end: Int, squares: inout SIMD8<Double>,
                           below: inout SIMD4<Int>, kept: inout Int, band: UnsafeMutablePointer<Float>, capacity: Int) {
        let bodyEnd = i + max(0, end - i) / 32 * 32
        func half(_ bits: UInt32) -> SIMD32<UInt16> { SIMD32(repeating: UInt16(truncatingIfNeeded: bits >> 16)) }
        let l0 = half(lower[0]), l1 = half(lower[1]), l2 = half(lower[2])
        let w0 = half(widths[0]), w1 = half(widths[1]), w2 = half(widths[2])
        func total(_ c: SIMD32<UInt16>) -> Int { (0..<32).reduce(0) { $0 + Int(c[$1]) } }
        while i < bodyEnd {
            let blockEnd = min(bodyEnd, i + 32 << 15)
            var c0 = SIMD32<UInt16>(), c1 = SIMD32<UInt16>(), c2 = SIMD32<UInt16>()
            while i < blockEnd {
                let p = z + (i - start)
                let a0 = loadWidened8(p), a1 = loadWidened8(p + 8), a2 = loadWidened8(p + 16), a3 = loadWidened8(p + 24)
                squares.addProduct(a0, a0)
                squares.addProduct(a1, a1)
                squares.addProduct(a2, a2)
                squares.addProduct(a3, a3)
                let a = loadMagnitudeHalves32(p)
                let d0 = a &- l0, d1 = a &- l1, d2 = a &- l2
                c0 = regime_add_top_bits16(c0, d0)
                c1 = regime_add_top_bits16(c1, d1)
                c2 = regime_add_top_bits16(c2, d2)
                var mask = regime_lanes_below_any32(d0, w0, d1, w1, d2, w2)
                while mask != 0 {
                    if kept < capacity { band[kept] = p[mask.trailingZeroBitCount] }
                    kept += 1
                    mask &= mask - 1
                }
                i += 32
            }
            below &+= SIMD4(total(c0), total(c1), total(c2), 0)
        }
    }

    /// sum z^2 of the pass (the bits of `MarginMeter.sumOfSquares`), if it delivered all n values in order.
    func sumOfSquares(total n: Int) -> Double? {
        guard next == n else { return nil }
        var total = 0.0
        for j in 0..<8 { total += lanes[j] }
        for j in 0..<(n % 8) { total += Double(tail[j]) * Double(tail[j]) }
        return total
    }

    /// The pass's count of magnitudes below each of `limits` (bit patterns), given the kept values
    /// `band[0..<kept]`; nil when a limit lies outside its band or the band buffer overflowed
    /// (then the values needed were not all kept).
    func counts(below limits: SIMD4<UInt32>, band: UnsafePointer<Float>, capacity: Int) -> SIMD4<Int>? {
        guard kept <= capacity else { return nil }
        for d in 0..<4 where limits[d] < lower[d] || limits[d] - lower[d] > widths[d] { return nil }
        return below &+ MarginMeter.countBelowBits(band, count: kept, bounds: limits)
            &- MarginMeter.countBelowBits(band, count: kept, bounds: lower)
    }
}
