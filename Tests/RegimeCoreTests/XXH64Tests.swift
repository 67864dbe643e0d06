import XCTest
@testable import RegimeCore

/// XXH64 against the reference C library (libxxhash), and independent of how a stream is split.
final class XXH64Tests: XCTestCase {
    /// (length, seed 0, seed 2026) of the bytes (31 i + 7) mod 256, from `scripts/reference/xxh64_vectors.py`
    /// (libxxhash 0.8.3). The lengths cover every tail path (8-, 4- and 1-byte steps) and the 32-byte stripes.
    static let vectors: [(Int, UInt64, UInt64)] = [
        (0, 0xef46db3751d8e999, 0xf6cf42b7763825c2),
        (1, 0xa96c7f0ce858bbb7, 0x5ab3fe17a7bfe5a4),
        (3, 0x56e6957632a487f9, 0x0000de4f3cca5da9),
        (4, 0xc60d15b1e3ff8f04, 0x6d15fddddf65a5c4),
        (5, 0x808815858624dd4e, 0xba3e4a32ac40c58b),
        (7, 0xafbefc3d6c6f9a8e, 0xe19194ced57a75ce),
        (8, 0x3da5c7aa269683e0, 0x42ebecdb259345ed),
        (9, 0x4b17a9ba9e215c09, 0x13cad00d75664523),
        (15, 0xae2a37eb9357caa7, 0x5ab79d07753a3947),
        (16, 0xa19ad429b02bc413, 0x62c134e889e2a99e),
        (31, 0x4a74f3a1a39ad4a1, 0xd6af0d2a4790a0ab),
        (32, 0x8d57d6a4671cc43d, 0x70581b79e7040caa),
        (33, 0x62c9fd21ed857664, 0xfcbf21fd862df7ef),
        (63, 0x5c320a0d2707057f, 0x080a38fa78d19f7c),
        (64, 0x7bbabbc45729d17e, 0xe8b58ce058af66eb),
        (65, 0xf3980c34bae65dc1, 0x939b458917374de9),
        (100, 0xefa0ad2d3e70c151, 0xfbabc0da06075ae2),
        (1000, 0x99594f4828043d35, 0xf66e4e2faacbc3fe),
        (4096, 0xe21174be82dc78d9, 0x926fe380ede8b2c3),
        (100003, 0xc333c0bff6f9efdb, 0xc94652a579edb14c),
    ]

    static func bytes(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) } }

    func testMatchesTheReferenceLibrary() {
        for (n, seed0, seed2026) in Self.vectors {
            let data = Self.bytes(n)
            XCTAssertEqual(XXH64.hash(data), seed0, "length \(n), seed 0: got \(String(XXH64.hash(data), radix: 16))")
            XCTAssertEqual(XXH64.hash(data, seed: 2026), seed2026, "length \(n), seed 2026")
        }
        // The published empty-input value and the well-known "abc".
        XCTAssertEqual(XXH64.hash([]), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(XXH64.hash(Array("abc".utf8)), 0x44BC_2CF5_AD77_0999)
    }

    func testAnySplitOfTheStreamGivesTheSameHash() {
        let data = Self.bytes(1000)
        let whole = XXH64.hash(data)
        var rng = Xoshiro256(seed: 3, stream: 0)
        for _ in 0..<200 {
            var hash = XXH64()
            var offset = 0
            while offset < data.count {
                let n = min(rng.nextInt(below: 70), data.count - offset)
                hash.update(Array(data[offset..<(offset + n)]))
                offset += n
            }
            XCTAssertEqual(hash.finalize(), whole)
        }
        // Finalising does not consume the state.
        var hash = XXH64()
        hash.update(Array(data[0..<500]))
        _ = hash.finalize()
        hash.update(Array(data[500...]))
        XCTAssertEqual(hash.finalize(), whole)
    }

    func testEveryFlippedBitChangesTheHash() {
        let data = Self.bytes(257)
        let whole = XXH64.hash(data)
        for i in 0..<data.count {
            for bit in 0..<8 {
                var changed = data
                changed[i] ^= UInt8(1 << bit)
                XCTAssertNotEqual(XXH64.hash(changed), whole, "byte \(i) bit \(bit)")
            }
        }
    }
}
