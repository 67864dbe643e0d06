import Foundation
import XCTest
@testable import RegimeCore

/// The data readers (IDX raw and gzip, CIFAR-10 binary), their error messages (each names the
/// file), the real Fashion-MNIST files of the Debian package `dataset-fashion-mnist`, and
/// `DatasetCache.prepare` (train subset, standardisation, probe set).
final class DataReaderTests: XCTestCase {
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("regime-data-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    // MARK: Helpers

    /// An IDX file: magic `00 00 type rank`, big-endian 32-bit dimensions, then `payload`.
    static func idx(type: UInt8 = 0x08, dimensions: [Int], payload: [UInt8], magic: [UInt8] = [0, 0]) -> [UInt8] {
        var bytes = magic + [type, UInt8(dimensions.count)]
        for d in dimensions { bytes += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        return bytes + payload
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// gzips `path` with the `gzip` command into `path.gz` (keeping the original) and returns the bytes.
    @discardableResult
    func gzip(_ path: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-k", "-n", "-f", path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("gzip is not available (exit \(process.terminationStatus))") }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
    }

    /// Asserts that `body` throws a `DatasetError` whose message starts with the path and contains
    /// every one of `fragments`.
    func assertDatasetError<T>(_ body: @autoclosure () throws -> T, path: String, _ fragments: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("expected an error naming \(path)", file: file, line: line)
        } catch let error as DatasetError {
            XCTAssertTrue(error.description.hasPrefix(path + ":"), "message does not start with the file: \(error)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.description.contains(fragment), "'\(error)' lacks '\(fragment)'", file: file, line: line)
            }
        } catch {
            XCTFail("expected a DatasetError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    /// Two 2x3 images and their labels.
    static let imagePayload: [UInt8] = [0, 255, 51, 102, 1, 254, 7, 8, 9, 10, 11, 12]
    static let labelPayload: [UInt8] = [3, 9]

    // MARK: IDX: valid files

    func testReadsRawAndGzipIdentically() throws {
        let images = try write("images", Self.idx(dimensions: [2, 2, 3], payload: Self.imagePayload))
        let labels = try write("labels", Self.idx(dimensions: [2], payload: Self.labelPayload))
        try gzip(images)
        try gzip(labels)
        let raw = try IDXReader.readSplit(images: images, labels: labels, classCount: 10)
        let compressed = try IDXReader.readSplit(images: images + ".gz", labels: labels + ".gz", classCount: 10)
        for split in [raw, compressed] {
            XCTAssertEqual(split.count, 2)
            XCTAssertEqual(split.featureCount, 6)
            XCTAssertEqual(split.classCount, 10)
            XCTAssertEqual(split.shape.channels, 1)
            XCTAssertEqual(split.shape.height, 2)
            XCTAssertEqual(split.shape.width, 3)
            XCTAssertEqual(split.labels, [3, 9])
            XCTAssertEqual(split.materializedFeatures(), Self.imagePayload.map { Float($0) * (1 / 255 as Float) })
            XCTAssertEqual(split.materializedFeatures()[0], 0)
            XCTAssertEqual(split.materializedFeatures()[1], 1)
        }
        let array = try IDXReader.read(path: images + ".gz", rank: 3)
        XCTAssertEqual(array.dimensions, [2, 2, 3])
        XCTAssertEqual(array.bytes, Self.imagePayload)
    }

    func testLoadFilesPrefersGzipAndReadsBothSplits() throws {
        // Raw files with one content, .gz files with another: the .gz ones must be read.
        let stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
        let rawContents = [Self.idx(dimensions: [1, 28, 28], payload: [UInt8](repeating: 1, count: 784)),
                           Self.idx(dimensions: [1], payload: [0]),
                           Self.idx(dimensions: [1, 28, 28], payload: [UInt8](repeating: 1, count: 784)),
                           Self.idx(dimensions: [1], payload: [0])]
        let gzContents = [Self.idx(dimensions: [3, 28, 28], payload: (0..<(3 * 784)).map { UInt8($0 % 256) }),
                          Self.idx(dimensions: [3], payload: [4, 5, 6]),
                          Self.idx(dimensions: [2, 28, 28], payload: [UInt8](repeating: 255, count: 2 * 784)),
                          Self.idx(dimensions: [2], payload: [7, 8])]
        for (stem, content) in zip(stems, gzContents) {
            try gzip(try write(stem, content))
        }
        for (stem, content) in zip(stems, rawContents) { try write(stem, content) }
        let dataset = try DatasetCache.loadFiles(name: "fashion-mnist", directory: directory.path)
        XCTAssertEqual(dataset.train.labels, [4, 5, 6])
        XCTAssertEqual(dataset.test.labels, [7, 8])
        XCTAssertEqual(dataset.train.featureCount, 784)
        XCTAssertEqual(dataset.test.materializedFeatures(), [Float](repeating: 1, count: 2 * 784))
        XCTAssertEqual(dataset.train.materializedFeatures()[300], Float(300 % 256) / 255, accuracy: 1e-7)
    }

    // MARK: IDX: errors

    func testMissingFile() {
        let path = directory.appendingPathComponent("absent-idx3-ubyte").path
        assertDatasetError(try IDXReader.read(path: path, rank: 3), path: path, ["file not found"])
        assertDatasetError(try DatasetCache.loadFiles(name: "fashion-mnist", directory: directory.path),
                           path: directory.appendingPathComponent("train-images-idx3-ubyte").path, ["file not found"])
    }

    func testBadMagic() throws {
        let path = try write("magic", Self.idx(dimensions: [2, 2, 3], payload: Self.imagePayload, magic: [0x1F, 0x00]))
        assertDatasetError(try IDXReader.read(path: path, rank: 3), path: path, ["not an IDX file", "bad magic", "00 00 08 03"])
        let empty = try write("empty", [])
        assertDatasetError(try IDXReader.read(path: empty, rank: 1), path: empty, ["bad magic", "00 00 08 01"])
    }

    func testWrongElementType() throws {
        let path = try write("float", Self.idx(type: 0x0D, dimensions: [2, 2, 3], payload: Self.imagePayload))
        assertDatasetError(try IDXReader.read(path: path, rank: 3), path: path, ["element type 0xd", "expected 0x08"])
    }

    func testWrongRank() throws {
        let labels = try write("labels", Self.idx(dimensions: [2], payload: Self.labelPayload))
        assertDatasetError(try IDXReader.read(path: labels, rank: 3), path: labels, ["IDX has 1 dimensions, expected 3"])
        let images = try write("images", Self.idx(dimensions: [2, 2, 3], payload: Self.imagePayload))
        // Image and label files swapped: each is rejected for its rank, naming the file.
        assertDatasetError(try IDXReader.readSplit(images: labels, labels: images, classCount: 10), path: labels,
                           ["IDX has 1 dimensions, expected 3"])
        assertDatasetError(try IDXReader.read(path: images, rank: 1), path: images, ["IDX has 3 dimensions, expected 1"])
    }

    func testTruncatedAndOversizedData() throws {
        let short = try write("short", Self.idx(dimensions: [2, 2, 3], payload: Array(Self.imagePayload.prefix(10))))
        assertDatasetError(try IDXReader.read(path: short, rank: 3), path: short, ["2x2x3 = 12 bytes of data, file has 10"])
        let long = try write("long", Self.idx(dimensions: [2, 2, 3], payload: Self.imagePayload + [1]))
        assertDatasetError(try IDXReader.read(path: long, rank: 3), path: long, ["2x2x3 = 12 bytes of data, file has 13"])
        let header = try write("header", Array(Self.idx(dimensions: [2, 2, 3], payload: []).prefix(9)))
        assertDatasetError(try IDXReader.read(path: header, rank: 3), path: header, ["truncated IDX header"])
        // The real Fashion-MNIST header with (almost) no data.
        let promise = try write("promise", Self.idx(dimensions: [60000, 28, 28], payload: [1, 2, 3]))
        assertDatasetError(try IDXReader.read(path: promise, rank: 3), path: promise, ["60000x28x28 = 47040000 bytes", "file has 3"])
    }

    /// A corrupt header whose dimensions multiply past Int.max must be an error, not a crash.
    func testHugeDimensionsAreAnErrorNotAnOverflow() throws {
        let path = try write("huge", Self.idx(dimensions: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], payload: [1, 2, 3]))
        assertDatasetError(try IDXReader.read(path: path, rank: 3), path: path, ["4294967295x4294967295x4294967295"])
    }

    func testTruncatedOrCorruptGzipStream() throws {
        var payload = [UInt8]()
        var rng = Xoshiro256(seed: 5, stream: 0)
        for _ in 0..<(40 * 28 * 28) { payload.append(UInt8(rng.nextInt(below: 256))) }  // incompressible
        let original = try write("images", Self.idx(dimensions: [40, 28, 28], payload: payload))
        let compressed = try gzip(original)
        XCTAssertNoThrow(try IDXReader.read(path: original + ".gz", rank: 3))
        let cuts = [("half", compressed.count / 2), ("no-trailer", compressed.count - 8), ("no-length", compressed.count - 4),
                    ("last-byte", compressed.count - 1), ("header-only", 12)]
        for (name, length) in cuts {
            let path = try write("cut-\(name).gz", Array(compressed.prefix(length)))
            assertDatasetError(try IDXReader.read(path: path, rank: 3), path: path, ["truncated gzip data"])
        }
        var corrupt = compressed
        corrupt[corrupt.count - 6] ^= 0xFF  // inside the CRC-32 of the trailer
        let badCRC = try write("bad-crc.gz", corrupt)
        assertDatasetError(try IDXReader.read(path: badCRC, rank: 3), path: badCRC, ["corrupt"])
    }

    func testLabelCountMismatch() throws {
        let images = try write("images", Self.idx(dimensions: [2, 2, 3], payload: Self.imagePayload))
        let labels = try write("labels", Self.idx(dimensions: [3], payload: [1, 2, 3]))
        assertDatasetError(try IDXReader.readSplit(images: images, labels: labels, classCount: 10), path: labels,
                           ["3 labels for 2 images in \(images)"])
    }

    func testLabelOutOfRange() throws {
        let images = try write("images", Self.idx(dimensions: [2, 2, 3], payload: Self.imagePayload))
        let labels = try write("labels", Self.idx(dimensions: [2], payload: [9, 10]))
        assertDatasetError(try IDXReader.readSplit(images: images, labels: labels, classCount: 10), path: labels,
                           ["label 10 at index 1 is not below 10"])
        XCTAssertNoThrow(try IDXReader.readSplit(images: images, labels: labels, classCount: 11))
    }

    // MARK: CIFAR-10

    static func cifarRecord(label: UInt8, fill: (Int) -> UInt8) -> [UInt8] { [label] + (0..<3072).map(fill) }

    func testCIFAR10ReadsRecordsAcrossFiles() throws {
        let first = try write("data_batch_1.bin", Self.cifarRecord(label: 3) { UInt8($0 % 256) } + Self.cifarRecord(label: 0) { _ in 255 })
        let second = try write("data_batch_2.bin", Self.cifarRecord(label: 9) { $0 < 1024 ? 0 : ($0 < 2048 ? 128 : 255) })
        let split = try CIFAR10Reader.readSplit(paths: [first, second])
        XCTAssertEqual(split.count, 3)
        XCTAssertEqual(split.labels, [3, 0, 9])
        XCTAssertEqual(split.featureCount, 3072)
        XCTAssertEqual(split.shape.channels, 3)
        XCTAssertEqual(split.shape.height, 32)
        XCTAssertEqual(split.shape.width, 32)
        XCTAssertEqual(split.materializedFeatures().count, 3 * 3072)
        XCTAssertEqual(Array(split.materializedFeatures()[0..<3072]), (0..<3072).map { Float($0 % 256) / 255 })
        XCTAssertEqual(Array(split.materializedFeatures()[3072..<6144]), [Float](repeating: 1, count: 3072))
        // Channel-major: R plane, then G, then B.
        XCTAssertEqual(split.materializedFeatures()[6144 + 1023], 0)
        XCTAssertEqual(split.materializedFeatures()[6144 + 1024], Float(128) / 255)
        XCTAssertEqual(split.materializedFeatures()[6144 + 2048], 1)
    }

    func testCIFAR10Errors() throws {
        let bad = try write("bad_size.bin", Self.cifarRecord(label: 1) { _ in 0 } + [1, 2, 3, 4, 5])
        assertDatasetError(try CIFAR10Reader.readSplit(paths: [bad]), path: bad,
                           ["size 3078 is not a multiple of the CIFAR-10 record size 3073"])
        let empty = try write("empty.bin", [])
        assertDatasetError(try CIFAR10Reader.readSplit(paths: [empty]), path: empty, ["size 0 is not a multiple"])
        let label = try write("label.bin", Self.cifarRecord(label: 2) { _ in 0 } + Self.cifarRecord(label: 10) { _ in 0 })
        assertDatasetError(try CIFAR10Reader.readSplit(paths: [label]), path: label, ["record 1 has label 10, expected 0-9"])
        let missing = directory.appendingPathComponent("data_batch_1.bin").path
        assertDatasetError(try CIFAR10Reader.readSplit(paths: [missing]), path: missing, ["file not found"])
    }

    // MARK: The real Fashion-MNIST

    /// Read once per test process (about 0.5 s in release).
    static let realFashionMNIST: Result<Dataset, Error> = Result {
        try DatasetCache.loadFiles(name: "fashion-mnist", directory: fashionMNIST)
    }

    static func loadRealFashionMNIST() throws -> Dataset {
        guard FileManager.default.fileExists(atPath: fashionMNIST) else {
            throw DatasetError("\(fashionMNIST): missing; install the Debian package dataset-fashion-mnist (`make setup`)")
        }
        return try realFashionMNIST.get()
    }

    func testRealFashionMNIST() throws {
        let data = try Self.loadRealFashionMNIST()
        XCTAssertEqual(data.train.count, 60000)
        XCTAssertEqual(data.test.count, 10000)
        for split in [data.train, data.test] {
            XCTAssertEqual(split.featureCount, 784)
            XCTAssertEqual(split.classCount, 10)
            XCTAssertEqual(split.shape.channels, 1)
            XCTAssertEqual(split.shape.height, 28)
            XCTAssertEqual(split.shape.width, 28)
            let features = split.materializedFeatures()
            XCTAssertEqual(features.count, split.count * 784)
            let (low, high) = features.withUnsafeBufferPointer { values -> (Float, Float) in
                var low = Float.infinity, high = -Float.infinity
                for v in values { low = min(low, v); high = max(high, v) }
                return (low, high)
            }
            XCTAssertEqual(low, 0, "darkest pixel")
            XCTAssertEqual(high, 1, "brightest pixel")
        }
        var trainCounts = [Int](repeating: 0, count: 10), testCounts = [Int](repeating: 0, count: 10)
        for y in data.train.labels { trainCounts[Int(y)] += 1 }
        for y in data.test.labels { testCounts[Int(y)] += 1 }
        XCTAssertEqual(trainCounts, [Int](repeating: 6000, count: 10))
        XCTAssertEqual(testCounts, [Int](repeating: 1000, count: 10))
        // The files' first labels (ankle boot, t-shirt, ...), read independently with Python's gzip.
        XCTAssertEqual(Array(data.train.labels.prefix(10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        XCTAssertEqual(Array(data.test.labels.prefix(10)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        // Pixels are bytes / 255: the first image's byte sum is 76247.
        XCTAssertEqual(data.train.materializedFeatures()[0..<784].reduce(0.0) { $0 + Double($1) * 255 }, 76247, accuracy: 1e-2)
    }

    func testPrepareStandardisesTheTrainSubsetAndDrawsAFixedProbe() throws {
        let raw = try Self.loadRealFashionMNIST()
        let spec = DatasetSpec(name: "fashion-mnist", trainSubset: 2000, probeSubset: 256, probeSeed: 7, valSubset: 2000)
        let prepared = try DatasetCache.prepare(dataset: raw, spec: spec)

        // Train subset: the first 2000 examples in file order, standardised by their own statistics.
        XCTAssertEqual(prepared.train.count, 2000)
        XCTAssertEqual(prepared.train.labels, Array(raw.train.labels.prefix(2000)))
        var sum = 0.0, sumSquares = 0.0
        let trainFeatures = prepared.train.materializedFeatures()
        for x in trainFeatures { sum += Double(x); sumSquares += Double(x) * Double(x) }
        let n = Double(trainFeatures.count)
        let mean = sum / n, std = (sumSquares / n - mean * mean).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 1e-5, "standardised train mean")
        XCTAssertEqual(std, 1, accuracy: 1e-4, "standardised train std")
        // The raw statistics (NumPy on the same 2000 images / 255: mean 0.28393829, std 0.35350186).
        XCTAssertEqual(Double(prepared.mean), 0.2839382928171268, accuracy: 1e-6)
        XCTAssertEqual(Double(prepared.std), 0.35350185630913794, accuracy: 1e-6)

        // Validation: the first 2000 held-out examples, standardised with the train statistics.
        XCTAssertEqual(prepared.validation.count, 2000)
        XCTAssertEqual(prepared.validation.labels, Array(raw.test.labels.prefix(2000)))
        let expected = raw.test.materializedFeatures().prefix(2000 * 784).map { (Double($0) - Double(prepared.mean)) / Double(prepared.std) }
        EngineTestKit.assertClose(prepared.validation.materializedFeatures(), expected, relative: 1e-5, absolute: 1e-5, "validation features")

        // Probe: 256 held-out examples, the same for the same seed, different for another seed.
        XCTAssertEqual(prepared.probe.count, 256)
        XCTAssertEqual(prepared.probe.featureCount, 784)
        let again = try DatasetCache.prepare(dataset: raw, spec: spec)
        XCTAssertEqual(again.probe.materializedFeatures(), prepared.probe.materializedFeatures())
        XCTAssertEqual(again.probe.labels, prepared.probe.labels)
        var otherSeed = spec
        otherSeed.probeSeed = 8
        let other = try DatasetCache.prepare(dataset: raw, spec: otherSeed)
        XCTAssertNotEqual(other.probe.labels, prepared.probe.labels)
        XCTAssertNotEqual(other.probe.materializedFeatures(), prepared.probe.materializedFeatures())
        XCTAssertGreaterThanOrEqual(Set(prepared.probe.labels).count, 8, "a random draw covers most classes")

        // Every probe example is a (standardised) held-out example with its label, drawn from the
        // whole held-out split, not only the validation prefix.
        var full = spec
        full.valSubset = nil
        let whole = try DatasetCache.prepare(dataset: raw, spec: full)
        XCTAssertEqual(whole.validation.count, 10000)
        XCTAssertEqual(whole.probe.materializedFeatures(), prepared.probe.materializedFeatures(), "valSubset does not change the probe")
        // Index the held-out rows by their label and first 16 pixels, then compare candidates in full.
        var rows: [[UInt32]: [Int]] = [:]
        let validation = whole.validation
        let validationFeatures = validation.materializedFeatures(), probeFeatures = prepared.probe.materializedFeatures()
        for i in 0..<validation.count {
            let key = [UInt32(validation.labels[i])] + validationFeatures[(i * 784)..<(i * 784 + 16)].map(\.bitPattern)
            rows[key, default: []].append(i)
        }
        var beyondValidationPrefix = 0
        for p in 0..<prepared.probe.count {
            let row = probeFeatures[(p * 784)..<((p + 1) * 784)]
            let key = [UInt32(prepared.probe.labels[p])] + row.prefix(16).map(\.bitPattern)
            let matches = (rows[key] ?? []).filter { validationFeatures[($0 * 784)..<(($0 + 1) * 784)] == row }
            XCTAssertFalse(matches.isEmpty, "probe example \(p) is not a held-out example with its label")
            if matches.allSatisfy({ $0 >= 2000 }) { beyondValidationPrefix += 1 }
        }
        XCTAssertGreaterThan(beyondValidationPrefix, 128, "the probe is drawn from all 10000 held-out examples")
    }

    func testPrepareRejectsSubsetsLargerThanTheData() throws {
        let synthetic = SyntheticTeacher.standard()  // 4096 train, 1024 held out
        XCTAssertThrowsError(try DatasetCache.prepare(dataset: synthetic, spec: DatasetSpec(name: "synthetic", trainSubset: 4097))) {
            XCTAssertTrue("\($0)".contains("dataset.train_subset: 4097 exceeds the 4096 training examples of synthetic"), "\($0)")
        }
        XCTAssertThrowsError(try DatasetCache.prepare(dataset: synthetic, spec: DatasetSpec(name: "synthetic", probeSubset: 1025))) {
            XCTAssertTrue("\($0)".contains("dataset.probe_subset: 1025 exceeds the 1024 held-out examples of synthetic"), "\($0)")
        }
        XCTAssertNoThrow(try DatasetCache.prepare(dataset: synthetic, spec: DatasetSpec(name: "synthetic", trainSubset: 4096, probeSubset: 1024)))
    }

    func testCacheReturnsTheSamePreparedData() throws {
        let cache = DatasetCache()
        let spec = DatasetSpec(name: "synthetic", probeSubset: 64, probeSeed: 3)
        let a = try cache.prepare(spec)
        let b = try cache.prepare(spec)
        let c = try DatasetCache().prepare(spec)
        XCTAssertEqual(a.train.materializedFeatures(), b.train.materializedFeatures())
        XCTAssertEqual(a.probe.materializedFeatures(), c.probe.materializedFeatures(), "a fresh cache prepares the same data")
        XCTAssertEqual(a.probe.labels, c.probe.labels)
        XCTAssertEqual(a.train.count, 4096)
        XCTAssertEqual(a.validation.count, 1024)
        XCTAssertEqual(a.probe.count, 64)
    }
}
