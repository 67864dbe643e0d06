/// Stability margins of the probe set (docs/numerics.md, "Stability margins").
///
/// For pattern layer l with pre-activations z over the P probe examples, `s_l` is their root mean
/// square, `s_l = sqrt(sum z^2 / (P * units_l))` (summed in Double in (example, unit) order), and
/// `margin_δ.<l>` is the fraction of (example, unit) pairs with `|z| < δ * s_l`; the global
/// `margin_δ` is those pairs summed over the layers divided by all pairs. A unit closer to its
/// boundary than δ·s_l flips under a relative perturbation of its pre-activation of about δ, so the
/// margins say how much of the pattern sits where a small update can move it.
///
/// The meter receives the pre-activations from the probe pass itself (`Network.preActivationTap`)
/// and keeps them until the pass is over, because `s_l` is known only then: 4 bytes per probe
/// (example, unit) pair, 32 times the pattern bits (docs/numerics.md has the sizes).
public final class MarginMeter {
    /// The δ of the margin columns: 1%, 3% and 10% of the layer's RMS, a factor of about 3 apart,
    /// so the three columns resolve how the density of |z| near 0 changes: 0.01 is the finest a
    /// 512-example probe resolves (a fraction of order 1e-3 of 65,536 pairs is still ~50 pairs),
    /// 0.1 is where the density is no longer that at 0.
    public static let deltas: [Double] = [0.01, 0.03, 0.1]
    /// Column names of the δs, as written in `curve.csv`.
    public static let deltaNames = ["0.01", "0.03", "0.1"]

    public let exampleCount: Int
    public let unitsPerExample: [Int]
    /// Per layer, the pass's pre-activations; allocated by the first `store` (a trainer that never
    /// measures the margins holds none).
    private var stored: [FloatBuffer]?
    private var values: [FloatBuffer] {
        if let stored { return stored }
        let made = unitsPerExample.map { FloatBuffer(count: exampleCount * $0) }
        stored = made
        return made
    }
    /// Per layer, the sum of squares of the pass so far, taken by `store` while the values are in
    /// cache (`SquareStream`).
    private var streams: [SquareStream]

    public init(exampleCount: Int, unitsPerExample: [Int]) {
        self.exampleCount = exampleCount
        self.unitsPerExample = unitsPerExample
        streams = unitsPerExample.map { _ in SquareStream() }
    }

    /// Frees the stored pre-activations.
    public func release() {
        stored = nil
        streams = unitsPerExample.map { _ in SquareStream() }
    }

    /// Bytes the meter holds (for the memory estimate).
    public static func bytes(exampleCount: Int, unitsPerExample: [Int]) -> Int {
        unitsPerExample.reduce(0) { $0 + 4 * exampleCount * $1 }
    }

    /// Stores `rows` examples of layer `layer`'s pre-activations as examples `first...`, and adds
    /// their squares to the layer's `SquareStream`.
    public func store(layer: Int, first: Int, rows: Int, z: UnsafePointer<Float>) {
        let width = unitsPerExample[layer]
        precondition(first >= 0 && first + rows <= exampleCount)
        (values[layer].pointer + first * width).update(from: z, count: rows * width)
        streams[layer].add(z, at: first * width, count: rows * width, total: exampleCount * width)
    }

    /// The tap for a probe chunk whose first example is `chunkFirst`.
    public func tap(chunkFirst: Int) -> PreActivationTap {
        { [unowned self] layer, first, rows, z in store(layer: layer, first: chunkFirst + first, rows: rows, z: z) }
    }

    /// The margins of the stored pass: `global[d]` and `perLayer[d][l]` for δ = `deltas[d]`, and
    /// each layer's RMS. One pass over the stored values per layer (all δ counted at once); the sum
    /// of squares comes from the stream when the pass stored the layer in order, else from a pass.
    public func margins(deltas: [Double] = MarginMeter.deltas) -> Margins {
        var counts = deltas.map { _ in [Int]() }
        var rms: [Double] = []
        for (l, width) in unitsPerExample.enumerated() {
            let n = exampleCount * width
            let z = UnsafePointer(values[l].pointer)
            let lanes = streams[l].complete(total: n) ?? Self.squareLanes(z, count: n)
            let s = n > 0 ? (Self.finishSquares(lanes, z, count: n) / Double(n)).squareRoot() : 0
            rms.append(s)
            let layerCounts = Self.countBelow(z, count: n, limits: deltas.map { Self.floatLimit($0 * s) })
            for d in deltas.indices { counts[d].append(layerCounts[d]) }
        }
        let pairs = unitsPerExample.map { exampleCount * $0 }
        let total = pairs.reduce(0, +)
        return Margins(rms: rms, counts: counts, pairs: pairs,
                       global: counts.map { total > 0 ? Double($0.reduce(0, +)) / Double(total) : 0 },
                       perLayer: counts.map { zip($0, pairs).map { $1 > 0 ? Double($0) / Double($1) : 0 } })
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
    private static func countBelowBits(_ z: UnsafePointer<Float>, count n: Int, bounds: SIMD4<UInt32>) -> SIMD4<Int> {
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

/// The running sum of squares of one layer's pre-activations as a probe pass stores them, in the
/// lanes of `MarginMeter.squareLanes`: the pass delivers the layer's values in order (chunk by
/// chunk), and the stream adds each element i < n - n % 8 to lane i % 8 with the same fused
/// multiply-add, in the same order, as one `squareLanes` over the stored array; so the lanes are
/// the same bits, computed while the values are still in cache. A store that does not continue
/// where the previous one ended (position 0 starts a new pass) leaves the stream unusable, and the
/// meter falls back to a pass over the stored values.
struct SquareStream {
    var lanes = SIMD8<Double>()
    /// The position the next store must start at; nil once the order was broken.
    var next: Int? = 0

    mutating func add(_ z: UnsafePointer<Float>, at start: Int, count: Int, total n: Int) {
        if start == 0 { self = SquareStream() }
        guard next == start else { next = nil; return }
        let end = min(start + count, n - n % 8)
        var lanes = self.lanes  // a local, kept in a register (the stored property went through memory)
        defer { self.lanes = lanes }
        var i = start
        while i < end && i % 8 != 0 {
            let x = Double(z[i - start])
            lanes[i % 8] = lanes[i % 8].addingProduct(x, x)
            i += 1
        }
        var low = lanes.lowHalf, high = lanes.highHalf  // lanes 0-3 and 4-7 (`loadWidened4`)
        while i + 8 <= end {
            let a = loadWidened4(z + (i - start)), b = loadWidened4(z + (i - start) + 4)
            low.addProduct(a, a)
            high.addProduct(b, b)
            i += 8
        }
        lanes = SIMD8(lowHalf: low, highHalf: high)
        while i < end {
            let x = Double(z[i - start])
            lanes[i % 8] = lanes[i % 8].addingProduct(x, x)
            i += 1
        }
        next = start + count
    }

    /// The lanes, if the stream saw all n values in order.
    func complete(total n: Int) -> SIMD8<Double>? { next == n ? lanes : nil }
}

/// The result of ``MarginMeter/margins(deltas:)``.
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

extension MarginMeter {
    /// The stored pre-activations of `layer` (tests).
    func valuesForTesting(layer: Int) -> UnsafePointer<Float> { UnsafePointer(values[layer].pointer) }
    func streamLanesForTesting(layer: Int) -> SIMD8<Double>? { streams[layer].complete(total: exampleCount * unitsPerExample[layer]) }
}
