/// The weight-update instrument between two parameter states (docs/numerics.md, "Weight updates").
///
/// `abs = ||new - old||_2` and `rel = abs / ||old||_2`, over the whole block and per parameter
/// group. Differences are of the stored Float values, squared and summed in Double in the fixed
/// order of `ParameterSquares` (8 lanes per piece, then the pieces of a group in order, then the
/// groups in order), so the numbers are exact to Double rounding and identical on every machine.
public struct WeightUpdate: Equatable, Sendable {
    public var abs: Double
    public var rel: Double
    public var layerAbs: [Double]
    public var layerRel: [Double]

    /// Over the pieces of `groups` cut also at `cuts` (the network's feeding prefixes wherever the
    /// same sums serve flip sensitivity, so that every caller gets the same bits).
    public init(new: UnsafePointer<Float>, old: UnsafePointer<Float>, groups: [ParameterGroup], cuts: [Int] = []) {
        self.init(squares: ParameterSquares(new: new, old: old, ends: ParameterSquares.ends(groups: groups, cuts: cuts)),
                  groups: groups)
    }

    /// From sums whose pieces end at every group's end.
    init(squares: ParameterSquares, groups: [ParameterGroup]) {
        var totalDelta = 0.0, totalNorm = 0.0
        layerAbs = []
        layerRel = []
        for group in groups {
            let (delta, norm) = squares.sums(group.range)
            totalDelta += delta
            totalNorm += norm
            layerAbs.append(delta.squareRoot())
            layerRel.append(norm > 0 ? (delta / norm).squareRoot() : .nan)
        }
        abs = totalDelta.squareRoot()
        rel = totalNorm > 0 ? (totalDelta / totalNorm).squareRoot() : .nan
    }
}
