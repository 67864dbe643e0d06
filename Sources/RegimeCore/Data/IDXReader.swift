import CZlib
import Foundation

/// Where a reader streams the bytes it decodes (a data-set file being written, or memory).
public protocol ByteSink {
    mutating func append(_ bytes: UnsafeRawBufferPointer) throws
}

extension Array: ByteSink where Element == UInt8 {
    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws { append(contentsOf: bytes) }
}

/// Reads IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw.
///
/// An IDX file is a big-endian header `0x00 0x00 TYPE NDIM`, NDIM 32-bit big-endian dimensions,
/// then the data. zlib's `gzread` reads both compressed and plain files, so one path serves both.
/// Every failure names the file and what was expected: bad magic, a wrong element type or rank,
/// truncated data (including a truncated gzip stream), or trailing bytes. The data are streamed in
/// 1 MB chunks, so reading never holds a whole decompressed file.
public enum IDXReader {
    public struct Array3 {
        public var dimensions: [Int]
        public var bytes: [UInt8]
    }

    /// An open IDX file whose header has been read and checked; the payload follows.
    final class Stream {
        let path: String
        let dimensions: [Int]
        /// Bytes of data the header promises: the product of the dimensions.
        let payloadCount: Int
        private let file: gzFile

        init(path: String, rank: Int) throws {
            guard FileManager.default.fileExists(atPath: path) else { throw DatasetError("\(path): file not found") }
            guard let file = gzopen(path, "rb") else { throw DatasetError("\(path): cannot open") }
            self.path = path
            self.file = file
            do {
                var magic = [UInt8](repeating: 0, count: 4)
                let got = try Self.read(file, path: path, into: &magic, count: 4)
                guard got == 4, magic[0] == 0, magic[1] == 0 else {
                    throw DatasetError("\(path): not an IDX file (bad magic: expected 00 00 08 0\(rank))")
                }
                guard magic[2] == 0x08 else {
                    throw DatasetError("\(path): IDX element type 0x\(String(magic[2], radix: 16)) unsupported (expected 0x08, unsigned byte)")
                }
                guard Int(magic[3]) == rank else {
                    throw DatasetError("\(path): IDX has \(magic[3]) dimensions, expected \(rank)")
                }
                var sizes = [UInt8](repeating: 0, count: 4 * rank)
                guard try Self.read(file, path: path, into: &sizes, count: 4 * rank) == 4 * rank else {
                    throw DatasetError("\(path): truncated IDX header")
                }
                var dimensions: [Int] = []
                for d in 0..<rank {
                    let o = 4 * d
                    dimensions.append(Int(sizes[o]) << 24 | Int(sizes[o + 1]) << 16 | Int(sizes[o + 2]) << 8 | Int(sizes[o + 3]))
                }
                // A corrupt header can promise more than Int.max bytes: report it rather than trap on overflow.
                var expected = 1
                for d in dimensions {
                    let (product, overflow) = expected.multipliedReportingOverflow(by: d)
                    guard !overflow else {
                        throw DatasetError("\(path): IDX header promises \(dimensions.map(String.init).joined(separator: "x")) bytes of data, more than any file holds (corrupt header)")
                    }
                    expected = product
                }
                self.dimensions = dimensions
                payloadCount = expected
            } catch {
                gzclose(file)
                throw error
            }
        }

        deinit { gzclose(file) }

        /// Reads up to `count` bytes into `buffer`; fewer only at the end of the data. A corrupt
        /// or cut-short gzip stream is an error (gzread reports a stream cut short as the end of
        /// the file; gzerror tells them apart).
        private static func read(_ file: gzFile, path: String, into buffer: inout [UInt8], count: Int) throws -> Int {
            var total = 0
            while total < count {
                let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress! + total, UInt32(count - total)) }
                if n < 0 {
                    var code: Int32 = 0
                    throw DatasetError("\(path): corrupt compressed data (\(String(cString: gzerror(file, &code))))")
                }
                if n == 0 {
                    var code: Int32 = 0
                    let message = String(cString: gzerror(file, &code))
                    if code != Z_OK && code != Z_STREAM_END {
                        throw DatasetError("\(path): corrupt or truncated gzip data (\(message))")
                    }
                    break
                }
                total += Int(n)
            }
            return total
        }

        /// Streams the payload to `body` in chunks of at most 1 MB, then reads to the end of the
        /// file: a payload shorter or longer than the header promises is an error (after the
        /// chunks already given, which the caller discards).
        func readPayload(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            var total = 0
            while true {
                let n = try Self.read(file, path: path, into: &chunk, count: chunk.count)
                if n == 0 { break }
                let useful = max(0, min(n, payloadCount - total))
                if useful > 0 { try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<useful])) } }
                total += n
            }
            guard total == payloadCount else {
                throw DatasetError("\(path): IDX header promises \(dimensions.map(String.init).joined(separator: "x")) = \(payloadCount) bytes of data, file has \(total)")
            }
        }
    }

    /// Reads an IDX file of unsigned bytes with `rank` dimensions.
    public static func read(path: String, rank: Int) throws -> Array3 {
        let stream = try Stream(path: path, rank: rank)
        var bytes = [UInt8]()
        bytes.reserveCapacity(stream.payloadCount)
        try stream.readPayload { bytes.append(contentsOf: $0) }
        return Array3(dimensions: stream.dimensions, bytes: bytes)
    }

    /// The geometry and labels of an image/label file pair whose pixels went to a sink.
    public struct SplitFacts {
        public var count: Int
        public var height: Int
        public var width: Int
        public var labels: [UInt8]
    }

    /// Streams an image file's pixels (rank 3: N x H x W, row-major bytes) to `sink`, then reads
    /// its label file (rank 1: N). Labels must be below `classCount`.
    public static func streamSplit(images: String, labels: String, classCount: Int, into sink: inout some ByteSink) throws -> SplitFacts {
        let imageStream = try Stream(path: images, rank: 3)
        try imageStream.readPayload { try sink.append($0) }
        let labelArray = try read(path: labels, rank: 1)
        guard imageStream.dimensions[0] == labelArray.dimensions[0] else {
            throw DatasetError("\(labels): \(labelArray.dimensions[0]) labels for \(imageStream.dimensions[0]) images in \(images)")
        }
        if let bad = labelArray.bytes.firstIndex(where: { Int($0) >= classCount }) {
            throw DatasetError("\(labels): label \(labelArray.bytes[bad]) at index \(bad) is not below \(classCount)")
        }
        return SplitFacts(count: imageStream.dimensions[0], height: imageStream.dimensions[1], width: imageStream.dimensions[2],
                          labels: labelArray.bytes)
    }

    /// Reads an image file and its label file into a split held in this process's memory as
    /// bytes, read as `PixelEncoding.idx` (values in [0, 1]).
    public static func readSplit(images: String, labels: String, classCount: Int) throws -> LabeledSplit {
        var pixels = [UInt8]()
        let facts = try streamSplit(images: images, labels: labels, classCount: classCount, into: &pixels)
        return LabeledSplit(pixels: pixels, labels: facts.labels, encoding: .idx, classCount: classCount,
                            shape: (1, facts.height, facts.width))
    }
}
