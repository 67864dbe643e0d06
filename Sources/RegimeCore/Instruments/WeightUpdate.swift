/// The weight-update instrument between two parameter states (docs/numerics.md, "Weight updates").
///
/// `abs = ||new - old||_2` and `rel = abs / ||old||_2`, over the whole block and per parameter
/// group. Differences are of the stored Float values, squared and summed in Double in index order,
/// so the numbers are exact to Double rounding and identical on every machine.
public struct WeightUpdate: Equatable, Sendable {
    public var abs: Double
    public var rel: Double
    public var layerAbs: [Double]
    public var layerRel: [Double]

    public init(new: UnsafePointer<Float>, old: UnsafePointer<Float>, groups: [ParameterGroup]) {
        var totalDelta = 0.0, totalNorm = 0.0
        layerAbs = []
        layerRel = []
        for group in groups {
            var delta = 0.0, norm = 0.0
            for i in group.range {
                let d = Double(new[i]) - Double(old[i])
                delta += d * d
                norm += Double(old[i]) * Double(old[i])
            }
            totalDelta += delta
            totalNorm += norm
            layerAbs.append(delta.squareRoot())
            layerRel.append(norm > 0 ? (delta / norm).squareRoot() : .nan)
        }
        abs = totalDelta.squareRoot()
        rel = totalNorm > 0 ? (totalDelta / totalNorm).squareRoot() : .nan
    }
}
