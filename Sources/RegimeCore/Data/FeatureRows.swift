/// How an image format's pixel bytes become feature values in [0, 1]. Each reader keeps the rule
/// it has always used, so that no result changes: the two rules differ in the last bit for 126 of
/// the 256 byte values.
public enum PixelEncoding: UInt64, Sendable {
    /// IDX files (MNIST, Fashion-MNIST): `Float(byte) * Float(1/255)`, the reciprocal rounded to Float first.
    case idx = 1
    /// CIFAR-10: `Float(byte) / 255`, one correctly rounded division.
    case cifar = 2

    public func value(_ byte: UInt8) -> Float {
        switch self {
        case .idx: return Float(byte) * (1.0 / 255.0 as Float)
        case .cifar: return Float(byte) / 255
        }
    }

    /// `value(b)` for every byte b.
    public var table: [Float] { (0...255).map { value(UInt8($0)) } }
}

/// The feature rows of a split, held compactly and converted to the engine's Floats where they
/// are used (a batch, a probe or validation chunk).
///
/// Two storages: Floats (the synthetic data set, tests, benchmarks), or bytes with a 256-entry
/// table that gives each byte's Float value. Standardising a byte split, x -> (x - mean) * scale,
/// applies those two Float operations to the table's 256 entries instead of to every pixel: a
/// pixel's converted value is then `table[byte]`, the very Float the same two operations give on
/// that pixel's value, so the byte path is bit-identical to converting the whole data set to
/// standardised Floats up front (tested on all 70000 Fashion-MNIST images). Subsets and prefixes
/// are views (a list of rows), never copies of the pixels.
public struct FeatureRows: Sendable {
    public let featureCount: Int
    public let count: Int
    let values: Values
    /// Storage row of each row (nil: row i is storage row i).
    let selection: [Int]?

    enum Values: Sendable {
        /// Row-major Floats.
        case floats([Float])
        /// Storage row r's features are the `featureCount` bytes at `offset + r * featureCount`;
        /// byte b reads as `table[b]`.
        case bytes(ByteStorage, offset: Int, table: [Float])
    }

    public init(floats: [Float], featureCount: Int) {
        precondition(featureCount > 0 && floats.count % featureCount == 0)
        self.featureCount = featureCount
        count = floats.count / featureCount
        values = .floats(floats)
        selection = nil
    }

    /// `rows` rows of `featureCount` bytes starting at `offset` in `storage`, read by `encoding`.
    public init(bytes storage: ByteStorage, offset: Int, rows: Int, featureCount: Int, encoding: PixelEncoding) {
        precondition(featureCount > 0 && offset >= 0 && offset + rows * featureCount <= storage.bytes.count)
        self.featureCount = featureCount
        count = rows
        values = .bytes(storage, offset: offset, table: encoding.table)
        selection = nil
    }

    private init(featureCount: Int, count: Int, values: Values, selection: [Int]?) {
        self.featureCount = featureCount; self.count = count; self.values = values; self.selection = selection
    }

    /// The bytes these rows view (nil for Float rows).
    public var byteStorage: ByteStorage? {
        if case .bytes(let storage, _, _) = values { return storage }
        return nil
    }

    /// Bytes of this process's own memory these rows hold: the row list, the Floats or the
    /// conversion table, and pixels read into memory (a mapped file's pages are not counted).
    public var privateBytes: Int {
        let rows = 8 * (selection?.count ?? 0)
        switch values {
        case .floats(let floats): return rows + 4 * floats.count
        case .bytes(let storage, _, let table): return rows + 4 * table.count + (storage.mappedFile == nil ? storage.bytes.count : 0)
        }
    }

    @inline(__always) func storageRow(_ row: Int) -> Int { selection?[row] ?? row }

    /// The rows at `indices`, in that order (a view).
    public func subset(_ indices: [Int]) -> FeatureRows {
        precondition(indices.allSatisfy { $0 >= 0 && $0 < count })
        return FeatureRows(featureCount: featureCount, count: indices.count, values: values,
                           selection: indices.map(storageRow))
    }

    /// The first `n` rows (a view).
    public func prefix(_ n: Int) -> FeatureRows {
        let n = min(max(n, 0), count)
        return FeatureRows(featureCount: featureCount, count: n, values: values, selection: selection.map { Array($0.prefix(n)) })
    }

    /// Every value x replaced by `(x - mean) * scale` in Float. Bytes: the table's entries are
    /// transformed (no pixel is touched). Floats: the rows are copied, transformed, in row order.
    public func standardised(mean: Float, scale: Float) -> FeatureRows {
        switch values {
        case .bytes(let storage, let offset, let table):
            return FeatureRows(featureCount: featureCount, count: count,
                               values: .bytes(storage, offset: offset, table: table.map { ($0 - mean) * scale }),
                               selection: selection)
        case .floats:
            var out = materialized()
            for i in 0..<out.count { out[i] = (out[i] - mean) * scale }
            return FeatureRows(floats: out, featureCount: featureCount)
        }
    }

    /// Writes row `row`'s `featureCount` Floats to `destination`.
    public func copy(row: Int, into destination: UnsafeMutablePointer<Float>) {
        let r = storageRow(row)
        switch values {
        case .floats(let floats):
            floats.withUnsafeBufferPointer { destination.update(from: $0.baseAddress! + r * featureCount, count: featureCount) }
        case .bytes(let storage, let offset, let table):
            let source = storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset + r * featureCount
            table.withUnsafeBufferPointer { t in
                for i in 0..<featureCount { destination[i] = t[Int(source[i])] }
            }
        }
    }

    /// Writes rows `rows` one after another to `destination` (`rows.count * featureCount` Floats).
    public func copy(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        for (k, row) in rows.enumerated() { copy(row: row, into: destination + k * featureCount) }
    }

    /// Sum and sum of squares of every value in Double, accumulated row by row in row order
    /// (a fixed order: the result is deterministic), and the number of values.
    public func moments() -> (sum: Double, sumSquares: Double, count: Int) {
        var sum = 0.0, sumSquares = 0.0
        switch values {
        case .floats(let floats):
            floats.withUnsafeBufferPointer { f in
                for row in 0..<count {
                    let base = f.baseAddress! + storageRow(row) * featureCount
                    for i in 0..<featureCount { let x = base[i]; sum += Double(x); sumSquares += Double(x) * Double(x) }
                }
            }
        case .bytes(let storage, let offset, let table):
            let bytes = storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset
            table.withUnsafeBufferPointer { t in
                for row in 0..<count {
                    let base = bytes + storageRow(row) * featureCount
                    for i in 0..<featureCount { let x = t[Int(base[i])]; sum += Double(x); sumSquares += Double(x) * Double(x) }
                }
            }
        }
        return (sum, sumSquares, count * featureCount)
    }

    /// Every row converted to Floats, row-major: the whole split in Float. For tests and small
    /// data; the engine converts a batch or a chunk at a time.
    public func materialized() -> [Float] {
        var out = [Float](repeating: 0, count: count * featureCount)
        out.withUnsafeMutableBufferPointer { copy(rows: 0..<count, into: $0.baseAddress!) }
        return out
    }
}
