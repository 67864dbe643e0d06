import CZlib
import Foundation

/// Reads IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw.
///
/// An IDX file is a big-endian header `0x00 0x00 TYPE NDIM`, NDIM 32-bit big-endian dimensions,
/// then the data. zlib's `gzread` reads both compressed and plain files, so one path serves both.
/// Every failure names the file and what was expected: bad magic, a wrong element type or rank,
/// truncated data (including a truncated gzip stream), or trailing bytes.
public enum IDXReader {
    public struct Array3 {
        public var dimensions: [Int]
        public var bytes: [UInt8]
    }

    /// Reads the whole (decompressed) file.
    static func readAll(path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetError("\(path): file not found")
        }
        guard let file = gzopen(path, "rb") else { throw DatasetError("\(path): cannot open") }
        defer { gzclose(file) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = String(cString: gzerror(file, &code))
                throw DatasetError("\(path): corrupt compressed data (\(message))")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        // gzread reports a stream cut short as end of file; gzerror tells them apart.
        var code: Int32 = 0
        let message = String(cString: gzerror(file, &code))
        if code != Z_OK && code != Z_STREAM_END {
            throw DatasetError("\(path): corrupt or truncated gzip data (\(message))")
        }
        return out
    }

    /// Reads an IDX file of unsigned bytes with `rank` dimensions.
    public static func read(path: String, rank: Int) throws -> Array3 {
        let data = try readAll(path: path)
        guard data.count >= 4, data[0] == 0, data[1] == 0 else {
            throw DatasetError("\(path): not an IDX file (bad magic: expected 00 00 08 0\(rank))")
        }
        guard data[2] == 0x08 else {
            throw DatasetError("\(path): IDX element type 0x\(String(data[2], radix: 16)) unsupported (expected 0x08, unsigned byte)")
        }
        guard Int(data[3]) == rank else {
            throw DatasetError("\(path): IDX has \(data[3]) dimensions, expected \(rank)")
        }
        let headerSize = 4 + 4 * rank
        guard data.count >= headerSize else { throw DatasetError("\(path): truncated IDX header") }
        var dimensions: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            dimensions.append(Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3]))
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
        let actual = data.count - headerSize
        guard actual == expected else {
            throw DatasetError("\(path): IDX header promises \(dimensions.map(String.init).joined(separator: "x")) = \(expected) bytes of data, file has \(actual)")
        }
        return Array3(dimensions: dimensions, bytes: Array(data[headerSize...]))
    }

    /// Reads an image file (rank 3: N x H x W) and its label file (rank 1: N) into a split of
    /// pixel values scaled to [0, 1]. Labels must be below `classCount`.
    public static func readSplit(images: String, labels: String, classCount: Int) throws -> LabeledSplit {
        let imageArray = try read(path: images, rank: 3)
        let labelArray = try read(path: labels, rank: 1)
        guard imageArray.dimensions[0] == labelArray.dimensions[0] else {
            throw DatasetError("\(labels): \(labelArray.dimensions[0]) labels for \(imageArray.dimensions[0]) images in \(images)")
        }
        if let bad = labelArray.bytes.firstIndex(where: { Int($0) >= classCount }) {
            throw DatasetError("\(labels): label \(labelArray.bytes[bad]) at index \(bad) is not below \(classCount)")
        }
        let (h, w) = (imageArray.dimensions[1], imageArray.dimensions[2])
        let scale: Float = 1.0 / 255.0
        return LabeledSplit(features: imageArray.bytes.map { Float($0) * scale }, labels: labelArray.bytes.map { Int32($0) },
                            featureCount: h * w, classCount: classCount, shape: (1, h, w))
    }
}
