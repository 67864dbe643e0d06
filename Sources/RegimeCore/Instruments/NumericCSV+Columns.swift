/// Column access by name for the readers of regime's numeric files.
extension NumericCSV {
    /// The names after `prefix` of the columns that start with it, in header order
    /// (`weight_distance.fc1` -> `fc1` for the prefix `weight_distance.`).
    public func names(after prefix: String) -> [String] {
        header.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// The named column, every field a number; `file` names the file in the error for a missing
    /// column or an empty field, with the line.
    public func requiredColumn(_ name: String, file: String) throws -> [Double] {
        guard let values = column(name) else { throw CSVError("\(file): no column '\(name)'") }
        return try values.enumerated().map { row, x in
            guard let x else { throw CSVError("\(file): line \(row + 2): column '\(name)' is empty") }
            return x
        }
    }
}
