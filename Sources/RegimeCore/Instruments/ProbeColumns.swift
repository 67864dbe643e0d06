/// The curve columns of the geometric instruments (docs/numerics.md: stability margins, flip
/// sensitivity, null model, lag distances), one value per recorded row; nil is an empty CSV field
/// (not measured at that row, or undefined).
///
/// CSV columns, in this order, after the per-layer columns of ``Curve``: `margin_0.01`,
/// `margin_0.03`, `margin_0.1`, then `margin_<δ>.<layer>` per δ and pattern layer,
/// `flip_sensitivity`, `flip_sensitivity.<layer>`, `null_pattern_change`, `excess_flips`,
/// `null_pattern_change.<layer>`, `excess_flips.<layer>`, then per lag k (10, 100)
/// `pattern_change_lag<k>`, `weight_update_abs_lag<k>`, `weight_update_rel_lag<k>`, then the
/// per-layer lag distances (``LayerLagColumns``).
public struct ProbeColumns: Codable, Equatable, Sendable {
    /// Per δ of ``MarginMeter/deltas``.
    public var margin: [[Double?]]
    /// Per δ, per pattern layer.
    public var layerMargin: [[[Double?]]]
    public var flipSensitivity: [Double?] = []
    public var layerFlipSensitivity: [[Double?]]
    public var nullPatternChange: [Double?] = []
    public var excessFlips: [Double?] = []
    public var layerNullPatternChange: [[Double?]]
    public var layerExcessFlips: [[Double?]]
    /// Per lag of ``LagSnapshot/lags``.
    public var patternChangeLag: [[Double?]]
    public var weightUpdateAbsLag: [[Double?]]
    public var weightUpdateRelLag: [[Double?]]
    /// The lag distances per layer (nil in curves and checkpoints written before them).
    public var layerLags: LayerLagColumns?

    public init(patternLayerCount: Int, parameterGroupCount: Int) {
        let deltas = MarginMeter.deltas.count, lags = LagSnapshot.lags.count
        margin = Array(repeating: [], count: deltas)
        layerMargin = Array(repeating: Array(repeating: [], count: patternLayerCount), count: deltas)
        layerFlipSensitivity = Array(repeating: [], count: patternLayerCount)
        layerNullPatternChange = Array(repeating: [], count: patternLayerCount)
        layerExcessFlips = Array(repeating: [], count: patternLayerCount)
        patternChangeLag = Array(repeating: [], count: lags)
        weightUpdateAbsLag = Array(repeating: [], count: lags)
        weightUpdateRelLag = Array(repeating: [], count: lags)
        layerLags = LayerLagColumns(patternLayerCount: patternLayerCount, parameterGroupCount: parameterGroupCount)
    }

    /// Columns of `rows` rows, every one empty (the rows of a curve recorded before these
    /// instruments existed, continued by this version after a resume).
    public init(patternLayerCount: Int, parameterGroupCount: Int, emptyRows rows: Int) {
        self.init(patternLayerCount: patternLayerCount, parameterGroupCount: parameterGroupCount)
        let empty = [Double?](repeating: nil, count: rows)
        margin = margin.map { _ in empty }
        layerMargin = layerMargin.map { $0.map { _ in empty } }
        flipSensitivity = empty
        layerFlipSensitivity = layerFlipSensitivity.map { _ in empty }
        nullPatternChange = empty
        excessFlips = empty
        layerNullPatternChange = layerNullPatternChange.map { _ in empty }
        layerExcessFlips = layerExcessFlips.map { _ in empty }
        patternChangeLag = patternChangeLag.map { _ in empty }
        weightUpdateAbsLag = weightUpdateAbsLag.map { _ in empty }
        weightUpdateRelLag = weightUpdateRelLag.map { _ in empty }
        layerLags = LayerLagColumns(patternLayerCount: patternLayerCount, parameterGroupCount: parameterGroupCount, emptyRows: rows)
    }

