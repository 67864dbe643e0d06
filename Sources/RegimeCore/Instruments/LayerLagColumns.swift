/// The per-layer lag distances (docs/numerics.md, "Lag distances"): per lag k of
/// ``LagSnapshot/lags``, `pattern_change_lag<k>.<layer>` per pattern layer and
/// `weight_update_abs_lag<k>.<group>`, `weight_update_rel_lag<k>.<group>` per parameter group,
/// measured from the same snapshots as the global lag columns (no state of their own), filled at
/// the same rows; nil is an empty CSV field.
///
/// They joined the curve after the other geometric instruments, so ``ProbeColumns`` holds them as
/// an optional: absent (nil) in curves and checkpoints written before them. A trial resumed from
/// such a checkpoint gets empty fields for its earlier rows (``ProbeColumns/continuing``).
public struct LayerLagColumns: Codable, Equatable, Sendable {
    /// Per lag, per pattern layer.
    public var patternChange: [[[Double?]]]
    /// Per lag, per parameter group.
    public var weightUpdateAbs: [[[Double?]]]
    public var weightUpdateRel: [[[Double?]]]

    /// Columns of `rows` empty rows.
    public init(patternLayerCount: Int, parameterGroupCount: Int, emptyRows rows: Int = 0) {
        let empty = [Double?](repeating: nil, count: rows), lags = LagSnapshot.lags.count
        patternChange = Array(repeating: Array(repeating: empty, count: patternLayerCount), count: lags)
        weightUpdateAbs = Array(repeating: Array(repeating: empty, count: parameterGroupCount), count: lags)
        weightUpdateRel = weightUpdateAbs
    }

    /// Appends one row: lag k's distance, or empty fields where it was not measured.
    mutating func append(_ distances: [LagSnapshot.Distance?]) {
        for (k, d) in distances.enumerated() {
            for l in patternChange[k].indices { patternChange[k][l].append(d?.layerPatternChange[l]) }
            for g in weightUpdateAbs[k].indices {
                weightUpdateAbs[k][g].append(d?.layerWeightUpdateAbs[g])
                weightUpdateRel[k][g].append(d?.layerWeightUpdateRel[g])
            }
        }
    }

    /// Header and columns in CSV order: per lag, the pattern layers' pattern change, then the
    /// groups' absolute and then relative weight distances.
    public func csvColumns(layers: [String], groups: [String]) -> [(String, [Double?])] {
        var out: [(String, [Double?])] = []
        for (k, lag) in LagSnapshot.lags.enumerated() {
            for (l, layer) in layers.enumerated() { out.append(("pattern_change_lag\(lag).\(layer)", patternChange[k][l])) }
            for (g, group) in groups.enumerated() { out.append(("weight_update_abs_lag\(lag).\(group)", weightUpdateAbs[k][g])) }
            for (g, group) in groups.enumerated() { out.append(("weight_update_rel_lag\(lag).\(group)", weightUpdateRel[k][g])) }
        }
        return out
    }

    /// Reads the columns back from `table`: nil when it has none of them (a curve written before
    /// them); otherwise every one must be present.
    init?(table: NumericCSV, layers: [String], groups: [String], file: String) throws {
        self.init(patternLayerCount: layers.count, parameterGroupCount: groups.count)
        let names = csvColumns(layers: layers, groups: groups).map(\.0)
        guard names.contains(where: table.header.contains) else { return nil }
        var read = try names.map { name in
            guard let column = table.column(name) else { throw CSVError("\(file): no column '\(name)'") }
            return column
        }.makeIterator()
        for k in LagSnapshot.lags.indices {
            for l in layers.indices { patternChange[k][l] = read.next()! }
            for g in groups.indices { weightUpdateAbs[k][g] = read.next()! }
            for g in groups.indices { weightUpdateRel[k][g] = read.next()! }
        }
    }
}

extension ProbeColumns {
    /// The columns a trial continues after a resume: `probe` as checkpointed, with empty fields
    /// for the `rows` earlier rows of whatever its version did not record (every geometric
    /// instrument when nil, the per-layer lag distances when they are missing).
    public static func continuing(_ probe: ProbeColumns?, patternLayerCount: Int, parameterGroupCount: Int,
                                  rows: Int) -> ProbeColumns {
        var columns = probe ?? ProbeColumns(patternLayerCount: patternLayerCount, parameterGroupCount: parameterGroupCount, emptyRows: rows)
        if columns.layerLags == nil {
            columns.layerLags = LayerLagColumns(patternLayerCount: patternLayerCount, parameterGroupCount: parameterGroupCount,
                                                emptyRows: rows)
        }
        return columns
    }
}
