import Foundation
import XCTest
@testable import RegimeCore

/// Pixels held as bytes and converted where they are used give the engine exactly the Floats
/// of the former path, which converted and standardised every image up front: checked bit for
/// bit on all 70000 Fashion-MNIST images, and on a few training steps.
final class CompactDataTests: XCTestCase {
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// The data path before pixels were kept as bytes, verbatim: every pixel became
    /// `Float(byte) * Float(1/255)`, the scalar mean and standard deviation of the training
    /// features were summed in Double in file order, and every feature became `(x - m) * s`.
    struct FormerPath {
        var train: [Float], test: [Float]
        var trainLabels: [Int32], testLabels: [Int32]
        var mean: Float, std: Float

        init(directory: String) throws {
            func read(_ stem: String, rank: Int) throws -> [UInt8] {
                try IDXReader.read(path: (directory as NSString).appendingPathComponent(stem + ".gz"), rank: rank).bytes
            }
            let scale: Float = 1.0 / 255.0
            var train = try read("train-images-idx3-ubyte", rank: 3).map { Float($0) * scale }
            var test = try read("t10k-images-idx3-ubyte", rank: 3).map { Float($0) * scale }
            trainLabels = try read("train-labels-idx1-ubyte", rank: 1).map { Int32($0) }
            testLabels = try read("t10k-labels-idx1-ubyte", rank: 1).map { Int32($0) }
            var sum = 0.0, sumSquares = 0.0
            for x in train { sum += Double(x); sumSquares += Double(x) * Double(x) }
            let n = Double(max(train.count, 1))
            let mean = sum / n
            let std = max((sumSquares / n - mean * mean).squareRoot(), 1e-6)
            let (m, s) = (Float(mean), Float(1 / std))
            for i in 0..<train.count { train[i] = (train[i] - m) * s }
            for i in 0..<test.count { test[i] = (test[i] - m) * s }
            self.train = train; self.test = test; self.mean = m; self.std = Float(std)
        }
    }

    static func requireFashionMNIST() throws {
        guard FileManager.default.fileExists(atPath: fashionMNIST) else {
            throw DatasetError("\(fashionMNIST): missing; install the Debian package dataset-fashion-mnist (`make setup`)")
        }
    }

    /// Fails with the first differing value, if any.
    func assertBitIdentical(_ converted: [Float], _ former: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(converted.count, former.count, "\(what): count", file: file, line: line)
        if let i = converted.indices.first(where: { $0 < former.count && converted[$0].bitPattern != former[$0].bitPattern }) {
            XCTFail("\(what): value \(i) (example \(i / 784), pixel \(i % 784)) is \(converted[i]) (0x\(String(converted[i].bitPattern, radix: 16))), the former path gave \(former[i]) (0x\(String(former[i].bitPattern, radix: 16)))",
                    file: file, line: line)
        }
    }

