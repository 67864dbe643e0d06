import Foundation

/// Stability margins of the probe set (docs/numerics.md, "Stability margins").
///
/// For pattern layer l with pre-activations z over the P probe examples, `s_l` is their root mean
/// square, `s_l = sqrt(sum z^2 / (P * units_l))` (summed in Double in (example, unit) order), and
/// `margin_δ.<l>` is the fraction of (example, unit) pairs with `|z| < δ * s_l`; the global
/// `margin_δ` is those pairs summed over the layers divided by all pairs. A unit closer to its
/// boundary than δ·s_l flips under a relative perturbation of its pre-activation of about δ, so the
/// margins say how much of the pattern sits where a small update can move it.
///
/// The meter receives the pre-activations from the probe pass itself (`Network.preActivationTap`),
/// but s_l is known only when the pass is over, so it cannot compare them with δ·s_l as they come.
/// It keeps none of them (4 bytes per probe (example, unit) pair would be 32 times the pattern
/// bits): from the previous measured passes it predicts s_l (`Trend`) and sets, for each δ, a band
/// of magnitudes that should hold the limit, [δ ŝ_l / H, δ ŝ_l H] with headroom H, and the pass counts the values below
/// each band and keeps the few inside it (`MarginStream`). When every limit falls in its band the
/// counts are exact; otherwise (the first pass, a resumed trial, s_l moved past the headroom, or
/// more values in a band than its buffer holds) `measure` runs the pass again with the limits the
/// first pass's s_l gives as zero-width bands, so it counts below them directly. Either way the
/// counts are #{|z| < f_δ} over all values: the margins do not depend on the guess, only the
/// number of passes does (`reruns`).
public final class MarginMeter {
    /// The δ of the margin columns: 1%, 3% and 10% of the layer's RMS, a factor of about 3 apart,
    /// so the three columns resolve how the density of |z| near 0 changes: 0.01 is the finest a
    /// 512-example probe resolves (a fraction of order 1e-3 of 65,536 pairs is still ~50 pairs),
    /// 0.1 is where the density is no longer that at 0. At most three (`MarginStream`'s bands).
    public static let deltas: [Double] = [0.01, 0.03, 0.1]
    /// Column names of the δs, as written in `curve.csv`.
    public static let deltaNames = ["0.01", "0.03", "0.1"]

    public let exampleCount: Int
    public let unitsPerExample: [Int]
    /// Per layer, the values of the pass inside a band; allocated by the first pass (a trainer
    /// that never measures the margins holds none).
    private var bandBuffers: [FloatBuffer]?
    private var bands: [FloatBuffer] {
        if let bandBuffers { return bandBuffers }
        let made = unitsPerExample.map { FloatBuffer(count: Self.bandCapacity(values: exampleCount * $0)) }
        bandBuffers = made
        return made
    }
    private var streams: [MarginStream]
    /// Per layer, what the last measured passes say about the next s_l.
    private var trends: [Trend]?
    /// Probe passes measured, and how many of them had to be run again (see the type's comment).
    public private(set) var passes = 0, reruns = 0

    public init(exampleCount: Int, unitsPerExample: [Int]) {
        precondition(Self.deltas.count <= 3)
        self.exampleCount = exampleCount
        self.unitsPerExample = unitsPerExample
        streams = unitsPerExample.map { _ in MarginStream(lower: .zero, widths: .zero) }
    }

    /// Frees the band buffers and forgets the trends.
    public func release() {
        bandBuffers = nil
        trends = nil
    }

    /// Values a layer of n pairs may keep inside its bands: n/16, at least 65,536 (all of a small
    /// layer: 256 KB). The bands hold a fraction of about (H - 1/H) times the margin at δ = 0.1: in a
    /// tracked CNN run (cnn:1x28x28-c16k3-p-c32k3-p-fc128-10, 512 probe examples) 0.4-1% of the
    /// convolutions' pairs, up to 15% of the dense layer's in the first iterations, where s moves
    /// most; a pass that keeps more is run again.
    static func bandCapacity(values n: Int) -> Int { min(n, max(65536, n / 16)) }

    /// Bytes the meter holds (for the memory estimate): the band buffers (saturating).
    public static func bytes(exampleCount: Int, unitsPerExample: [Int]) -> Int {
        saturatingSum(unitsPerExample.map { saturatingProduct(4, bandCapacity(values: saturatingProduct(exampleCount, $0))) })
    }

