import Foundation
import XCTest
@testable import RegimeCore

/// The fast kernels of the probe pass against their naive references: the several-limit margin
/// count against the one-limit count, and the streamed sum of squares against the pass over the
/// stored values. Both must agree exactly. (The pattern tap against `recordPatterns`:
/// ProbeInstrumentTests.testTapGivesPreActivationsOfTheSamePass.)
final class ProbePassKernelTests: XCTestCase {
    /// Values with every awkward case: ±0, subnormals, ±infinity, NaN (both signs), and values
    /// equal to the limits used below.
    static func awkwardValues(count: Int, rng: inout Xoshiro256) -> [Float] {
        let specials: [Float] = [0, -0.0, Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude, .infinity, -.infinity,
                                 .nan, -Float.nan, 0.5, -0.5, Float(0.5).nextUp, -Float(0.5).nextDown, 1e-3, -1e-3]
        return (0..<count).map { _ in
            rng.nextInt(below: 3) == 0 ? specials[rng.nextInt(below: specials.count)] : Float(rng.nextNormal())
        }
    }

    func testSeveralLimitCountMatchesOneLimitCount() {
        var rng = Xoshiro256(seed: 21, stream: 1)
        let limits: [Float] = [0.5, 0, -0.0, -1, .nan, .infinity, Float.leastNonzeroMagnitude, 1e-3, 2.5, Float(0.5).nextUp]
        for n in [0, 1, 15, 16, 17, 63, 64, 100, 1000, 4099] {
            let z = Self.awkwardValues(count: n, rng: &rng)
            for take in [1, 3, 4, 5, limits.count] {
                let chosen = Array(limits.shuffled(using: &rng).prefix(take))
                let fast = z.withUnsafeBufferPointer { MarginMeter.countBelow($0.baseAddress ?? UnsafePointer(bitPattern: 64)!, count: n, limits: chosen) }
                let naive = chosen.map { limit in
                    z.withUnsafeBufferPointer { MarginMeter.countBelow($0.baseAddress ?? UnsafePointer(bitPattern: 64)!, count: n, limit: limit) }
                }
                XCTAssertEqual(fast, naive, "n \(n), limits \(chosen)")
            }
        }
    }

    /// The stream's lanes and sum of squares are the bits of `squareLanes` and `sumOfSquares`, and
    /// its counts below each band exact, over values drawn from every finite Float bit pattern
    /// (subnormals to 3.4e38, both signs), where the partial sums and the squares differ by
    /// hundreds of binary orders of magnitude and d = a - lower spans both signs; with bands as
    /// they come (the 32-bit body) and with edges rounded to multiples of 2^16 (the 16-bit body,
    /// whose blocks of 32 leave heads and tails to the 32-bit body and the scalar steps).
    func testStreamedSquaresMatchOverEveryFloatMagnitude() {
        var rng = Xoshiro256(seed: 23, stream: 1)
        var band: [Float] = []
        for (count, aligned) in [16, 17, 160, 4096 + 5, 31, 32, 33, 100, 4096 + 37].flatMap({ [($0, false), ($0, true)] }) {
            var z: [Float] = []
            while z.count < count {
                let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
                if x.isFinite { z.append(x) }
            }
            let reference = z.withUnsafeBufferPointer { MarginMeter.squareLanes($0.baseAddress!, count: count) }
            let referenceTotal = z.withUnsafeBufferPointer { MarginMeter.sumOfSquares($0.baseAddress!, count: count) }
            // Three bands starting at magnitudes of the data (one at 0), 2^0 to 2^26 patterns wide.
            let magnitudes = z.map { $0.bitPattern & 0x7FFF_FFFF }
            var lower = SIMD4<UInt32>(0, magnitudes[3], magnitudes[count / 2], 0)
            var widths = SIMD4<UInt32>(1 << 26, 1, UInt32(1 + rng.nextInt(below: 1 << 26)), 0)
            if aligned {  // edges rounded to multiples of 2^16: the 16-bit body (`addHalves`)
                let upper = (lower &+ widths &+ 0xFFFF) & ~0xFFFF
                lower &= ~0xFFFF
                widths = upper &- lower
            }
            var stream = MarginStream(lower: lower, widths: widths)
            XCTAssertEqual(stream.halfAligned, aligned, "\(count) values, bands \(lower), \(widths)")
            band = [Float](repeating: 0, count: count)
            z.withUnsafeBufferPointer {
                stream.add($0.baseAddress!, at: 0, count: count, total: count, band: &band, capacity: band.count)
            }
            XCTAssertEqual((0..<8).map { stream.lanes[$0].bitPattern }, (0..<8).map { reference[$0].bitPattern },
                           "\(count) values: streamed lanes \(stream.lanes) vs pass \(reference)")
            XCTAssertEqual(stream.sumOfSquares(total: count)?.bitPattern, referenceTotal.bitPattern, "\(count) values")
            let below = (0..<3).map { d in magnitudes.filter { $0 < lower[d] }.count }
            XCTAssertEqual((0..<3).map { stream.below[$0] }, below, "\(count) values: counts below \(lower)")
            let inBand = z.filter { x in (0..<3).contains { (x.bitPattern & 0x7FFF_FFFF) &- lower[$0] < widths[$0] } }
            XCTAssertEqual(Array(band.prefix(stream.kept)).map(\.bitPattern), inBand.map(\.bitPattern), "\(count) values: kept")
        }
    }

    /// Delivered in order in chunks of any size, the margin stream's lanes are those of one pass
    /// over the whole array and its sum of squares the bits of `sumOfSquares` (so the margins are
    /// the same bits); out of order, it says it cannot give them.
    func testStreamedSquaresMatchThePassOverTheWholeArray() {
        var rng = Xoshiro256(seed: 22, stream: 1)
        var band = [Float](repeating: 0, count: 16)
        for width in [1, 3, 8, 13, 64, 100] {
            let examples = 37
            let z = (0..<(examples * width)).map { _ in Float(rng.nextNormal() * 3) }
            let reference = z.withUnsafeBufferPointer { MarginMeter.squareLanes($0.baseAddress!, count: z.count) }
            let referenceTotal = z.withUnsafeBufferPointer { MarginMeter.sumOfSquares($0.baseAddress!, count: z.count) }
            for order in ["in order", "reversed"] {
                var stream = MarginStream(lower: .zero, widths: .zero)
                var chunks: [(Int, Int)] = []
                var first = 0
                while first < examples {
                    let rows = min(1 + rng.nextInt(below: 9), examples - first)
                    chunks.append((first, rows))
                    first += rows
                }
                if order == "reversed" { chunks.reverse() }
                // Twice: a second pass restarts the stream at example 0.
                for _ in 0..<2 {
                    for (first, rows) in chunks {
                        z.withUnsafeBufferPointer {
                            stream.add($0.baseAddress! + first * width, at: first * width, count: rows * width, total: z.count,
                                       band: &band, capacity: band.count)
                        }
                    }
                }
                let total = stream.sumOfSquares(total: z.count)
                if order == "in order" {
                    XCTAssertEqual((0..<8).map { stream.lanes[$0].bitPattern }, (0..<8).map { reference[$0].bitPattern },
                                   "width \(width): streamed lanes \(stream.lanes) vs pass \(reference)")
                    XCTAssertEqual(total?.bitPattern, referenceTotal.bitPattern, "width \(width): \(String(describing: total)) vs \(referenceTotal)")
                } else if chunks.count > 1 {
                    XCTAssertNil(total, "width \(width): a stream delivered out of order must not be used")
                }
            }
        }
    }
}