    /// The global columns by name (for statistics over many curves).
    public func column(_ name: String) -> [Double?]? {
        if let d = MarginMeter.deltaNames.firstIndex(where: { "margin_\($0)" == name }) { return margin[d] }
        if let k = LagSnapshot.lags.firstIndex(where: { "pattern_change_lag\($0)" == name }) { return patternChangeLag[k] }
        if let k = LagSnapshot.lags.firstIndex(where: { "weight_update_abs_lag\($0)" == name }) { return weightUpdateAbsLag[k] }
        if let k = LagSnapshot.lags.firstIndex(where: { "weight_update_rel_lag\($0)" == name }) { return weightUpdateRelLag[k] }
        switch name {
        case "flip_sensitivity": return flipSensitivity
        case "null_pattern_change": return nullPatternChange
        case "excess_flips": return excessFlips
        default: return nil
        }
    }

    /// The names of the global columns, in CSV order.
    public static var globalNames: [String] {
        MarginMeter.deltaNames.map { "margin_\($0)" } + ["flip_sensitivity", "null_pattern_change", "excess_flips"]
            + LagSnapshot.lags.flatMap { ["pattern_change_lag\($0)", "weight_update_abs_lag\($0)", "weight_update_rel_lag\($0)"] }
    }

    /// Header and columns in CSV order, for pattern layers named `layers` and parameter groups
    /// named `groups`.
    public func csvColumns(layers: [String], groups: [String]) -> [(String, [Double?])] {
        var out: [(String, [Double?])] = []
        for (d, name) in MarginMeter.deltaNames.enumerated() { out.append(("margin_\(name)", margin[d])) }
        for (d, name) in MarginMeter.deltaNames.enumerated() {
            for (l, layer) in layers.enumerated() { out.append(("margin_\(name).\(layer)", layerMargin[d][l])) }
        }
        out.append(("flip_sensitivity", flipSensitivity))
        for (l, layer) in layers.enumerated() { out.append(("flip_sensitivity.\(layer)", layerFlipSensitivity[l])) }
        out.append(("null_pattern_change", nullPatternChange))
        out.append(("excess_flips", excessFlips))
        for (l, layer) in layers.enumerated() { out.append(("null_pattern_change.\(layer)", layerNullPatternChange[l])) }
        for (l, layer) in layers.enumerated() { out.append(("excess_flips.\(layer)", layerExcessFlips[l])) }
        for (k, lag) in LagSnapshot.lags.enumerated() {
            out.append(("pattern_change_lag\(lag)", patternChangeLag[k]))
            out.append(("weight_update_abs_lag\(lag)", weightUpdateAbsLag[k]))
            out.append(("weight_update_rel_lag\(lag)", weightUpdateRelLag[k]))
        }
        return out + (layerLags?.csvColumns(layers: layers, groups: groups) ?? [])
    }

    /// Reads the columns back from `table` (nil when it has none of them: a curve written before
    /// these instruments). Every column must then be present.
    init?(table: NumericCSV, layers: [String], groups: [String], file: String) throws {
        guard table.header.contains("margin_0.01") else { return nil }
        self.init(patternLayerCount: layers.count, parameterGroupCount: groups.count)
        layerLags = nil  // read last: curves of the version before them have every column but these
        let names = csvColumns(layers: layers, groups: groups).map(\.0)
        var read: [[Double?]] = []
        for name in names {
            guard let column = table.column(name) else { throw CSVError("\(file): no column '\(name)'") }
            read.append(column)
        }
        var next = 0
        func take() -> [Double?] { defer { next += 1 }; return read[next] }
        let L = layers.count
        for d in margin.indices { margin[d] = take() }
        for d in margin.indices { for l in 0..<L { layerMargin[d][l] = take() } }
        flipSensitivity = take()
        for l in 0..<L { layerFlipSensitivity[l] = take() }
        nullPatternChange = take()
        excessFlips = take()
        for l in 0..<L { layerNullPatternChange[l] = take() }
        for l in 0..<L { layerExcessFlips[l] = take() }
        for k in LagSnapshot.lags.indices {
            patternChangeLag[k] = take(); weightUpdateAbsLag[k] = take(); weightUpdateRelLag[k] = take()
        }
        layerLags = try LayerLagColumns(table: table, layers: layers, groups: groups, file: file)
    }
}
