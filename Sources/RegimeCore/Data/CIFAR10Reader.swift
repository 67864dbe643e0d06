import Foundation

/// Reads the CIFAR-10 binary format: records of 1 label byte and 3072 pixel bytes (3 x 32 x 32,
/// channel-major), in files `data_batch_1.bin` ... `data_batch_5.bin` and `test_batch.bin`.
/// Records are read 256 at a time, so reading never holds a whole file.
public enum CIFAR10Reader {
    static let recordSize = 1 + 3 * 32 * 32

    /// Streams the pixels of every record of `paths`, in order, to `sink`; returns the labels.
    public static func streamSplit(paths: [String], into sink: inout some ByteSink) throws -> [UInt8] {
        var labels: [UInt8] = []
        var block = [UInt8](repeating: 0, count: 256 * recordSize)
        for path in paths {
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { throw DatasetError("\(path): file not found or unreadable") }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw DatasetError("\(path): file not found or unreadable") }
            let size = Int(info.st_size)
            guard size > 0, size % recordSize == 0 else {
                throw DatasetError("\(path): size \(size) is not a multiple of the CIFAR-10 record size \(recordSize)")
            }
            var record = 0
            while record < size / recordSize {
                let records = min(256, size / recordSize - record)
                let wanted = records * recordSize
                var got = 0
                while got < wanted {
                    let n = block.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + got, wanted - got) }
                    guard n > 0 else { throw DatasetError("\(path): read failed after \(record * recordSize + got) of \(size) bytes") }
                    got += n
                }
                try block.withUnsafeBytes { bytes in
                    for r in 0..<records {
                        let o = r * recordSize
                        guard bytes[o] < 10 else {
                            throw DatasetError("\(path): record \(record + r) has label \(bytes[o]), expected 0-9")
                        }
                        labels.append(bytes[o])
                        try sink.append(UnsafeRawBufferPointer(rebasing: bytes[(o + 1)..<(o + recordSize)]))
                    }
                }
                record += records
            }
        }
        return labels
    }

    /// Reads `paths` into one split held in this process's memory as bytes, read as
    /// `PixelEncoding.cifar` (values in [0, 1]).
    public static func readSplit(paths: [String]) throws -> LabeledSplit {
        var pixels = [UInt8]()
        let labels = try streamSplit(paths: paths, into: &pixels)
        return LabeledSplit(pixels: pixels, labels: labels, encoding: .cifar, classCount: 10, shape: (3, 32, 32))
    }
}