    func testBytePathIsBitIdenticalOnAllOfFashionMNIST() throws {
        try Self.requireFashionMNIST()
        let former = try FormerPath(directory: Self.fashionMNIST)
        let cache = DatasetCache(files: DatasetFileCache(directory: try makeTemporaryDirectory("compact-tests").appendingPathComponent("cache")))
        let spec = DatasetSpec(name: "fashion-mnist", probeSubset: 512, probeSeed: 7)
        let data = try cache.prepare(spec)
        XCTAssertEqual(cache.mappedFiles.count, 1, "the pixels come from the mapped file")
        XCTAssertEqual(data.mean.bitPattern, former.mean.bitPattern, "mean \(data.mean) vs \(former.mean)")
        XCTAssertEqual(data.std.bitPattern, former.std.bitPattern, "std \(data.std) vs \(former.std)")
        XCTAssertEqual(data.train.count, 60000)
        XCTAssertEqual(data.validation.count, 10000)
        XCTAssertEqual(data.train.labels, former.trainLabels)
        XCTAssertEqual(data.validation.labels, former.testLabels)
        assertBitIdentical(data.train.materializedFeatures(), former.train, "train (60000 images)")
        assertBitIdentical(data.validation.materializedFeatures(), former.test, "validation (10000 images)")
        // The probe: the former path's rows at the same draw.
        var rng = Xoshiro256(seed: 7, stream: .probe)
        let indices = Array(rng.permutation(10000).prefix(512))
        let formerProbe = indices.flatMap { former.test[($0 * 784)..<(($0 + 1) * 784)] }
        assertBitIdentical(data.probe.materializedFeatures(), formerProbe, "probe (512 images)")
        XCTAssertEqual(data.probe.labels, indices.map { former.testLabels[$0] })
        // One row at a time, as loadBatch converts them.
        var row = [Float](repeating: .nan, count: 784)
        for example in [0, 1, 29999, 59999] {
            row.withUnsafeMutableBufferPointer { data.train.copyFeatures(of: example, into: $0.baseAddress!) }
            assertBitIdentical(row, Array(former.train[(example * 784)..<((example + 1) * 784)]), "train example \(example)")
        }

        // A train subset is standardised by its own statistics, exactly as before.
        let subset = try cache.prepare(DatasetSpec(name: "fashion-mnist", trainSubset: 1000, probeSubset: 64))
        var sum = 0.0, sumSquares = 0.0
        let scale: Float = 1.0 / 255.0
        let raw = try IDXReader.read(path: Self.fashionMNIST + "/train-images-idx3-ubyte.gz", rank: 3).bytes.prefix(1000 * 784)
            .map { Float($0) * scale }
        for x in raw { sum += Double(x); sumSquares += Double(x) * Double(x) }
        let mean = sum / Double(raw.count)
        let std = max((sumSquares / Double(raw.count) - mean * mean).squareRoot(), 1e-6)
        let (m, s) = (Float(mean), Float(1 / std))
        assertBitIdentical(subset.train.materializedFeatures(), raw.map { ($0 - m) * s }, "train subset of 1000")
    }

