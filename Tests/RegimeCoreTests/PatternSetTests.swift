import Foundation
import XCTest
@testable import RegimeCore

/// The bit-packed `PatternSet` against a naive `[Bool]` implementation, over widths that do and do
/// not fill whole 64-bit words (1, 63, 64, 65, 130) and several example counts.
final class PatternSetTests: XCTestCase {
    static let widths = [1, 63, 64, 65, 130]

    /// The naive model: bits[layer][example * width + unit] = z > 0 (strictly).
    struct NaivePatterns {
        var widths: [Int]
        var exampleCount: Int
        var bits: [[Bool]]

        init(widths: [Int], exampleCount: Int) {
            self.widths = widths
            self.exampleCount = exampleCount
            bits = widths.map { [Bool](repeating: false, count: $0 * exampleCount) }
        }

        mutating func store(layer: Int, firstExample: Int, rows: Int, z: [Float]) {
            let width = widths[layer]
            for r in 0..<rows {
                for u in 0..<width { bits[layer][(firstExample + r) * width + u] = z[r * width + u] > 0 }
            }
        }

        func differing(layer: Int, from other: NaivePatterns) -> Int {
            zip(bits[layer], other.bits[layer]).filter { $0 != $1 }.count
        }
    }

    /// Pre-activations with a mix of signs, exact zeros (+0 and -0: off), tiny values and NaN (off).
    static func preActivations(count: Int, rng: inout Xoshiro256) -> [Float] {
        (0..<count).map { _ in
            switch rng.nextInt(below: 10) {
            case 0: return 0
            case 1: return -0.0
            case 2: return Float.leastNonzeroMagnitude
            case 3: return -Float.leastNonzeroMagnitude
            case 4: return .nan
            default: return Float(rng.nextNormal())
            }
        }
    }

    /// Stores random patterns into both implementations, in chunks of varying size (so that
    /// `firstExample` offsets are exercised), and returns them.
    static func fill(_ set: PatternSet, _ naive: inout NaivePatterns, rng: inout Xoshiro256) {
        for layer in 0..<naive.widths.count {
            let width = naive.widths[layer]
            var first = 0
            while first < naive.exampleCount {
                let rows = min(1 + rng.nextInt(below: 4), naive.exampleCount - first)
                let z = preActivations(count: rows * width, rng: &rng)
                z.withUnsafeBufferPointer { set.store(layer: layer, firstExample: first, rows: rows, preActivations: $0.baseAddress!, width: width) }
                naive.store(layer: layer, firstExample: first, rows: rows, z: z)
                first += rows
            }
        }
    }

    func assertSameBits(_ set: PatternSet, _ naive: NaivePatterns, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        for layer in 0..<naive.widths.count {
            let width = naive.widths[layer]
            var firstBad: (Int, Int)?
            var mismatches = 0
            for e in 0..<naive.exampleCount {
                for u in 0..<width where set.bit(layer: layer, example: e, unit: u) != naive.bits[layer][e * width + u] {
                    mismatches += 1
                    if firstBad == nil { firstBad = (e, u) }
                }
            }
            if let (e, u) = firstBad {
                XCTFail("\(label) layer \(layer) (width \(width)): \(mismatches) bits differ, first at example \(e) unit \(u): "
                        + "packed \(set.bit(layer: layer, example: e, unit: u)) vs naive \(naive.bits[layer][e * width + u])",
                        file: file, line: line)
            }
            // Padding bits past the last unit stay zero (so XOR + popcount counts only real units).
            let perExample = (width + 63) / 64
            XCTAssertEqual(set.words[layer].count, perExample * naive.exampleCount, "\(label) layer \(layer) words", file: file, line: line)
            if width % 64 != 0 {
                let padding = ~((UInt64(1) << UInt64(width % 64)) - 1)
                for e in 0..<naive.exampleCount {
                    XCTAssertEqual(set.words[layer][e * perExample + perExample - 1] & padding, 0,
                                   "\(label) layer \(layer) example \(e): padding bits set", file: file, line: line)
                }
            }
        }
    }

    func testStoreMatchesNaiveBitsOverAwkwardWidthsAndCounts() {
        var rng = Xoshiro256(seed: 11, stream: 1)
        for exampleCount in [1, 2, 7, 33] {
            let set = PatternSet(exampleCount: exampleCount, unitsPerExample: Self.widths)
            var naive = NaivePatterns(widths: Self.widths, exampleCount: exampleCount)
            Self.fill(set, &naive, rng: &rng)
            assertSameBits(set, naive, "P=\(exampleCount)")
            // Storing again overwrites (not ORs) the previous bits.
            Self.fill(set, &naive, rng: &rng)
            assertSameBits(set, naive, "P=\(exampleCount) after a second store")
        }
    }

    func testStrictSignConvention() {
        let set = PatternSet(exampleCount: 1, unitsPerExample: [6])
        let z: [Float] = [0, -0.0, .nan, Float.leastNonzeroMagnitude, -1, .infinity]
        z.withUnsafeBufferPointer { set.store(layer: 0, firstExample: 0, rows: 1, preActivations: $0.baseAddress!, width: 6) }
        XCTAssertEqual((0..<6).map { set.bit(layer: 0, example: 0, unit: $0) }, [false, false, false, true, false, true])
    }