    /// One layer's s_l over the measured passes: the next is predicted by continuing the last
    /// ratio, ŝ = s (s / s_previous) (s_l drifts steadily over training: in a short CNN run with
    /// large steps it grew by 25%, 22%, 19% per pass, where repeating s missed), and the headroom
    /// is four times the recent misses |ln(s / ŝ)| (each pass's, or 0.85 times the previous value
    /// if larger: a noisy s_l keeps wide bands for a while), at least 2% (a steady MLP's s_l moves
    /// less than 1% per recorded step) and at most a factor 2 either way. Replayed on the s_l of a
    /// tracked CNN run (cnn:1x28x28-c16k3-p-c32k3-p-fc128-10, 200 recorded iterations, whose dense
    /// layer's s_l jumps by ±15% from step to step), these constants missed 2 passes after the
    /// first with a mean headroom of 1.09; twice the miss and 0.7 missed 20. Only the number of
    /// reruns depends on them, never the margins.
    struct Trend {
        var rms: Double, previous: Double?, miss: Double
        static let minimumHeadroom = 0.02, headroomPerMiss = 4.0, maximumHeadroom = 1.0, missDecay = 0.85
        /// The miss assumed before a prediction was made: a ±10% first band.
        static let initialMiss = 0.05

        var predicted: Double {
            guard let previous, previous > 0, rms > 0 else { return rms }
            let p = rms * (rms / previous)
            return p.isFinite ? p : rms
        }
        var headroom: Double { 1 + max(Self.headroomPerMiss * miss, Self.minimumHeadroom) }
        /// After a pass that measured s (a miss capped where the headroom is largest; NaN: that).
        func next(_ s: Double) -> Trend {
            let cap = Self.maximumHeadroom / Self.headroomPerMiss, m = abs(log(s / predicted))
            return Trend(rms: s, previous: rms, miss: max(m.isNaN ? cap : min(m, cap), Self.missDecay * miss))
        }
    }

    /// The margins of one probe pass: `pass` runs it through `tap(chunkFirst:)`, delivering each
    /// pattern layer's examples in increasing order, each once (as every network's probe pass
    /// does), and computing the same values each time it runs. `global[d]`, `perLayer[d][l]` and
    /// `counts[d][l]` for δ = `deltas[d]`, and each layer's RMS.
    public func measure(_ pass: () -> Void) -> Margins {
        passes += 1
        begin(bands: trends.map { t in t.map { Self.bandBits(rms: $0.predicted, headroom: $0.headroom) } })
        pass()
        let rms = unitsPerExample.indices.map { l in
            guard let s = layerRMS(l) else { preconditionFailure("margin meter: layer \(l)'s values did not come in order") }
            return s
        }
        var counts = self.counts(rms: rms)
        if counts == nil {
            reruns += 1
            begin(bands: rms.map { Self.bandBits(rms: $0, headroom: nil) })
            pass()
            let same = unitsPerExample.indices.allSatisfy { layerRMS($0)?.bitPattern == rms[$0].bitPattern }
            counts = same ? self.counts(rms: rms) : nil
        }
        guard let counts else { preconditionFailure("margin meter: the probe pass gave other pre-activations when run again") }
        trends = rms.indices.map { trends?[$0].next(rms[$0]) ?? Trend(rms: rms[$0], previous: nil, miss: Trend.initialMiss) }
        let pairs = unitsPerExample.map { exampleCount * $0 }
        let total = pairs.reduce(0, +)
        return Margins(rms: rms, counts: counts, pairs: pairs,
                       global: counts.map { total > 0 ? Double($0.reduce(0, +)) / Double(total) : 0 },
                       perLayer: counts.map { zip($0, pairs).map { $1 > 0 ? Double($0) / Double($1) : 0 } })
    }

    /// Starts a pass with per-layer bands (`bandBits`); nil: no bands (the first pass, which then
    /// always runs again).
    private func begin(bands: [(lower: SIMD4<UInt32>, widths: SIMD4<UInt32>)]?) {
        streams = unitsPerExample.indices.map { l in
            MarginStream(lower: bands?[l].lower ?? .zero, widths: bands?[l].widths ?? .zero)
        }
    }