    /// The same trial on the byte path and on the former Float data: identical curves and parameters.
    func testTrainingOnBytesEqualsTrainingOnTheFormerFloats() throws {
        try Self.requireFashionMNIST()
        let former = try FormerPath(directory: Self.fashionMNIST)
        let cache = DatasetCache(files: DatasetFileCache(directory: try makeTemporaryDirectory("compact-tests").appendingPathComponent("cache")))
        let spec = TrialSpec(arch: "mlp:784-32-10", dataset: DatasetSpec(name: "fashion-mnist", probeSubset: 256, probeSeed: 7),
                             optimizer: OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9), batchSize: 64, iterations: 30,
                             seed: 3, recordEvery: 1, evalEvery: 15)
        let bytes = try cache.prepare(spec.dataset)
        var rng = Xoshiro256(seed: 7, stream: .probe)
        let indices = Array(rng.permutation(10000).prefix(256))
        let shape = (channels: 1, height: 28, width: 28)
        let test = LabeledSplit(features: former.test, labels: former.testLabels, featureCount: 784, classCount: 10, shape: shape)
        let floats = PreparedData(
            train: LabeledSplit(features: former.train, labels: former.trainLabels, featureCount: 784, classCount: 10, shape: shape),
            validation: test, probe: test.subset(indices), mean: former.mean, std: former.std)
        let a = try Trainer(spec: spec, data: bytes)
        let b = try Trainer(spec: spec, data: floats)
        try a.run()
        try b.run()
        XCTAssertEqual(a.curve, b.curve)
        XCTAssertEqual(a.curve.csv(), b.curve.csv())
        XCTAssertEqual(a.parameters.array.map(\.bitPattern), b.parameters.array.map(\.bitPattern))
        XCTAssertNotNil(a.curve.valAccuracy.last ?? nil)
    }

    /// Each reader's rule, as before: IDX multiplies by the Float reciprocal, CIFAR-10 divides.
    func testPixelEncodingsAreTheReadersFormerRules() {
        let scale: Float = 1.0 / 255.0
        XCTAssertEqual(PixelRule(encoding: .idx).table.map(\.bitPattern), (0...255).map { (Float($0) * scale).bitPattern })
        XCTAssertEqual(PixelRule(encoding: .cifar).table.map(\.bitPattern), (0...255).map { (Float($0) / 255).bitPattern })
        let differing = (0...255).filter { PixelRule(encoding: .idx).table[$0] != PixelRule(encoding: .cifar).table[$0] }.count
        XCTAssertEqual(differing, 126, "the two rules differ in the last bit for 126 byte values")
        XCTAssertEqual(PixelRule(encoding: .idx).table[0], 0)
        XCTAssertEqual(PixelRule(encoding: .idx).table[255], 1)
        XCTAssertEqual(PixelRule(encoding: .cifar).table[255], 1)
    }

    /// The 16-lane conversion gives the scalar reference's bits for every byte, encoding and
    /// number of standardisation steps (the Fashion-MNIST statistics among them), at every tail length.
    func testFastConversionEqualsTheScalarReference() {
        let bytes = (0..<(256 + 37)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) } + Array(0...255)
        let stepLists: [[PixelRule.Step]] = [[], [PixelRule.Step(mean: 0.28604063, scale: 2.8340964)],
                                             [PixelRule.Step(mean: 0.1, scale: 3), PixelRule.Step(mean: -0.7, scale: 0.01)]]
        for encoding in [PixelEncoding.idx, .cifar] {
            for steps in stepLists {
                let rule = PixelRule(encoding: encoding, steps: steps)
                for count in [bytes.count, 15, 16, 17, 784] where count <= bytes.count {
                    var out = [Float](repeating: .nan, count: count)
                    bytes.withUnsafeBufferPointer { b in out.withUnsafeMutableBufferPointer { rule.convert(b.baseAddress!, count: count, into: $0.baseAddress!) } }
                    XCTAssertEqual(out.map(\.bitPattern), bytes.prefix(count).map { rule.value($0).bitPattern }, "\(encoding) \(steps) count \(count)")
                }
            }
        }
    }

    /// Subsets of subsets, prefixes and standardisation of byte rows match the same operations on Floats.
    func testViewsOfByteRowsMatchFloatRows() {
        var rng = Xoshiro256(seed: 11, stream: 0)
        let bytes = (0..<(20 * 6)).map { _ in UInt8(rng.nextInt(below: 256)) }
        let labels = (0..<20).map { UInt8($0 % 10) }
        let shape = (channels: 1, height: 2, width: 3)
        let byteSplit = LabeledSplit(pixels: bytes, labels: labels, encoding: .idx, classCount: 10, shape: shape)
        let floatSplit = LabeledSplit(features: bytes.map { PixelEncoding.idx.value($0) }, labels: labels.map { Int32($0) },
                                      featureCount: 6, classCount: 10, shape: shape)
        func check(_ a: LabeledSplit, _ b: LabeledSplit, _ what: String) {
            XCTAssertEqual(a.materializedFeatures().map(\.bitPattern), b.materializedFeatures().map(\.bitPattern), what)
            XCTAssertEqual(a.labels, b.labels, what)
        }
        check(byteSplit, floatSplit, "whole")
        check(byteSplit.prefix(7), floatSplit.prefix(7), "prefix")
        check(byteSplit.subset([5, 2, 19, 2]).subset([3, 0]), floatSplit.subset([5, 2, 19, 2]).subset([3, 0]), "subset of subset")
        check(byteSplit.prefix(12).subset([11, 0]), floatSplit.prefix(12).subset([11, 0]), "subset of prefix")
        var a = byteSplit.subset([4, 9, 1]), b = floatSplit.subset([4, 9, 1])
        a.rows = a.rows.standardised(mean: 0.3, scale: 2.7)
        b.rows = b.rows.standardised(mean: 0.3, scale: 2.7)
        check(a, b, "standardised subset")
        XCTAssertEqual(byteSplit.rows.moments().sum.bitPattern, floatSplit.rows.moments().sum.bitPattern)
        XCTAssertEqual(byteSplit.prefix(9).rows.moments().sumSquares.bitPattern, floatSplit.prefix(9).rows.moments().sumSquares.bitPattern)
    }
}