    func testDifferingPairsAndFractionsMatchNaive() {
        var rng = Xoshiro256(seed: 12, stream: 1)
        for exampleCount in [1, 3, 17] {
            let a = PatternSet(exampleCount: exampleCount, unitsPerExample: Self.widths)
            let b = PatternSet(exampleCount: exampleCount, unitsPerExample: Self.widths)
            var naiveA = NaivePatterns(widths: Self.widths, exampleCount: exampleCount)
            var naiveB = naiveA
            Self.fill(a, &naiveA, rng: &rng)
            Self.fill(b, &naiveB, rng: &rng)
            let label = "P=\(exampleCount)"

            var totalDiffering = 0, totalPairs = 0
            var expectedPerLayer: [Double] = []
            for layer in Self.widths.indices {
                let expected = naiveA.differing(layer: layer, from: naiveB)
                XCTAssertEqual(a.differingPairs(layer: layer, from: b), expected, "\(label) layer \(layer)")
                XCTAssertEqual(b.differingPairs(layer: layer, from: a), expected, "\(label) layer \(layer) (symmetric)")
                XCTAssertEqual(a.differingPairs(layer: layer, from: a), 0, "\(label) layer \(layer) (self)")
                XCTAssertEqual(a.pairCount(layer: layer), exampleCount * Self.widths[layer])
                totalDiffering += expected
                totalPairs += exampleCount * Self.widths[layer]
                expectedPerLayer.append(Double(expected) / Double(exampleCount * Self.widths[layer]))
            }
            let fractions = a.changeFractions(from: b)
            XCTAssertEqual(fractions.perLayer, expectedPerLayer, label)
            XCTAssertEqual(fractions.global, Double(totalDiffering) / Double(totalPairs), label)
            XCTAssertGreaterThan(fractions.global, 0, "\(label): random patterns differ")
            let same = a.changeFractions(from: a)
            XCTAssertEqual(same.global, 0)
            XCTAssertEqual(same.perLayer, Self.widths.map { _ in 0 })
        }
    }

    /// The global fraction pools (example, unit) pairs over layers: it is weighted by width, not
    /// the mean of the per-layer fractions.
    func testGlobalFractionPoolsPairsOverLayers() {
        let P = 4
        let a = PatternSet(exampleCount: P, unitsPerExample: [1, 130])
        let b = PatternSet(exampleCount: P, unitsPerExample: [1, 130])
        let on = [Float](repeating: 1, count: P * 130), off = [Float](repeating: -1, count: P * 130)
        on.withUnsafeBufferPointer { a.store(layer: 0, firstExample: 0, rows: P, preActivations: $0.baseAddress!, width: 1) }
        off.withUnsafeBufferPointer { b.store(layer: 0, firstExample: 0, rows: P, preActivations: $0.baseAddress!, width: 1) }
        // Layer 1: only example 2, units 0, 64 and 129 differ (one in each word).
        var z = off
        z[2 * 130 + 0] = 1; z[2 * 130 + 64] = 1; z[2 * 130 + 129] = 1
        z.withUnsafeBufferPointer { a.store(layer: 1, firstExample: 0, rows: P, preActivations: $0.baseAddress!, width: 130) }
        off.withUnsafeBufferPointer { b.store(layer: 1, firstExample: 0, rows: P, preActivations: $0.baseAddress!, width: 130) }

        XCTAssertEqual(a.differingPairs(layer: 0, from: b), 4)
        XCTAssertEqual(a.differingPairs(layer: 1, from: b), 3)
        let fractions = a.changeFractions(from: b)
        XCTAssertEqual(fractions.perLayer, [1.0, 3.0 / 520.0])
        XCTAssertEqual(fractions.global, 7.0 / 524.0)
        XCTAssertNotEqual(fractions.global, (1.0 + 3.0 / 520.0) / 2, "not the mean of the layers' fractions")
    }

    func testCopyRestoreAndShapes() {
        var rng = Xoshiro256(seed: 13, stream: 1)
        let set = PatternSet(exampleCount: 5, unitsPerExample: Self.widths)
        var naive = NaivePatterns(widths: Self.widths, exampleCount: 5)
        Self.fill(set, &naive, rng: &rng)

        let copy = PatternSet(copying: set)
        assertSameBits(copy, naive, "init(copying:)")
        let target = PatternSet(exampleCount: 5, unitsPerExample: Self.widths)
        target.copy(from: set)
        assertSameBits(target, naive, "copy(from:)")
        // A copy is independent of later stores into the original.
        var changed = naive
        Self.fill(set, &changed, rng: &rng)
        assertSameBits(copy, naive, "copy after the original changed")

        let restored = PatternSet(exampleCount: 5, unitsPerExample: Self.widths)
        XCTAssertTrue(restored.restore(words: copy.words))
        assertSameBits(restored, naive, "restore(words:)")
        XCTAssertFalse(restored.restore(words: Array(copy.words.dropLast())), "fewer layers")
        var shortLayer = copy.words
        shortLayer[2].removeLast()
        XCTAssertFalse(restored.restore(words: shortLayer), "a layer with too few words")
        assertSameBits(restored, naive, "a failed restore leaves the set unchanged")
    }
}
