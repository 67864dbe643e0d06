import Foundation
import XCTest
@testable import RegimeCore

/// xoshiro256** against the published algorithm, its seeding, and its derived draws.
///
/// Expected values were computed with a line-by-line Python transcription of the reference C code
/// (`xoshiro256starstar.c` and `splitmix64.c`, Blackman and Vigna, prng.di.unimi.it), with
/// 64-bit wrap-around by masking:
///
///     M = (1 << 64) - 1
///     def rotl(x, k): return ((x << k) | (x >> (64 - k))) & M
///     def next(s):
///         result = (rotl((s[1] * 5) & M, 7) * 9) & M
///         t = (s[1] << 17) & M
///         s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
///         s[2] ^= t; s[3] = rotl(s[3], 45)
///         return result
///     def splitmix(x):   # yields successive outputs
///         while True:
///             x = (x + 0x9E3779B97F4A7C15) & M
///             z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M
///             z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
///             yield z ^ (z >> 31)
///
/// The state (1, 2, 3, 4) sequence also matches the test vector of Rust's `rand_xoshiro`.
final class XoshiroTests: XCTestCase {
    /// A generator in an exact state, through the checkpoint decoding (the state is otherwise private).
    static func generator(state: [UInt64]) throws -> Xoshiro256 {
        try JSONDecoder().decode(Xoshiro256.self, from: JSONEncoder().encode(state))
    }

    func testReferenceOutputsFromAFixedState() throws {
        var rng = try Self.generator(state: [1, 2, 3, 4])
        let expected: [UInt64] = [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360, 607988272756665600,
                                  16172922978634559625, 8476171486693032832, 10595114339597558777, 2904607092377533576]
        XCTAssertEqual((0..<10).map { _ in rng.next() }, expected)
    }

    func testSplitMix64ReferenceOutputs() {
        var mixer = SplitMix64(state: 0)
        XCTAssertEqual((0..<4).map { _ in mixer.next() },
                       [16294208416658607535, 7960286522194355700, 487617019471545679, 17909611376780542444])
    }

    /// Seeding is part of every trial's identity: a change here changes every result. The state is
    /// SplitMix64 of `seed ^ (stream * 0xD1B54A32D192ED03)` (Python as above).
    func testSeedingIsStable() throws {
        let cases: [(Xoshiro256, [UInt64], [UInt64])] = [
            (Xoshiro256(seed: 42),
             [13679457532755275413, 2949826092126892291, 5139283748462763858, 6349198060258255764],
             [1546998764402558742, 6990951692964543102, 12544586762248559009, 17057574109182124193, 18295552978065317476]),
            (Xoshiro256(seed: 42, stream: .initialization),
             [14473931205035997723, 4265811925338924985, 5265834713277307401, 80916244121883501],
             [13583771085161268, 395782336197462635, 10113986297222979544, 610389594528408260, 3653663353765943856]),
            // stream .synthetic (4) with index 3: 4 + (3 << 8) = 772.
            (Xoshiro256(seed: 2026, stream: .synthetic, index: 3),
             [12850117644338368876, 1334661830812668958, 12692277399449794596, 7889042742735462834],
             [13806610817799726238, 10476980895670866042, 1833507734652945917, 14747822807576966639, 1842359414684574967]),
        ]
        for (index, (generator, state, outputs)) in cases.enumerated() {
            var rng = generator
            XCTAssertEqual([rng.state.0, rng.state.1, rng.state.2, rng.state.3], state, "case \(index) state")
            XCTAssertEqual((0..<5).map { _ in rng.next() }, outputs, "case \(index) outputs")
        }
    }

    func testCheckpointRoundTripContinuesTheSequence() throws {
        var rng = Xoshiro256(seed: 9, stream: .batchOrder, index: 2)
        for _ in 0..<17 { _ = rng.next() }
        var restored = try JSONDecoder().decode(Xoshiro256.self, from: JSONEncoder().encode(rng))
        XCTAssertEqual(restored, rng)
        XCTAssertEqual((0..<100).map { _ in restored.next() }, (0..<100).map { _ in rng.next() })
    }

    func testStreamsSeedsAndIndicesDiffer() {
        let generators: [(String, Xoshiro256)] = [
            ("seed 1", Xoshiro256(seed: 1)), ("seed 2", Xoshiro256(seed: 2)),
            ("initialization", Xoshiro256(seed: 1, stream: .initialization)),
            ("batchOrder 0", Xoshiro256(seed: 1, stream: .batchOrder)),
            ("batchOrder 1", Xoshiro256(seed: 1, stream: .batchOrder, index: 1)),
            ("probe", Xoshiro256(seed: 1, stream: .probe)),
            ("synthetic", Xoshiro256(seed: 1, stream: .synthetic)),
            ("bootstrap", Xoshiro256(seed: 1, stream: .bootstrap)),
        ]
        var seen: [UInt64: String] = [:]
        for (name, generator) in generators {
            var rng = generator
            for _ in 0..<1000 {
                let value = rng.next()
                if let other = seen[value] { XCTFail("\(name) and \(other) share the output \(value)") }
                seen[value] = name
            }
        }
        XCTAssertEqual(seen.count, generators.count * 1000)
        // The same seed and stream give the same sequence.
        var a = Xoshiro256(seed: 5, stream: .probe), b = Xoshiro256(seed: 5, stream: .probe)
        XCTAssertEqual((0..<50).map { _ in a.next() }, (0..<50).map { _ in b.next() })
    }

