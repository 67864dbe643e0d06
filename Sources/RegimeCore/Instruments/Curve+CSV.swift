import Foundation

/// The one CSV codec of regime's numeric files (`curves/<id>.csv`, `groups/<id>.csv`, `curve.csv`).
///
/// Writing: numbers in Swift's shortest round-trip form (so a file is exact and the same wherever
/// it is written), `nan`, `inf`, `-inf` for non-finite values, an empty field for a value that was
/// not measured; the `iteration` column and counts (`*_n`) hold whole numbers, written as integers. Reading is the inverse: an empty field is `nil` ("not measured"), `nan`/`inf`/
/// `-inf` are the IEEE values, anything else must parse as a Double; every error names the file
/// and the line.
public struct NumericCSV: Equatable, Sendable {
    public var header: [String]
    /// Columns in header order; `nil` where the field was empty.
    public var columns: [[Double?]]

    public init(header: [String], columns: [[Double?]]) {
        precondition(header.count == columns.count, "NumericCSV: \(header.count) names but \(columns.count) columns")
        self.header = header
        self.columns = columns
    }

    public var rowCount: Int { columns.first?.count ?? 0 }

    /// The named column, `nil` if the file has none.
    public func column(_ name: String) -> [Double?]? { header.firstIndex(of: name).map { columns[$0] } }

    /// The named column with unmeasured values as NaN (for plotting and statistics that skip NaN).
    public func values(_ name: String) -> [Double]? { column(name).map { $0.map { $0 ?? .nan } } }

    /// One field as written.
    public static func field(_ x: Double?) -> String {
        guard let x else { return "" }
        return x.isFinite ? "\(x)" : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf"))
    }

    /// The table as text: the header line, then one line per row, each ending in a newline.
    public func text() -> String {
        var lines = [header.joined(separator: ",")]
        lines.reserveCapacity(rowCount + 1)
        let integer = header.map { $0 == "iteration" || $0.hasSuffix("_n") }
        for i in 0..<rowCount {
            lines.append(columns.indices.map { k in
                if integer[k], let x = columns[k][i], let n = Int(exactly: x) { return String(n) }
                return Self.field(columns[k][i])
            }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses `text`; errors read `FILE: line N: ...`.
    public static func parse(_ text: String, file: String) throws -> NumericCSV {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { throw CSVError("\(file): empty file (expected a header line)") }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var columns = header.map { _ in [Double?]() }
        for (n, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw CSVError("\(file): line \(n + 2) has \(fields.count) fields, the header \(header.count)")
            }
            for (k, field) in fields.enumerated() {
                switch field {
                case "": columns[k].append(nil)
                case "nan": columns[k].append(.nan)
                case "inf": columns[k].append(.infinity)
                case "-inf": columns[k].append(-.infinity)
                default:
                    guard let x = Double(field) else {
                        throw CSVError("\(file): line \(n + 2): '\(field)' in column '\(header[k])' is not a number")
                    }
                    columns[k].append(x)
                }
            }
        }
        return NumericCSV(header: header, columns: columns)
    }
}

/// A numeric CSV file that cannot be read: the message names the file and the line.
public struct CSVError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Curve {
    /// Header of ``csv()``: the fixed columns, then the per-layer ones, then the geometric
    /// instruments (``ProbeColumns``), then (gated trials only) `gate_disagreement`.
    public var csvHeader: [String] {
        ["iteration", "loss", "lr", "weight_update_abs", "weight_update_rel", "pattern_change", "pattern_change_init", "val_accuracy"]
            + layerNames.map { "weight_update_abs.\($0)" } + layerNames.map { "weight_update_rel.\($0)" }
            + patternLayerNames.map { "pattern_change.\($0)" } + patternLayerNames.map { "pattern_change_init.\($0)" }
            + (probe?.csvColumns(layers: patternLayerNames, groups: layerNames).map(\.0) ?? [])
            + (gateDisagreement == nil ? [] : ["gate_disagreement"])
    }

    /// The curve as a table (unmeasured validation accuracy is an empty field).
    public var table: NumericCSV {
        var columns: [[Double?]] = [iteration.map(Double.init), loss, lr, weightUpdateAbs, weightUpdateRel, patternChange,
                                     patternChangeInit].map { $0.map(Optional.some) } + [valAccuracy]
            + (layerWeightUpdateAbs + layerWeightUpdateRel + layerPatternChange + layerPatternChangeInit).map { $0.map(Optional.some) }
        columns += probe?.csvColumns(layers: patternLayerNames, groups: layerNames).map(\.1) ?? []
        columns += gateDisagreement.map { [$0] } ?? []
        return NumericCSV(header: csvHeader, columns: columns)
    }

    /// The curve as CSV (see ``NumericCSV``).
    public func csv() -> String { table.text() }

    /// Reads a curve written by ``csv()`` back, exactly.
    public init(csv text: String, file: String) throws {
        let table = try NumericCSV.parse(text, file: file)
        func prefixed(_ prefix: String) -> [String] {
            table.header.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
        }
        self.init(layerNames: prefixed("weight_update_abs."), patternLayerNames: prefixed("pattern_change."))
        func required(_ name: String) throws -> [Double] {
            guard let column = table.column(name) else { throw CSVError("\(file): no column '\(name)'") }
            return try column.enumerated().map { row, x in
                guard let x else { throw CSVError("\(file): line \(row + 2): column '\(name)' is empty") }
                return x
            }
        }
        iteration = try required("iteration").map { Int($0) }
        loss = try required("loss")
        lr = try required("lr")
        weightUpdateAbs = try required("weight_update_abs")
        weightUpdateRel = try required("weight_update_rel")
        patternChange = try required("pattern_change")
        patternChangeInit = try required("pattern_change_init")
        guard let accuracy = table.column("val_accuracy") else { throw CSVError("\(file): no column 'val_accuracy'") }
        valAccuracy = accuracy
        layerWeightUpdateAbs = try layerNames.map { try required("weight_update_abs.\($0)") }
        layerWeightUpdateRel = try layerNames.map { try required("weight_update_rel.\($0)") }
        layerPatternChange = try patternLayerNames.map { try required("pattern_change.\($0)") }
        layerPatternChangeInit = try patternLayerNames.map { try required("pattern_change_init.\($0)") }
        gateDisagreement = table.column("gate_disagreement")
        probe = try ProbeColumns(table: table, layers: patternLayerNames, groups: layerNames, file: file)
    }
}
