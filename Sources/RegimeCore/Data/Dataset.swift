/// A labelled split held in memory: N examples of `featureCount` Floats, row-major, and N labels.
public struct LabeledSplit: Sendable {
    public var features: [Float]
    public var labels: [Int32]
    public var featureCount: Int
    public var classCount: Int
    /// (channels, height, width) of an example, for convolutional architectures.
    public var shape: (channels: Int, height: Int, width: Int)

    public var count: Int { labels.count }

    public init(features: [Float], labels: [Int32], featureCount: Int, classCount: Int,
                shape: (channels: Int, height: Int, width: Int)) {
        precondition(features.count == labels.count * featureCount)
        self.features = features; self.labels = labels; self.featureCount = featureCount
        self.classCount = classCount; self.shape = shape
    }

    /// The examples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> LabeledSplit {
        var out = [Float](); out.reserveCapacity(indices.count * featureCount)
        for i in indices { out.append(contentsOf: features[(i * featureCount)..<((i + 1) * featureCount)]) }
        return LabeledSplit(features: out, labels: indices.map { labels[$0] }, featureCount: featureCount,
                            classCount: classCount, shape: shape)
    }

    /// The first `count` examples.
    public func prefix(_ count: Int) -> LabeledSplit { subset(Array(0..<min(count, self.count))) }

    /// Calls `body(first, rows, features)` on consecutive chunks of at most `rows` examples, in order.
    func forEachChunk(rows chunk: Int, _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        features.withUnsafeBufferPointer { features in
            var first = 0
            while first < count {
                let rows = min(chunk, count - first)
                body(first, rows, features.baseAddress! + first * featureCount)
                first += rows
            }
        }
    }
}

/// A training split and a held-out split of one data set, normalised.
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
