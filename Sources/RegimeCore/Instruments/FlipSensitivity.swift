/// Flip sensitivity (docs/numerics.md, "Flip sensitivity"): how many pattern bits flip per unit of
/// relative weight movement, over the same interval as the pattern change.
///
/// For pattern layer l fed by the first n_l parameters (`Network.feedingParameterCounts`), between
/// the states old (θ_{t-k}) and new (θ_t):
/// `flip_sensitivity.<l> = pattern_change.<l> / (||new[0..<n_l] - old[0..<n_l]|| / ||old[0..<n_l]||)`;
/// the global `flip_sensitivity` divides the global pattern change by the relative update of the
/// prefix that feeds the last pattern layer (every parameter any pattern depends on). Undefined
/// (nil) when that relative update is 0 or not finite. Norms are summed in Double in index order.
public struct FlipSensitivity: Equatable, Sendable {
    public var global: Double?
    public var perLayer: [Double?]
    /// The relative update of each layer's feeding prefix.
    public var feedingUpdateRel: [Double]

    public init(patternChange: (global: Double, perLayer: [Double]), new: UnsafePointer<Float>, old: UnsafePointer<Float>,
                feeding: [Int]) {
        self.init(patternChange: patternChange, segmentSquares: Self.segmentSquares(new: new, old: old, feeding: feeding),
                  feeding: feeding)
    }

    /// `squares` of each segment between consecutive feeding prefixes (from 0, in increasing
    /// order). The trainer takes them right after the weight update, while the two parameter
    /// blocks are still in cache, and the ratios once the probe pass has given the pattern change.
    static func segmentSquares(new: UnsafePointer<Float>, old: UnsafePointer<Float>, feeding: [Int])
        -> [(delta: Double, norm: Double)] {
        var start = 0
        return Array(Set(feeding)).sorted().map { cut in
            defer { start = cut }
            return squares(new: new, old: old, range: start..<cut)
        }
    }

    /// From `segmentSquares(new:old:feeding:)`.
    init(patternChange: (global: Double, perLayer: [Double]), segmentSquares: [(delta: Double, norm: Double)], feeding: [Int]) {
        precondition(feeding.count == patternChange.perLayer.count)
        let cuts = Array(Set(feeding)).sorted()
        precondition(cuts.count == segmentSquares.count)
        var prefix: [Int: Double] = [:]
        var delta = 0.0, norm = 0.0
        for (cut, segment) in zip(cuts, segmentSquares) {
            delta += segment.delta
            norm += segment.norm
            prefix[cut] = norm > 0 ? (delta / norm).squareRoot() : .nan
        }
        feedingUpdateRel = feeding.map { prefix[$0]! }
        func ratio(_ change: Double, _ rel: Double) -> Double? { rel > 0 && rel.isFinite ? change / rel : nil }
        perLayer = zip(patternChange.perLayer, feedingUpdateRel).map { ratio($0, $1) }
        global = feeding.max().map { ratio(patternChange.global, prefix[$0]!) } ?? nil
    }

    /// sum (new - old)^2 and sum old^2 over `range`, in Double: 8 lanes (lane j the indices
    /// start + j mod 8, in order), then the lanes in order, then the tail: a fixed order.
    static func squares(new: UnsafePointer<Float>, old: UnsafePointer<Float>, range: Range<Int>) -> (delta: Double, norm: Double) {
        // Lanes 0-3 and 4-7 as two SIMD4 halves (`loadWidened4`).
        var dLow = SIMD4<Double>(), dHigh = SIMD4<Double>(), nLow = SIMD4<Double>(), nHigh = SIMD4<Double>()
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let aLow = loadWidened4(new + i), bLow = loadWidened4(old + i)
            let aHigh = loadWidened4(new + i + 4), bHigh = loadWidened4(old + i + 4)
            let low = aLow - bLow, high = aHigh - bHigh
            dLow.addProduct(low, low)
            nLow.addProduct(bLow, bLow)
            dHigh.addProduct(high, high)
            nHigh.addProduct(bHigh, bHigh)
            i += 8
        }
        let d8 = SIMD8(lowHalf: dLow, highHalf: dHigh), n8 = SIMD8(lowHalf: nLow, highHalf: nHigh)
        var delta = 0.0, norm = 0.0
        for j in 0..<8 { delta += d8[j]; norm += n8[j] }
        while i < range.upperBound {
            let d = Double(new[i]) - Double(old[i])
            delta += d * d
            norm += Double(old[i]) * Double(old[i])
            i += 1
        }
        return (delta, norm)
    }
}
