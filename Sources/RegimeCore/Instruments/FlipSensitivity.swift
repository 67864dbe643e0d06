/// Flip sensitivity (docs/numerics.md, "Flip sensitivity"): how many pattern bits flip per unit of
/// relative weight movement, over the same interval as the pattern change.
///
/// For pattern layer l fed by the first n_l parameters (`Network.feedingParameterCounts`), between
/// the states old (θ_{t-k}) and new (θ_t):
/// `flip_sensitivity.<l> = pattern_change.<l> / (||new[0..<n_l] - old[0..<n_l]|| / ||old[0..<n_l]||)`;
/// the global `flip_sensitivity` divides the global pattern change by the relative update of the
/// prefix that feeds the last pattern layer (every parameter any pattern depends on). Undefined
/// (nil) when that relative update is 0 or not finite. Norms are summed in Double in the order of
/// `ParameterSquares`.
public struct FlipSensitivity: Equatable, Sendable {
    public var global: Double?
    public var perLayer: [Double?]
    /// The relative update of each layer's feeding prefix.
    public var feedingUpdateRel: [Double]

    public init(patternChange: (global: Double, perLayer: [Double]), new: UnsafePointer<Float>, old: UnsafePointer<Float>,
                feeding: [Int]) {
        let ends = ParameterSquares.ends(groups: [], cuts: feeding)
        self.init(patternChange: patternChange, squares: ParameterSquares(new: new, old: old, ends: ends), feeding: feeding)
    }

    /// From sums whose pieces end at every feeding prefix (the trainer's, taken in the weight
    /// update's pass over the two parameter blocks): each prefix's sums are its pieces' sums added
    /// in order.
    init(patternChange: (global: Double, perLayer: [Double]), squares: ParameterSquares, feeding: [Int]) {
        precondition(feeding.count == patternChange.perLayer.count)
        var prefix: [Int: Double] = [0: .nan]
        var delta = 0.0, norm = 0.0
        for (end, piece) in zip(squares.ends, squares.pieces) {
            delta += piece.delta
            norm += piece.norm
            prefix[end] = norm > 0 ? (delta / norm).squareRoot() : .nan
        }
        precondition(feeding.allSatisfy { prefix[$0] != nil }, "FlipSensitivity: a feeding prefix that ends no piece")
        feedingUpdateRel = feeding.map { prefix[$0]! }
        func ratio(_ change: Double, _ rel: Double) -> Double? { rel > 0 && rel.isFinite ? change / rel : nil }
        perLayer = zip(patternChange.perLayer, feedingUpdateRel).map { ratio($0, $1) }
        global = feeding.max().map { ratio(patternChange.global, prefix[$0]!) } ?? nil
    }
}