    /// The bands for a layer of RMS s: per δ, [limitBits(δ s / H), limitBits(δ s H)) widened to
    /// edges that are multiples of 2^16 (bit patterns; 7 bits of mantissa, under 0.8% of the edge
    /// each side, where H is at least 1.02), so that the stream counts from 16-bit halves
    /// (`MarginStream.addHalves`), as lower and width; with no headroom, the zero-width band at
    /// limitBits(δ s) (counting below the limit), as it is.
    static func bandBits(rms s: Double, headroom: Double?) -> (lower: SIMD4<UInt32>, widths: SIMD4<UInt32>) {
        var lower = SIMD4<UInt32>(), widths = SIMD4<UInt32>()
        for (d, delta) in deltas.enumerated() {
            let h = headroom ?? 1
            lower[d] = limitBits(floatLimit(delta * s / h))
            widths[d] = limitBits(floatLimit(delta * s * h)) - lower[d]
            if headroom != nil {  // (limit bits are at most +infinity's, 0x7F80_0000: no overflow)
                let upper = (lower[d] + widths[d] + 0xFFFF) & ~0xFFFF
                lower[d] &= ~0xFFFF
                widths[d] = upper - lower[d]
            }
        }
        return (lower, widths)
    }

    /// The bit pattern compared with magnitudes for the count |z| < limit: a limit that is not > 0
    /// (0, negative or NaN) counts nothing, as |x| < limit does (see `countBelow(_:count:limits:)`).
    static func limitBits(_ limit: Float) -> UInt32 { limit > 0 ? limit.bitPattern : 0 }

    /// s_l of the pass, if it delivered the layer in order.
    private func layerRMS(_ l: Int) -> Double? {
        let n = exampleCount * unitsPerExample[l]
        return streams[l].sumOfSquares(total: n).map { n > 0 ? ($0 / Double(n)).squareRoot() : 0 }
    }

    /// counts[d][l] = #{|z| < floatLimit(δ_d s_l)} of the pass, or nil when a band missed its limit.
    private func counts(rms: [Double]) -> [[Int]]? {
        var counts = Self.deltas.map { _ in [Int]() }
        for l in unitsPerExample.indices {
            var limits = SIMD4<UInt32>()
            for (d, delta) in Self.deltas.enumerated() { limits[d] = Self.limitBits(Self.floatLimit(delta * rms[l])) }
            guard let layer = streams[l].counts(below: limits, band: bands[l].pointer, capacity: bands[l].count) else { return nil }
            for d in Self.deltas.indices { counts[d].append(layer[d]) }
        }
        return counts
    }

    /// Takes `rows` examples of layer `layer`'s pre-activations as examples `first...`.
    public func store(layer: Int, first: Int, rows: Int, z: UnsafePointer<Float>) {
        let width = unitsPerExample[layer], band = bands[layer]
        precondition(first >= 0 && first + rows <= exampleCount)
        streams[layer].add(z, at: first * width, count: rows * width, total: exampleCount * width, band: band.pointer,
                           capacity: band.count)
    }

    /// The tap for a probe chunk whose first example is `chunkFirst`.
    public func tap(chunkFirst: Int) -> PreActivationTap {
        { [unowned self] layer, first, rows, z in store(layer: layer, first: chunkFirst + first, rows: rows, z: z) }
    }

    /// sum z^2 in Double: 8 lanes, lane j summing the elements i = j (mod 8) in order, then the
    /// lanes in order (a fixed order, so the same bits on every machine), the tail last.
    static func sumOfSquares(_ z: UnsafePointer<Float>, count n: Int) -> Double {
        finishSquares(squareLanes(z, count: n), z, count: n)
    }

    /// The lanes of `sumOfSquares`: lane j = sum over i = j (mod 8), i < n - n % 8, of z_i^2 in
    /// increasing i, each term added with one fused multiply-add.
    static func squareLanes(_ z: UnsafePointer<Float>, count n: Int) -> SIMD8<Double> {
        var low = SIMD4<Double>(), high = SIMD4<Double>()  // lanes 0-3 and 4-7 (`loadWidened4`)
        var i = 0
        while i + 8 <= n {
            let a = loadWidened4(z + i), b = loadWidened4(z + i + 4)
            low.addProduct(a, a)
            high.addProduct(b, b)
            i += 8
        }
        return SIMD8(lowHalf: low, highHalf: high)
    }

    /// The lanes summed in order, then the squares of the last n % 8 elements in order.
    static func finishSquares(_ lanes: SIMD8<Double>, _ z: UnsafePointer<Float>, count n: Int) -> Double {
        var total = 0.0
        for j in 0..<8 { total += lanes[j] }
        var i = n - n % 8
        while i < n { total += Double(z[i]) * Double(z[i]); i += 1 }
        return total
    }