    func testZeroSeedDoesNotGiveTheFixedPoint() {
        for stream: UInt64 in 0..<4 {
            var rng = Xoshiro256(seed: 0, stream: stream)
            XCTAssertFalse(rng.state == (0, 0, 0, 0))
            XCTAssertNotEqual((0..<4).map { _ in rng.next() }, [0, 0, 0, 0])
        }
    }

    /// Pearson's chi-square of uniform counts; with a fixed seed the test is deterministic.
    static func chiSquare(_ counts: [Int]) -> Double {
        let total = Double(counts.reduce(0, +)), expected = total / Double(counts.count)
        return counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
    }

    func testNextIntIsInRangeAndUniform() {
        var rng = Xoshiro256(seed: 123, stream: 7)
        // Critical values of chi-square at p = 0.001: df 2: 13.8, df 5: 20.5, df 9: 27.9, df 6: 22.5.
        for (bound, critical) in [(3, 13.8), (6, 20.5), (7, 22.5), (10, 27.9)] {
            var counts = [Int](repeating: 0, count: bound)
            for _ in 0..<(6000 * bound) {
                let value = rng.nextInt(below: bound)
                guard (0..<bound).contains(value) else { return XCTFail("nextInt(below: \(bound)) gave \(value)") }
                counts[value] += 1
            }
            XCTAssertLessThan(Self.chiSquare(counts), critical, "bound \(bound): \(counts)")
        }
        XCTAssertEqual((0..<100).map { _ in rng.nextInt(below: 1) }, [Int](repeating: 0, count: 100))
    }

    /// For a bound of 3 * 2^61 a plain `next() % bound` would put 2/3 of the draws (not 1/2) in the
    /// lower half of the range; multiply-and-reject is uniform.
    func testNextIntIsUnbiasedForHugeBounds() {
        var rng = Xoshiro256(seed: 77)
        let bound = 3 << 61
        var lower = 0
        let draws = 30_000
        for _ in 0..<draws {
            let value = rng.nextInt(below: bound)
            guard value >= 0 && value < bound else { return XCTFail("nextInt(below: \(bound)) gave \(value)") }
            if value < bound / 2 { lower += 1 }
        }
        // Binomial(30000, 1/2): sd 87; 5 sd is 433 (the biased modulo would give ~20000).
        XCTAssertEqual(Double(lower), Double(draws) / 2, accuracy: 433, "draws in the lower half")
        // And the largest bound works.
        for _ in 0..<1000 { XCTAssertTrue((0..<Int.max).contains(rng.nextInt(below: .max))) }
    }

    func testPermutationsAreValidAndUniform() {
        var rng = Xoshiro256(seed: 31, stream: .batchOrder)
        for n in [0, 1, 2, 5, 64, 65, 1000] {
            let p = rng.permutation(n)
            XCTAssertEqual(p.sorted(), Array(0..<n), "n = \(n)")
        }
        // All 24 orders of 4 elements, uniformly.
        var counts: [[Int]: Int] = [:]
        for _ in 0..<24_000 { counts[rng.permutation(4), default: 0] += 1 }
        XCTAssertEqual(counts.count, 24)
        // chi-square, df 23, p = 0.001: 49.7.
        XCTAssertLessThan(Self.chiSquare(Array(counts.values)), 49.7, "\(counts)")
        // Each element lands in each position with probability 1/n.
        var positions = [[Int]](repeating: [Int](repeating: 0, count: 10), count: 10)
        for _ in 0..<10_000 { for (position, element) in rng.permutation(10).enumerated() { positions[element][position] += 1 } }
        for element in 0..<10 { XCTAssertLessThan(Self.chiSquare(positions[element]), 27.9, "element \(element)") }
        // Deterministic for a seed; different for another.
        var a = Xoshiro256(seed: 4, stream: .batchOrder), b = Xoshiro256(seed: 4, stream: .batchOrder)
        var c = Xoshiro256(seed: 4, stream: .batchOrder, index: 1)
        let pa = a.permutation(500)
        XCTAssertEqual(pa, b.permutation(500))
        XCTAssertNotEqual(pa, c.permutation(500))
        // shuffle is the same algorithm.
        var d = Xoshiro256(seed: 4, stream: .batchOrder)
        var array = Array(0..<500)
        d.shuffle(&array)
        XCTAssertEqual(array, pa)
    }

    func testUnitDoubleAndNormal() {
        var rng = Xoshiro256(seed: 8)
        var sum = 0.0, sumSquares = 0.0
        let n = 50_000
        var outside = 0
        for _ in 0..<n {
            let u = rng.nextUnitDouble()
            if !(u >= 0 && u < 1) { outside += 1 }
            let z = rng.nextNormal()
            if !z.isFinite { outside += 1 }
            sum += z; sumSquares += z * z
        }
        XCTAssertEqual(outside, 0, "uniforms outside [0, 1) or non-finite normals")
        XCTAssertEqual(sum / Double(n), 0, accuracy: 0.02)
        XCTAssertEqual(sumSquares / Double(n), 1, accuracy: 0.03)
        // nextUnitDouble takes the top 53 bits.
        var a = try! Self.generator(state: [1, 2, 3, 4])
        XCTAssertEqual(a.nextUnitDouble(), Double(UInt64(11520) >> 11) * 0x1.0p-53)
    }
}
