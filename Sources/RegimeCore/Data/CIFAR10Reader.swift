import Foundation

/// Reads the CIFAR-10 binary format: records of 1 label byte and 3072 pixel bytes (3 x 32 x 32,
/// channel-major), in files `data_batch_1.bin` ... `data_batch_5.bin` and `test_batch.bin`.
public enum CIFAR10Reader {
    static let recordSize = 1 + 3 * 32 * 32

    public static func readSplit(paths: [String]) throws -> LabeledSplit {
        var features: [Float] = [], labels: [Int32] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DatasetError("\(path): file not found or unreadable")
            }
            guard data.count > 0, data.count % recordSize == 0 else {
                throw DatasetError("\(path): size \(data.count) is not a multiple of the CIFAR-10 record size \(recordSize)")
            }
            let bytes = [UInt8](data)
            for r in 0..<(bytes.count / recordSize) {
                let o = r * recordSize
                guard bytes[o] < 10 else { throw DatasetError("\(path): record \(r) has label \(bytes[o]), expected 0-9") }
                labels.append(Int32(bytes[o]))
                features.append(contentsOf: bytes[(o + 1)..<(o + recordSize)].map { Float($0) / 255 })
            }
        }
        return LabeledSplit(features: features, labels: labels, featureCount: 3072, classCount: 10, shape: (3, 32, 32))
    }
}
