/// XXH64 (Yann Collet's xxHash, 64-bit variant, specification 0.1.1), streaming: the content hash
/// of regime's data-set cache files (the key of a file is the XXH64 of the data set's source
/// files; its checksum is the XXH64 of its own bytes).
///
/// Why XXH64: a fixed, documented, widely implemented hash (so a file's key and checksum can be
/// recomputed by other tools, e.g. `xxhsum`), with good avalanche over every input bit and about
/// 8 bytes per cycle on four independent lanes. That speed matters: every process that opens a
/// cache file verifies its checksum over the whole file (55 MB for Fashion-MNIST) before trusting
/// it. FNV-1a (the trial id's hash) runs one multiply per byte on one dependency chain, about 30x
/// slower. XXH64 detects corruption; it is not a defence against someone forging a file, which is
/// why the cache directory is private to its user.
///
/// The algorithm: 32-byte stripes feed four accumulators `acc_i = rotl(acc_i + lane_i * P2, 31) * P1`
/// (seeded `seed + P1 + P2`, `seed + P2`, `seed`, `seed - P1`); inputs of 32 bytes or more merge
/// the four (rotations 1, 7, 12, 18, then each folded in with one more round), shorter ones start
/// from `seed + P5`; then the length is added, the tail is consumed 8, 4 and 1 bytes at a time, and
/// a final avalanche (xor-shifts 33, 29, 32 with multiplications by P2, P3) mixes every bit.
/// Words are read little-endian. Verified against the reference C library (libxxhash) in
/// `XXH64Tests`.
public struct XXH64: Sendable {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private let seed: UInt64
    private var acc: (UInt64, UInt64, UInt64, UInt64)
    private var length: UInt64 = 0
    /// Bytes not yet consumed as a whole stripe (fewer than 32).
    private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var pendingCount = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        acc = (seed &+ Self.p1 &+ Self.p2, seed &+ Self.p2, seed, seed &- Self.p1)
    }

    /// The hash of `bytes` in one call.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var h = XXH64(seed: seed)
        h.update(bytes)
        return h.finalize()
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) private static func round(_ acc: UInt64, _ lane: UInt64) -> UInt64 {
        rotl(acc &+ lane &* p2, 31) &* p1
    }
    @inline(__always) private static func merge(_ h: UInt64, _ acc: UInt64) -> UInt64 {
        (h ^ round(0, acc)) &* p1 &+ p4
    }
    @inline(__always) private static func word(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Adds `bytes` to the hashed stream (any split of a stream into calls gives the same hash).
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        length &+= UInt64(bytes.count)
        var offset = 0
        if pendingCount > 0 {
            let take = min(32 - pendingCount, bytes.count)
            withUnsafeMutableBytes(of: &pending) { ($0.baseAddress! + pendingCount).copyMemory(from: base, byteCount: take) }
            pendingCount += take
            offset = take
            guard pendingCount == 32 else { return }
            let stripe = pending
            acc = (Self.round(acc.0, UInt64(littleEndian: stripe.0)), Self.round(acc.1, UInt64(littleEndian: stripe.1)),
                   Self.round(acc.2, UInt64(littleEndian: stripe.2)), Self.round(acc.3, UInt64(littleEndian: stripe.3)))
            pendingCount = 0
        }
        var (a0, a1, a2, a3) = acc
        while bytes.count - offset >= 32 {
            let p = base + offset
            a0 = Self.round(a0, Self.word(p, 0)); a1 = Self.round(a1, Self.word(p, 8))
            a2 = Self.round(a2, Self.word(p, 16)); a3 = Self.round(a3, Self.word(p, 24))
            offset += 32
        }
        acc = (a0, a1, a2, a3)
        let rest = bytes.count - offset
        if rest > 0 {
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: base + offset, byteCount: rest) }
            pendingCount = rest
        }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Feeds a 64-bit value as its 8 little-endian bytes.
    public mutating func update(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { update($0) } }

    /// The hash of everything added so far (the state is not changed).
    public func finalize() -> UInt64 {
        var h: UInt64
        if length >= 32 {
            h = Self.rotl(acc.0, 1) &+ Self.rotl(acc.1, 7) &+ Self.rotl(acc.2, 12) &+ Self.rotl(acc.3, 18)
            h = Self.merge(h, acc.0); h = Self.merge(h, acc.1); h = Self.merge(h, acc.2); h = Self.merge(h, acc.3)
        } else {
            h = seed &+ Self.p5
        }
        h &+= length
        var tail = pending
        let count = pendingCount
        withUnsafeBytes(of: &tail) { raw in
            let p = raw.baseAddress!
            var i = 0
            while i + 8 <= count {
                h ^= Self.round(0, Self.word(p, i))
                h = Self.rotl(h, 27) &* Self.p1 &+ Self.p4
                i += 8
            }
            if i + 4 <= count {
                h ^= UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self))) &* Self.p1
                h = Self.rotl(h, 23) &* Self.p2 &+ Self.p3
                i += 4
            }
            while i < count {
                h ^= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) &* Self.p5
                h = Self.rotl(h, 11) &* Self.p1
                i += 1
            }
        }
        h ^= h >> 33; h &*= Self.p2
        h ^= h >> 29; h &*= Self.p3
        h ^= h >> 32
        return h
    }
}
