import Foundation
import XCTest
@testable import RegimeCore

/// The host-shared data-set files: made once, mapped by every opener, keyed by the sources'
/// content, and never trusted when damaged (a flipped byte, a truncation, a foreign header):
/// such a file is reported and rebuilt.
final class DatasetFileCacheTests: XCTestCase {
    var directory: URL!
    var sources: URL!
    var cacheDirectory: URL!

    /// Notes passed to a cache's `warn`.
    final class Notes: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory("cache-tests")
        sources = directory.appendingPathComponent("sources")
        cacheDirectory = directory.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        try writeSources(trainCount: 5, testCount: 3, seed: 1)
    }

    /// A small Fashion-MNIST-shaped data set (raw IDX files) of random pixels.
    func writeSources(trainCount: Int, testCount: Int, seed: UInt64) throws {
        var rng = Xoshiro256(seed: seed, stream: 0)
        func idx(_ dimensions: [Int], _ payload: [UInt8]) -> Data {
            var bytes: [UInt8] = [0, 0, 8, UInt8(dimensions.count)]
            for d in dimensions { bytes += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
            return Data(bytes + payload)
        }
        func images(_ n: Int) -> [UInt8] { (0..<(n * 784)).map { _ in UInt8(rng.nextInt(below: 256)) } }
        func labels(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(rng.nextInt(below: 10)) } }
        try idx([trainCount, 28, 28], images(trainCount)).write(to: sources.appendingPathComponent("train-images-idx3-ubyte"))
        try idx([trainCount], labels(trainCount)).write(to: sources.appendingPathComponent("train-labels-idx1-ubyte"))
        try idx([testCount, 28, 28], images(testCount)).write(to: sources.appendingPathComponent("t10k-images-idx3-ubyte"))
        try idx([testCount], labels(testCount)).write(to: sources.appendingPathComponent("t10k-labels-idx1-ubyte"))
    }

    func makeCache(_ notes: Notes = Notes()) -> DatasetFileCache {
        DatasetFileCache(directory: cacheDirectory, warn: { notes.add($0) })
    }

    /// The data set read from its sources into memory, for comparison.
    func expected() throws -> Dataset { try DatasetCache.loadFiles(name: "fashion-mnist", directory: sources.path) }

    func assertSameData(_ a: Dataset, _ b: Dataset, file: StaticString = #filePath, line: UInt = #line) {
        for (x, y) in [(a.train, b.train), (a.test, b.test)] {
            XCTAssertEqual(x.labels, y.labels, file: file, line: line)
            XCTAssertEqual(x.materializedFeatures().map(\.bitPattern), y.materializedFeatures().map(\.bitPattern), file: file, line: line)
            XCTAssertEqual(x.classCount, y.classCount, file: file, line: line)
            XCTAssertEqual(x.featureCount, y.featureCount, file: file, line: line)
        }
    }

    func inode(_ url: URL) -> UInt64 {
        var info = stat()
        return stat(url.path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    /// Opens, damages the file with `damage`, opens again: the damage is reported with `reason` and the file rebuilt.
    func assertRebuilt(after damage: (URL) throws -> Void, reason: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let notes = Notes()
        let url = try makeCache(notes).fileURL(name: "fashion-mnist", sourceDirectory: sources.path)
        _ = try makeCache(notes).open(name: "fashion-mnist", sourceDirectory: sources.path)
        try damage(url)
        let before = inode(url)
        let reopened = try makeCache(notes).open(name: "fashion-mnist", sourceDirectory: sources.path)
        XCTAssertEqual(notes.all.count, 1, "one note: \(notes.all)", file: file, line: line)
        XCTAssertTrue(notes.all.first?.contains(reason) ?? false, "'\(notes.all)' lacks '\(reason)'", file: file, line: line)
        XCTAssertTrue(notes.all.first?.contains(url.path) ?? false, "the note names the file", file: file, line: line)
        XCTAssertNotEqual(inode(url), before, "a new file replaced the damaged one", file: file, line: line)
        XCTAssertEqual(reopened.file.inode, inode(url), file: file, line: line)
        assertSameData(reopened.dataset, try expected(), file: file, line: line)
        // The rebuilt file is valid: the next open uses it without a note.
        _ = try makeCache(notes).open(name: "fashion-mnist", sourceDirectory: sources.path)
        XCTAssertEqual(notes.all.count, 1, file: file, line: line)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cacheDirectory.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], file: file, line: line)
    }

    func testMadeOnceThenMappedByEveryOpener() throws {
        let notes = Notes()
        let first = try makeCache(notes).open(name: "fashion-mnist", sourceDirectory: sources.path)
        let url = try makeCache().fileURL(name: "fashion-mnist", sourceDirectory: sources.path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.path))
        XCTAssertTrue(url.lastPathComponent.hasPrefix("fashion-mnist-") && url.lastPathComponent.hasSuffix(".data"), url.path)
        let second = try makeCache(notes).open(name: "fashion-mnist", sourceDirectory: sources.path)
        XCTAssertEqual(first.file.inode, second.file.inode)
        XCTAssertEqual(first.file.device, second.file.device)
        XCTAssertEqual(notes.all, [])
        assertSameData(first.dataset, try expected())
        assertSameData(second.dataset, try expected())
        XCTAssertEqual(first.dataset.train.count, 5)
        XCTAssertEqual(first.dataset.test.count, 3)
        XCTAssertTrue(first.dataset.train.rows.byteStorage?.mappedFile === first.file, "the pixels are the mapped file's")
        // Header, 5 + 3 images and their labels: nothing else.
        XCTAssertEqual(first.file.bytes.count, 4096 + 8 * 784 + 8)
        var info = stat()
        XCTAssertEqual(stat(cacheDirectory.path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700, "the cache directory is private")
    }

    func testAFlippedByteIsDetectedAndTheFileRebuilt() throws {
        try assertRebuilt(after: { url in
            let handle = try FileHandle(forUpdating: url)
            try handle.seek(toOffset: 4096 + 1000)
            let byte = try XCTUnwrap(handle.read(upToCount: 1)).first!
            try handle.seek(toOffset: 4096 + 1000)
            try handle.write(contentsOf: [byte ^ 0x10])
            try handle.close()
        }, reason: "checksum mismatch")
    }

    func testATruncatedFileIsDetectedAndRebuilt() throws {
        try assertRebuilt(after: { url in XCTAssertEqual(truncate(url.path, 4096 + 3000), 0) }, reason: "truncated")
    }

    func testAFileCutInsideItsHeaderIsRebuilt() throws {
        try assertRebuilt(after: { url in XCTAssertEqual(truncate(url.path, 100), 0) }, reason: "shorter than its 4096-byte header")
    }

    func testAForeignFileIsRebuilt() throws {
        try assertRebuilt(after: { url in try Data(repeating: 0x41, count: 9000).write(to: url) }, reason: "bad magic")
    }

    func testAChangedHeaderFieldFailsTheChecksum() throws {
        // The class count (word 9) changed from 10 to 9: a valid-looking header, but not the one that was written.
        try assertRebuilt(after: { url in
            let handle = try FileHandle(forUpdating: url)
            try handle.seek(toOffset: 9 * 8)
            try handle.write(contentsOf: [9])
            try handle.close()
        }, reason: "checksum mismatch")
    }

    func testChangedSourcesGetANewFile() throws {
        let cache = makeCache()
        let old = try cache.fileURL(name: "fashion-mnist", sourceDirectory: sources.path)
        _ = try cache.open(name: "fashion-mnist", sourceDirectory: sources.path)
        try writeSources(trainCount: 6, testCount: 3, seed: 2)
        let new = try cache.fileURL(name: "fashion-mnist", sourceDirectory: sources.path)
        XCTAssertNotEqual(old, new)
        let opened = try cache.open(name: "fashion-mnist", sourceDirectory: sources.path)
        XCTAssertEqual(opened.dataset.train.count, 6)
        assertSameData(opened.dataset, try expected())
        XCTAssertTrue(FileManager.default.fileExists(atPath: old.path), "the other data's file is left alone")
    }

    /// Openers racing on a missing file: one makes it (under the lock), all map the same file.
    func testConcurrentOpenersShareOneFile() throws {
        let notes = Notes()
        let inodes = Notes()
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            do {
                let opened = try makeCache(notes).open(name: "fashion-mnist", sourceDirectory: sources.path)
                inodes.add("\(opened.file.inode)")
            } catch {
                inodes.add("error: \(error)")
            }
        }
        XCTAssertEqual(inodes.all.count, 6)
        XCTAssertEqual(Set(inodes.all).count, 1, "\(inodes.all)")
        XCTAssertEqual(notes.all, [])
        let names = try FileManager.default.contentsOfDirectory(atPath: cacheDirectory.path).sorted()
        XCTAssertEqual(names.filter { $0.hasSuffix(".data") }.count, 1, "\(names)")
        XCTAssertEqual(names.filter { $0.contains(".tmp-") }, [])
    }

    func testMissingSourceAndUnsafeDirectoryAreErrors() throws {
        let missing = sources.appendingPathComponent("t10k-labels-idx1-ubyte")
        try FileManager.default.removeItem(at: missing)
        XCTAssertThrowsError(try makeCache().open(name: "fashion-mnist", sourceDirectory: sources.path)) {
            XCTAssertEqual("\($0)", "\(missing.path): file not found")
        }
        let shared = directory.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(shared.path, 0o777), 0)
        XCTAssertThrowsError(try DatasetFileCache(directory: shared).open(name: "fashion-mnist", sourceDirectory: sources.path)) {
            XCTAssertTrue("\($0)".contains("writable by others") && "\($0)".contains("REGIME_DATA_CACHE"), "\($0)")
        }
    }

    /// CIFAR-10 through the same file: the `cifar` encoding and the channel-major records survive.
    func testCIFAR10File() throws {
        let cifar = directory.appendingPathComponent("cifar")
        try FileManager.default.createDirectory(at: cifar, withIntermediateDirectories: true)
        var rng = Xoshiro256(seed: 4, stream: 0)
        for name in (1...5).map({ "data_batch_\($0).bin" }) + ["test_batch.bin"] {
            let records = (0..<2).flatMap { _ in [UInt8(rng.nextInt(below: 10))] + (0..<3072).map { _ in UInt8(rng.nextInt(below: 256)) } }
            try Data(records).write(to: cifar.appendingPathComponent(name))
        }
        let opened = try makeCache().open(name: "cifar10", sourceDirectory: cifar.path)
        let memory = try DatasetCache.loadFiles(name: "cifar10", directory: cifar.path)
        assertSameData(opened.dataset, memory)
        XCTAssertEqual(opened.dataset.train.count, 10)
        XCTAssertEqual(opened.dataset.test.count, 2)
        XCTAssertTrue(opened.dataset.train.shape == (3, 32, 32))
        let firstRecord = try Data(contentsOf: cifar.appendingPathComponent("data_batch_1.bin"))
        XCTAssertEqual(opened.dataset.train.labels[0], Int32(firstRecord[0]))
        XCTAssertEqual(opened.dataset.train.materializedFeatures()[0..<3072].map(\.bitPattern),
                       firstRecord[1..<3073].map { (Float($0) / 255).bitPattern })
    }
}
