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
        precondition(feeding.count == patternChange.perLayer.count)
        let cuts = Array(Set(feeding)).sorted()
        var prefix: [Int: Double] = [:]
        var delta = 0.0, norm = 0.0, start = 0
        for cut in cuts {
            let segment = Self.squares(new: new, old: old, range: start..<cut)
            delta += segment.delta
            norm += segment.norm
            start = cut
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
        var d8 = SIMD8<Double>(), n8 = SIMD8<Double>()
        var i = range.lowerBound
        // 16 at a time, the two halves in order into the same lanes: the same sums as 8 at a time,
        // with one vector load per operand (8-float loads compiled to scalar loads and shuffles).
        while i + 16 <= range.upperBound {
            let a = UnsafeRawPointer(new + i).loadUnaligned(as: SIMD16<Float>.self)
            let b = UnsafeRawPointer(old + i).loadUnaligned(as: SIMD16<Float>.self)
            let aLow = widen(a.lowHalf), bLow = widen(b.lowHalf)
            let dLow = aLow - bLow
            d8.addProduct(dLow, dLow)
            n8.addProduct(bLow, bLow)
            let aHigh = widen(a.highHalf), bHigh = widen(b.highHalf)
            let dHigh = aHigh - bHigh
            d8.addProduct(dHigh, dHigh)
            n8.addProduct(bHigh, bHigh)
            i += 16
        }
        while i + 8 <= range.upperBound {
            let a = widen(UnsafeRawPointer(new + i).loadUnaligned(as: SIMD8<Float>.self))
            let b = widen(UnsafeRawPointer(old + i).loadUnaligned(as: SIMD8<Float>.self))
            let d = a - b
            d8.addProduct(d, d)
            n8.addProduct(b, b)
            i += 8
        }
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
