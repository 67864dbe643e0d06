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
}

/// How a stored byte becomes the Float the engine reads: the encoding's value, then each
/// standardisation step `x -> (x - mean) * scale`, in order, each operation rounded to Float.
///
/// `value` is the naive reference (one byte at a time); `convert` the fast path, the same
/// operations on 16 lanes at once (SIMD16: byte to Float is exact, and each lane's multiply,
/// divide and subtract is the IEEE operation of the scalar path, with no fused multiply-add), so
/// both give the same bits (tested for every byte value).
public struct PixelRule: Sendable {
    public var encoding: PixelEncoding
    public var steps: [Step]

    public struct Step: Sendable, Equatable {
        public var mean: Float
        public var scale: Float
    }

    public init(encoding: PixelEncoding, steps: [Step] = []) { self.encoding = encoding; self.steps = steps }

    public func value(_ byte: UInt8) -> Float {
        var x = encoding.value(byte)
        for step in steps { x = (x - step.mean) * step.scale }
        return x
    }

    /// `value(b)` for every byte b.
    public var table: [Float] { (0...255).map { value(UInt8($0)) } }

    /// `destination[i] = value(source[i])` for i < count.
    public func convert(_ source: UnsafePointer<UInt8>, count: Int, into destination: UnsafeMutablePointer<Float>) {
        let reciprocal = SIMD16<Float>(repeating: 1.0 / 255.0 as Float), divisor = SIMD16<Float>(repeating: 255)
        steps.withUnsafeBufferPointer { steps in
            var i = 0
            while i + 16 <= count {
                var x = loadBytesWidened16(source + i)
                switch encoding {
                case .idx: x = x * reciprocal
                case .cifar: x = x / divisor
                }
                for step in steps { x = (x - SIMD16(repeating: step.mean)) * SIMD16(repeating: step.scale) }
                UnsafeMutableRawPointer(destination + i).storeBytes(of: x, as: SIMD16<Float>.self)
                i += 16
            }
            while i < count {
                destination[i] = value(source[i])
                i += 1
            }
        }
    }
}

/// The feature rows of a split, held compactly and converted to the engine's Floats where they
/// are used (a batch, a probe or validation chunk).
///
/// Two storages: Floats (the synthetic data set, tests, benchmarks), or bytes with a `PixelRule`
/// that turns each byte into its Float. Standardising a byte split, x -> (x - mean) * scale, adds
/// that step to the rule instead of rewriting every pixel: a pixel's converted value is then the
/// very Float the same Float operations gave when the whole data set was converted to
/// standardised Floats up front, so the byte path is bit-identical to that path (tested on all
/// 70000 Fashion-MNIST images). Subsets and prefixes are views (a list of rows), never copies of
/// the pixels.
public struct FeatureRows: Sendable {
    public let featureCount: Int
    public let count: Int
    let values: Values
    /// Storage row of each row (nil: row i is storage row i).
    let selection: [Int]?
    /// The first byte of storage row 0 for byte rows (nil for Floats), so that `prefetch(row:)`
    /// need not take the storage out of `values`, a retain per example (1% of an untracked MLP
    /// step under `perf`); valid as long as `values` holds the storage.
    nonisolated(unsafe) private let rowBytes: UnsafeRawPointer?

    enum Values: Sendable {
        /// Row-major Floats.
        case floats([Float])
        /// Storage row r's features are the `featureCount` bytes at `offset + r * featureCount`,
        /// read by `rule`.
        case bytes(ByteStorage, offset: Int, rule: PixelRule)
    }

    public init(floats: [Float], featureCount: Int) {
        precondition(featureCount > 0 && floats.count % featureCount == 0)
        self.featureCount = featureCount
        count = floats.count / featureCount
        values = .floats(floats)
        selection = nil
        rowBytes = nil
    }

    /// `rows` rows of `featureCount` bytes starting at `offset` in `storage`, read by `encoding`.
    public init(bytes storage: ByteStorage, offset: Int, rows: Int, featureCount: Int, encoding: PixelEncoding) {
        precondition(featureCount > 0 && offset >= 0 && offset + rows * featureCount <= storage.bytes.count)
        self.init(featureCount: featureCount, count: rows, values: .bytes(storage, offset: offset, rule: PixelRule(encoding: encoding)),
                  selection: nil)
    }

    private init(featureCount: Int, count: Int, values: Values, selection: [Int]?) {
        self.featureCount = featureCount; self.count = count; self.values = values; self.selection = selection
        if case .bytes(let storage, let offset, _) = values { rowBytes = storage.bytes.baseAddress! + offset } else { rowBytes = nil }
    }

    /// The bytes these rows view (nil for Float rows).
    public var byteStorage: ByteStorage? {
        if case .bytes(let storage, _, _) = values { return storage }
        return nil
    }

    /// Bytes of this process's own memory these rows hold: the row list, the Floats or the
    /// rule's steps, and pixels read into memory (a mapped file's pages are not counted).
    public var privateBytes: Int {
        let rows = 8 * (selection?.count ?? 0)
        switch values {
        case .floats(let floats): return rows + 4 * floats.count
        case .bytes(let storage, _, let rule): return rows + 8 * rule.steps.count + (storage.mappedFile == nil ? storage.bytes.count : 0)
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

    /// Every value x replaced by `(x - mean) * scale` in Float. Bytes: the step joins the rule
    /// (no pixel is touched). Floats: the rows are copied, transformed, in row order.
    public func standardised(mean: Float, scale: Float) -> FeatureRows {
        switch values {
        case .bytes(let storage, let offset, var rule):
            rule.steps.append(PixelRule.Step(mean: mean, scale: scale))
            return FeatureRows(featureCount: featureCount, count: count, values: .bytes(storage, offset: offset, rule: rule),
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
        case .bytes(let storage, let offset, let rule):
            let source = storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset + r * featureCount
            rule.convert(source, count: featureCount, into: destination)
        }
    }

    /// Asks the CPU to bring row `row`'s stored values into cache (a hint: no effect on any value).
    public func prefetch(row: Int) {
        let r = storageRow(row)
        if let rowBytes {
            prefetchBytes(rowBytes + r * featureCount, count: featureCount)
        } else if case .floats(let floats) = values {
            floats.withUnsafeBufferPointer { prefetchBytes(UnsafeRawPointer($0.baseAddress! + r * featureCount), count: 4 * featureCount) }
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
        case .bytes(let storage, let offset, let rule):
            let bytes = storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset
            rule.table.withUnsafeBufferPointer { t in
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