    /// #{i : |z_i| < limit}, 16 lanes at a time (exact: a count). The reference for the
    /// several-limit `countBelow(_:count:limits:)`.
    static func countBelow(_ z: UnsafePointer<Float>, count n: Int, limit: Float) -> Int {
        var lanes = SIMD16<Int32>()
        let one = SIMD16<Int32>(repeating: 1), bound = SIMD16<Float>(repeating: limit), zero = SIMD16<Int32>()
        var i = 0, total = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD16<Float>.self)
            let a = v.replacing(with: -v, where: v .< 0)
            lanes &+= zero.replacing(with: one, where: a .< bound)
            i += 16
            if i % (1 << 24) == 0 { total += Int(lanes.wrappedSum()); lanes = zero }  // far from Int32 overflow
        }
        total += Int(lanes.wrappedSum())
        while i < n { if abs(z[i]) < limit { total += 1 }; i += 1 }
        return total
    }

    /// `countBelow(z, count: n, limit:)` for each of `limits`, up to four per pass over z. The
    /// comparison is on bit patterns: for a Float x and a limit L > 0, |x| < L exactly when
    /// (bits(x) & 0x7FFFFFFF) < bits(L) as unsigned integers (non-negative Floats order like their
    /// bits; a NaN's magnitude bits exceed every non-NaN's, so it is never counted, as x < L is
    /// false for it). A limit that is not > 0 (0, negative or NaN) counts nothing, as |x| < L does.
    static func countBelow(_ z: UnsafePointer<Float>, count n: Int, limits: [Float]) -> [Int] {
        var result: [Int] = []
        var g = 0
        while g < limits.count {
            let group = limits[g..<min(g + 4, limits.count)].map { $0 > 0 ? $0.bitPattern : 0 }
            let counts = countBelowBits(z, count: n, bounds: SIMD4(group + [UInt32](repeating: 0, count: 4 - group.count)))
            result += (0..<group.count).map { counts[$0] }
            g += 4
        }
        return result
    }

    /// #{i : (bits(z_i) & 0x7FFFFFFF) < bounds[k]} for k = 0..<4, one pass, 16 lanes at a time.
    static func countBelowBits(_ z: UnsafePointer<Float>, count n: Int, bounds: SIMD4<UInt32>) -> SIMD4<Int> {
        let magnitude = SIMD16<UInt32>(repeating: 0x7FFF_FFFF), one = SIMD16<UInt32>(repeating: 1), zero = SIMD16<UInt32>()
        let b0 = SIMD16<UInt32>(repeating: bounds[0]), b1 = SIMD16<UInt32>(repeating: bounds[1])
        let b2 = SIMD16<UInt32>(repeating: bounds[2]), b3 = SIMD16<UInt32>(repeating: bounds[3])
        var total = SIMD4<Int>()
        var i = 0
        while i < n - n % 16 {
            // Blocks of at most 2^24 elements: a lane gains at most 1 per 16, far from UInt32 overflow.
            let blockEnd = min(i + (1 << 24), n - n % 16)
            var c0 = zero, c1 = zero, c2 = zero, c3 = zero
            while i < blockEnd {
                let a = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD16<UInt32>.self) & magnitude
                c0 &+= zero.replacing(with: one, where: a .< b0)
                c1 &+= zero.replacing(with: one, where: a .< b1)
                c2 &+= zero.replacing(with: one, where: a .< b2)
                c3 &+= zero.replacing(with: one, where: a .< b3)
                i += 16
            }
            total &+= SIMD4(Int(c0.wrappedSum()), Int(c1.wrappedSum()), Int(c2.wrappedSum()), Int(c3.wrappedSum()))
        }
        while i < n {
            let a = z[i].bitPattern & 0x7FFF_FFFF
            for k in 0..<4 where a < bounds[k] { total[k] += 1 }
            i += 1
        }
        return total
    }

    /// The smallest Float f >= c: for every Float x, `Double(x) < c` exactly when `x < f` (no Float
    /// lies in [c, f) other than c itself when c is a Float), so the count is taken in Float.
    static func floatLimit(_ c: Double) -> Float {
        let f = Float(c)
        return Double(f) >= c ? f : f.nextUp
    }
}

/// The result of ``MarginMeter/measure(_:)``.
public struct Margins: Equatable, Sendable {
    /// s_l per pattern layer.
    public var rms: [Double]
    /// Pairs with |z| < δ s_l, per δ and layer.
    public var counts: [[Int]]
    /// (example, unit) pairs per layer.
    public var pairs: [Int]
    /// Per δ: the global fraction.
    public var global: [Double]
    /// Per δ, per layer: the fraction.
    public var perLayer: [[Double]]
}
