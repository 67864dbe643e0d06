/// A labelled split: N examples of `featureCount` features (held compactly, see `FeatureRows`)
/// and N labels.
public struct LabeledSplit: Sendable {
    public var rows: FeatureRows
    public var labels: [Int32]
    public var classCount: Int
    /// (channels, height, width) of an example, for convolutional architectures.
    public var shape: (channels: Int, height: Int, width: Int)

    public var count: Int { labels.count }
    public var featureCount: Int { rows.featureCount }

    public init(rows: FeatureRows, labels: [Int32], classCount: Int, shape: (channels: Int, height: Int, width: Int)) {
        precondition(rows.count == labels.count)
        self.rows = rows; self.labels = labels; self.classCount = classCount; self.shape = shape
    }

    /// A split of Float features, row-major.
    public init(features: [Float], labels: [Int32], featureCount: Int, classCount: Int,
                shape: (channels: Int, height: Int, width: Int)) {
        precondition(features.count == labels.count * featureCount)
        self.init(rows: FeatureRows(floats: features, featureCount: featureCount), labels: labels, classCount: classCount,
                  shape: shape)
    }

    /// A split held in this process's memory: `pixels` are `labels.count` rows of bytes, read by `encoding`.
    public init(pixels: [UInt8], labels: [UInt8], encoding: PixelEncoding, classCount: Int,
                shape: (channels: Int, height: Int, width: Int)) {
        let storage = pixels.withUnsafeBytes { ByteStorage(copying: $0) }
        self.init(rows: FeatureRows(bytes: storage, offset: 0, rows: labels.count,
                                    featureCount: shape.channels * shape.height * shape.width, encoding: encoding),
                  labels: labels.map { Int32($0) }, classCount: classCount, shape: shape)
    }

    /// The examples at `indices`, in that order (a view of the same storage).
    public func subset(_ indices: [Int]) -> LabeledSplit {
        LabeledSplit(rows: rows.subset(indices), labels: indices.map { labels[$0] }, classCount: classCount, shape: shape)
    }

    /// The first `count` examples.
    public func prefix(_ count: Int) -> LabeledSplit {
        let n = min(count, self.count)
        return LabeledSplit(rows: rows.prefix(n), labels: Array(labels.prefix(n)), classCount: classCount, shape: shape)
    }

    /// Writes example `example`'s features, as Floats, to `destination`.
    public func copyFeatures(of example: Int, into destination: UnsafeMutablePointer<Float>) {
        rows.copy(row: example, into: destination)
    }

    /// A hint to bring example `example`'s stored features into cache (`copyFeatures` soon after).
    public func prefetchFeatures(of example: Int) { rows.prefetch(row: example) }

    /// Writes the features of `examples`, one after another, to `destination`.
    public func copyFeatures(of examples: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        rows.copy(rows: examples, into: destination)
    }

    /// Every example's features as Floats, row-major (tests and small data only).
    public func materializedFeatures() -> [Float] { rows.materialized() }

    /// Calls `body(first, rows, features)` on consecutive chunks of at most `chunk` examples, in
    /// order, each converted to Floats in `buffer` (at least min(chunk, count) x featureCount
    /// Floats; nil: a buffer allocated for this call).
    func forEachChunk(rows chunk: Int, buffer: FloatBuffer? = nil, _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        let floats = buffer ?? FloatBuffer(count: min(chunk, count) * featureCount)
        precondition(floats.count >= min(chunk, count) * featureCount)
        var first = 0
        while first < count {
            let rows = min(chunk, count - first)
            copyFeatures(of: first..<(first + rows), into: floats.pointer)
            body(first, rows, floats.pointer)
            first += rows
        }
    }
}

/// A training split and a held-out split of one data set, as read (pixel values in [0, 1]).
public struct Dataset: Sendable {
    public var name: String
    public var train: LabeledSplit
    public var test: LabeledSplit
}

/// A data set that cannot be read; the message names the file and what was wrong.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
