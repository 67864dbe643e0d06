import Foundation

/// xoshiro256** 1.0 (Blackman and Vigna, 2018): the one pseudo-random generator of regime.
///
/// Every random choice of a trial (initial weights, batch order, probe set, synthetic data) draws
/// from an instance seeded by `init(seed:stream:)`, so a trial's result depends only on its spec
/// and seed. The 256-bit state is filled by SplitMix64 from `seed` mixed with `stream`, which gives
/// independent streams (init, batch order of epoch e, ...) without sharing a sequence between them.
public struct Xoshiro256: RandomNumberGenerator, Codable, Hashable, Sendable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// Named streams, so that two uses of one seed never draw the same numbers.
    public enum Stream: UInt64, Sendable {
        case initialization = 1
        case batchOrder = 2
        case probe = 3
        case synthetic = 4
        case bootstrap = 5
        case nullModel = 6
    }

    public init(seed: UInt64, stream: UInt64 = 0) {
        var mixer = SplitMix64(state: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        state = (mixer.next(), mixer.next(), mixer.next(), mixer.next())
        if state == (0, 0, 0, 0) { state.0 = 1 }  // the all-zero state is the one fixed point
    }

    public init(seed: UInt64, stream: Stream, index: UInt64 = 0) {
        self.init(seed: seed, stream: stream.rawValue &+ (index << 8))
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform Double in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal deviate by Box-Muller (one of the pair; the other is discarded so that the
    /// generator has no hidden cached state to checkpoint).
    public mutating func nextNormal() -> Double {
        let u1 = 1.0 - nextUnitDouble()  // (0, 1]: log is finite
        let u2 = nextUnitDouble()
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    /// A uniform integer in 0..<bound, unbiased (Lemire's multiply-and-reject).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold { product = next().multipliedFullWidth(by: b) }
        }
        return Int(product.high)
    }

    /// Fisher-Yates shuffle with this generator (the standard library's `shuffle(using:)` does not
    /// promise a stable algorithm across versions; this one is fixed).
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(i, nextInt(below: i + 1))
        }
    }

    /// A uniformly random permutation of 0..<count.
    public mutating func permutation(_ count: Int) -> [Int] {
        var indices = Array(0..<count)
        shuffle(&indices)
        return indices
    }

    public static func == (a: Self, b: Self) -> Bool { a.state == b.state }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(state.0); hasher.combine(state.1); hasher.combine(state.2); hasher.combine(state.3)
    }
    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        state = (try container.decode(UInt64.self), try container.decode(UInt64.self),
                 try container.decode(UInt64.self), try container.decode(UInt64.self))
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(state.0); try container.encode(state.1)
        try container.encode(state.2); try container.encode(state.3)
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): expands a seed into xoshiro's state, and is the quick
/// generator of benchmark inputs and test data. The one implementation in regime.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A float in [-1, 1) from the top 24 bits of the next output.
    public mutating func nextSymmetricFloat() -> Float {
        Float(next() >> 40) * (2.0 / Float(1 << 24)) - 1
    }
}
