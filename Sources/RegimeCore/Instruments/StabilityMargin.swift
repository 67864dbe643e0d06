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

    public init(exampleCount: Int, unitsPerExample: [Int]) {
        self.exampleCount = exampleCount
        self.unitsPerExample = unitsPerExample
    }

    /// Frees the stored pre-activations.
    public func release() { stored = nil }

    /// Bytes the meter holds (for the memory estimate).
    public static func bytes(exampleCount: Int, unitsPerExample: [Int]) -> Int {
        unitsPerExample.reduce(0) { $0 + 4 * exampleCount * $1 }
    }

    /// Stores `rows` examples of layer `layer`'s pre-activations as examples `first...`.
    public func store(layer: Int, first: Int, rows: Int, z: UnsafePointer<Float>) {
        let width = unitsPerExample[layer]
        precondition(first >= 0 && first + rows <= exampleCount)
        (values[layer].pointer + first * width).update(from: z, count: rows * width)
    }

    /// The tap for a probe chunk whose first example is `chunkFirst`.
    public func tap(chunkFirst: Int) -> PreActivationTap {
        { [unowned self] layer, first, rows, z in store(layer: layer, first: chunkFirst + first, rows: rows, z: z) }
    }

    /// The margins of the stored pass: `global[d]` and `perLayer[d][l]` for δ = `deltas[d]`, and
    /// each layer's RMS.
    public func margins(deltas: [Double] = MarginMeter.deltas) -> Margins {
        var counts = deltas.map { _ in [Int]() }
        var rms: [Double] = []
        for (l, width) in unitsPerExample.enumerated() {
            let n = exampleCount * width
            let z = UnsafePointer(values[l].pointer)
            let s = n > 0 ? (Self.sumOfSquares(z, count: n) / Double(n)).squareRoot() : 0
            rms.append(s)
            for (d, delta) in deltas.enumerated() {
                counts[d].append(Self.countBelow(z, count: n, limit: Self.floatLimit(delta * s)))
            }
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
        var lanes = SIMD8<Double>()
        var i = 0
        while i + 8 <= n {
            let v = SIMD8<Double>(UnsafeRawPointer(z + i).loadUnaligned(as: SIMD8<Float>.self))
            lanes.addProduct(v, v)
            i += 8
        }
        var total = 0.0
        for j in 0..<8 { total += lanes[j] }
        while i < n { total += Double(z[i]) * Double(z[i]); i += 1 }
        return total
    }

    /// #{i : |z_i| < limit}, 16 lanes at a time (exact: a count).
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

    /// The smallest Float f >= c: for every Float x, `Double(x) < c` exactly when `x < f` (no Float
    /// lies in [c, f) other than c itself when c is a Float), so the count is taken in Float.
    static func floatLimit(_ c: Double) -> Float {
        let f = Float(c)
        return Double(f) >= c ? f : f.nextUp
    }
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
}
