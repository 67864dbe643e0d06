import Foundation

/// A data set as one block of bytes: the format of regime's node-shared data-set files (see
/// `DatasetFileCache`), also used in memory when no file is wanted, so that there is one reader
/// of the source formats and one parser.
///
/// Layout, little-endian: a 4096-byte header (so the payload starts on a page), then for the
/// training split and then the held-out split its pixel rows (count x featureCount bytes, in the
/// source files' order) followed by its labels (count bytes). The header is 512 UInt64 words:
///
///     0 magic "RGMDATA1"   1 format version   2 file size   3 source key   4 pixel encoding
///     5 feature count      6 channels         7 height      8 width        9 class count
///     10 train count       11 train pixels offset           12 train labels offset
///     13 test count        14 test pixels offset            15 test labels offset
///     16-23 the data set's name (UTF-8, zero-padded, at most 64 bytes)     24-510 zero
///     511 checksum: XXH64 of the payload (every byte after the header) followed by header bytes 0..<4088
///
/// A file is trusted only whole: magic, version, size, source key, geometry, offsets and the
/// checksum must all agree, or the file is rebuilt from the sources.
public enum DatasetFile {
    static let headerSize = 4096
    static let checksumOffset = headerSize - 8
    static let magic = UInt64(littleEndian: Array("RGMDATA1".utf8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    static let version: UInt64 = 1

    /// The header's fields (see the layout above).
    struct Header: Equatable {
        var fileSize = 0, sourceKey: UInt64 = 0, encoding = PixelEncoding.idx
        var featureCount = 0, channels = 0, height = 0, width = 0, classCount = 0
        var trainCount = 0, trainPixels = 0, trainLabels = 0
        var testCount = 0, testPixels = 0, testLabels = 0
        var name = ""

        /// The 4096 header bytes, checksum word zero.
        func encoded() -> [UInt8] {
            var words = [UInt64](repeating: 0, count: headerSize / 8)
            let fields: [UInt64] = [magic, version, UInt64(fileSize), sourceKey, encoding.rawValue,
                                    UInt64(featureCount), UInt64(channels), UInt64(height), UInt64(width), UInt64(classCount),
                                    UInt64(trainCount), UInt64(trainPixels), UInt64(trainLabels),
                                    UInt64(testCount), UInt64(testPixels), UInt64(testLabels)]
            for (i, field) in fields.enumerated() { words[i] = field.littleEndian }
            var bytes = words.withUnsafeBytes { Array($0) }
            for (i, byte) in name.utf8.prefix(64).enumerated() { bytes[16 * 8 + i] = byte }
            return bytes
        }

        /// Reads and checks a header against the size of the file it came from.
        init(decoding bytes: UnsafeRawBufferPointer, actualSize: Int) throws {
            guard bytes.count >= headerSize else { throw Invalid("shorter than its \(headerSize)-byte header (truncated)") }
            func word(_ i: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
            guard word(0) == magic else { throw Invalid("not a regime data-set file (bad magic)") }
            guard word(1) == version else { throw Invalid("format version \(word(1)), expected \(version)") }
            // Every other field must fit an Int comfortably before any arithmetic on it.
            for i in 2..<16 where i != 3 && word(i) > UInt64(1) << 48 { throw Invalid("header field \(i) is \(word(i)) (corrupt header)") }
            fileSize = Int(word(2))
            guard fileSize == actualSize else { throw Invalid("size \(actualSize) bytes, its header says \(fileSize) (truncated or overwritten)") }
            sourceKey = word(3)
            guard let encoding = PixelEncoding(rawValue: word(4)) else { throw Invalid("unknown pixel encoding \(word(4))") }
            self.encoding = encoding
            (featureCount, channels, height, width, classCount) = (Int(word(5)), Int(word(6)), Int(word(7)), Int(word(8)), Int(word(9)))
            (trainCount, trainPixels, trainLabels) = (Int(word(10)), Int(word(11)), Int(word(12)))
            (testCount, testPixels, testLabels) = (Int(word(13)), Int(word(14)), Int(word(15)))
            let nameBytes = (0..<64).map { bytes.load(fromByteOffset: 16 * 8 + $0, as: UInt8.self) }
            name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            guard featureCount > 0, featureCount == channels * height * width else {
                throw Invalid("feature count \(featureCount) is not \(channels)x\(height)x\(width) (corrupt header)")
            }
            guard (1...256).contains(classCount) else { throw Invalid("class count \(classCount) (corrupt header)") }
            for (what, start, length) in [("train pixels", trainPixels, trainCount * featureCount), ("train labels", trainLabels, trainCount),
                                          ("test pixels", testPixels, testCount * featureCount), ("test labels", testLabels, testCount)] {
                guard start >= headerSize, start + length <= fileSize else {
                    throw Invalid("\(what) at \(start)..<\(start + length) lie outside the file's payload (corrupt header)")
                }
            }
        }

        init() {}
    }

    /// Why a data-set file cannot be trusted (it is then rebuilt, never used).
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: Sources

    /// The source files of a data set, in the order they are read. A `.gz` beside a raw IDX file
    /// is preferred.
    struct Sources {
        enum Format { case idx, cifar }
        var name: String
        var format: Format
        /// IDX: [images, labels]; CIFAR-10: the batch files.
        var train: [String]
        var test: [String]
        var all: [String] { train + test }

        init(name: String, directory: String) throws {
            func path(_ stem: String) -> String { (directory as NSString).appendingPathComponent(stem) }
            func preferGzip(_ stem: String) -> String {
                FileManager.default.fileExists(atPath: path(stem) + ".gz") ? path(stem) + ".gz" : path(stem)
            }
            self.name = name
            switch name {
            case "fashion-mnist", "mnist":
                format = .idx
                train = [preferGzip("train-images-idx3-ubyte"), preferGzip("train-labels-idx1-ubyte")]
                test = [preferGzip("t10k-images-idx3-ubyte"), preferGzip("t10k-labels-idx1-ubyte")]
            case "cifar10":
                format = .cifar
                train = (1...5).map { path("data_batch_\($0).bin") }
                test = [path("test_batch.bin")]
            default:
                throw SpecError("dataset.name: '\(name)' has no source files")
            }
        }

        /// XXH64 of the format version, the name, and each source file's name, size and bytes in
        /// reading order: the key of the data-set file made from them (same content, same key,
        /// wherever the files are).
        func key() throws -> UInt64 {
            var hash = XXH64()
            hash.update(version)
            hash.update(Array(name.utf8) + [0])
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            for file in all {
                guard FileManager.default.fileExists(atPath: file) else { throw DatasetError("\(file): file not found") }
                let fd = Foundation.open(file, O_RDONLY)
                guard fd >= 0 else { throw DatasetError("\(file): cannot open (\(String(cString: strerror(errno))))") }
                defer { close(fd) }
                hash.update(Array((file as NSString).lastPathComponent.utf8) + [0])
                var size: UInt64 = 0
                while true {
                    let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
                    guard n >= 0 else { throw DatasetError("\(file): read failed (\(String(cString: strerror(errno))))") }
                    if n == 0 { break }
                    chunk.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    size += UInt64(n)
                }
                hash.update(size)
            }
            return hash.finalize()
        }
    }

    // MARK: Writing

    /// Reads the sources and streams them, in this format, to `writer`.
    static func write(_ sources: Sources, key: UInt64, to writer: DatasetFileWriter) throws {
        var header = Header()
        header.sourceKey = key
        header.name = sources.name
        var sink = writer
        switch sources.format {
        case .idx:
            header.encoding = .idx
            header.trainPixels = writer.count
            let train = try IDXReader.streamSplit(images: sources.train[0], labels: sources.train[1], classCount: 10, into: &sink)
            header.trainLabels = writer.count
            try train.labels.withUnsafeBytes { try sink.append($0) }
            header.testPixels = writer.count
            let test = try IDXReader.streamSplit(images: sources.test[0], labels: sources.test[1], classCount: 10, into: &sink)
            header.testLabels = writer.count
            try test.labels.withUnsafeBytes { try sink.append($0) }
            guard (test.height, test.width) == (train.height, train.width) else {
                throw DatasetError("\(sources.test[0]): images are \(test.height)x\(test.width), the training images \(train.height)x\(train.width)")
            }
            (header.channels, header.height, header.width) = (1, train.height, train.width)
            (header.trainCount, header.testCount) = (train.count, test.count)
        case .cifar:
            header.encoding = .cifar
            header.trainPixels = writer.count
            let train = try CIFAR10Reader.streamSplit(paths: sources.train, into: &sink)
            header.trainLabels = writer.count
            try train.withUnsafeBytes { try sink.append($0) }
            header.testPixels = writer.count
            let test = try CIFAR10Reader.streamSplit(paths: sources.test, into: &sink)
            header.testLabels = writer.count
            try test.withUnsafeBytes { try sink.append($0) }
            (header.channels, header.height, header.width) = (3, 32, 32)
            (header.trainCount, header.testCount) = (train.count, test.count)
        }
        header.featureCount = header.channels * header.height * header.width
        header.classCount = 10
        header.fileSize = writer.count
        try writer.finish(header: header.encoded())
    }

    /// The checksum of a file whose payload `payload` yields in order and whose header is `header`.
    static func checksum(header: UnsafeRawBufferPointer,
                         payload: ((UnsafeRawBufferPointer) -> Void) throws -> Void) rethrows -> UInt64 {
        var hash = XXH64()
        try payload { hash.update($0) }
        hash.update(UnsafeRawBufferPointer(rebasing: header[0..<checksumOffset]))
        return hash.finalize()
    }

    static func storedChecksum(_ header: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(littleEndian: header.loadUnaligned(fromByteOffset: checksumOffset, as: UInt64.self))
    }

    // MARK: Reading

    /// A data set read from its source files into this process's memory (no file is written).
    public static func readIntoMemory(name: String, directory: String) throws -> Dataset {
        let sources = try Sources(name: name, directory: directory)
        let writer = DatasetFileWriter()
        try write(sources, key: 0, to: writer)
        let storage = writer.memory.withUnsafeBytes { ByteStorage(copying: $0) }
        let header = try Header(decoding: storage.bytes, actualSize: storage.bytes.count)
        let sum = checksum(header: storage.bytes) { $0(UnsafeRawBufferPointer(rebasing: storage.bytes[headerSize...])) }
        guard sum == storedChecksum(storage.bytes) else { throw Invalid("checksum mismatch in memory") }
        return try dataset(header: header, storage: storage)
    }

    /// What opening a data-set file found.
    enum Opened {
        case valid(Dataset, MappedFile)
        case missing
        case invalid(String)
    }

    /// Opens the file at `path` and checks it whole before mapping it: header, size, `key`, and
    /// the checksum, read through `pread` (which leaves the pages in the page cache but out of
    /// this process's resident set; the trial maps in only what it reads).
    static func open(path: String, key: UInt64) -> Opened {
        let fd = Foundation.open(path, O_RDONLY)
        guard fd >= 0 else { return errno == ENOENT ? .missing : .invalid("cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        do {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw Invalid("cannot stat (\(String(cString: strerror(errno))))") }
            let size = Int(info.st_size)
            var headerBytes = [UInt8](repeating: 0, count: headerSize)
            let got = headerBytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, headerSize, 0) }
            guard got == headerSize else { throw Invalid("shorter than its \(headerSize)-byte header (truncated)") }
            let header = try headerBytes.withUnsafeBytes { try Header(decoding: $0, actualSize: size) }
            guard header.sourceKey == key else {
                throw Invalid(String(format: "made from other source files (key %016llx, expected %016llx)", header.sourceKey, key))
            }
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            let sum = try headerBytes.withUnsafeBytes { headerView in
                try checksum(header: headerView) { consume in
                    var offset = headerSize
                    while offset < size {
                        let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, min($0.count, size - offset), off_t(offset)) }
                        guard n > 0 else { throw Invalid("read failed at byte \(offset) of \(size)") }
                        chunk.withUnsafeBytes { consume(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                        offset += n
                    }
                }
            }
            let stored = headerBytes.withUnsafeBytes { storedChecksum($0) }
            guard sum == stored else { throw Invalid(String(format: "checksum mismatch (stored %016llx, computed %016llx): corrupt", stored, sum)) }
            let file = try MappedFile(descriptor: fd, path: path)
            return .valid(try dataset(header: header, storage: ByteStorage(mapping: file)), file)
        } catch {
            return .invalid("\(error)")
        }
    }

    /// The two splits of a checked file, viewing `storage` (labels are copied out as Int32).
    static func dataset(header: Header, storage: ByteStorage) throws -> Dataset {
        func split(count: Int, pixels: Int, labels: Int) throws -> LabeledSplit {
            let labelBytes = UnsafeRawBufferPointer(rebasing: storage.bytes[labels..<(labels + count)])
            if let bad = labelBytes.firstIndex(where: { Int($0) >= header.classCount }) {
                throw Invalid("label \(labelBytes[bad]) at \(bad - labels) is not below \(header.classCount)")
            }
            return LabeledSplit(rows: FeatureRows(bytes: storage, offset: pixels, rows: count, featureCount: header.featureCount,
                                                  encoding: header.encoding),
                                labels: labelBytes.map { Int32($0) }, classCount: header.classCount,
                                shape: (header.channels, header.height, header.width))
        }
        return Dataset(name: header.name,
                       train: try split(count: header.trainCount, pixels: header.trainPixels, labels: header.trainLabels),
                       test: try split(count: header.testCount, pixels: header.testPixels, labels: header.testLabels))
    }
}

/// Where `DatasetFile.write` puts a data set: memory, or a file through a 1 MB buffer. It counts
/// and hashes the payload as it passes, and writes the header (with the checksum) last.
final class DatasetFileWriter: ByteSink {
    private(set) var count = DatasetFile.headerSize
    private(set) var memory: [UInt8] = []
    private let descriptor: Int32?
    private let path: String
    private var buffer: [UInt8] = []
    private var hash = XXH64()

    /// Into memory.
    init() {
        descriptor = nil
        path = "memory"
        memory = [UInt8](repeating: 0, count: DatasetFile.headerSize)
    }

    /// Into the open file `descriptor` (at its start), named `path` in errors.
    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
        buffer.reserveCapacity(1 << 20)
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        hash.update(bytes)
        count += bytes.count
        if descriptor == nil { memory.append(contentsOf: bytes); return }
        if buffer.count + bytes.count > 1 << 20 { try flush() }
        if bytes.count >= 1 << 20 { try writeFully(bytes, at: count - bytes.count); return }
        buffer.append(contentsOf: bytes)
    }

    private var flushed = DatasetFile.headerSize

    private func flush() throws {
        try buffer.withUnsafeBytes { try writeFully($0, at: flushed) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        guard let descriptor else { return }
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            guard n > 0 else { throw DatasetError("\(path): write failed (\(String(cString: strerror(errno))))") }
            done += n
        }
        flushed = max(flushed, offset + bytes.count)
    }

    /// Writes `header` (4096 bytes) with the checksum of the payload and the header.
    func finish(header: [UInt8]) throws {
        try flush()
        var final = header
        var total = hash
        final.withUnsafeBytes { total.update(UnsafeRawBufferPointer(rebasing: $0[0..<DatasetFile.checksumOffset])) }
        withUnsafeBytes(of: total.finalize().littleEndian) { checksum in
            for i in 0..<8 { final[DatasetFile.checksumOffset + i] = checksum[i] }
        }
        if descriptor == nil {
            memory.replaceSubrange(0..<DatasetFile.headerSize, with: final)
        } else {
            try final.withUnsafeBytes { try writeFully($0, at: 0) }
        }
    }
}
