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

    /// Stored in order in chunks of any size, the stream's lanes are those of one pass over the
    /// stored array (so the margins are the same bits); out of order, the meter falls back to the
    /// pass and still gives the same margins.
    func testStreamedSquaresMatchThePassOverTheStoredValues() {
        var rng = Xoshiro256(seed: 22, stream: 1)
        for width in [1, 3, 8, 13, 64, 100] {
            let examples = 37
            let z = (0..<(examples * width)).map { _ in Float(rng.nextNormal() * 3) }
            let reference = z.withUnsafeBufferPointer { MarginMeter.squareLanes($0.baseAddress!, count: z.count) }
            let referenceTotal = z.withUnsafeBufferPointer { MarginMeter.sumOfSquares($0.baseAddress!, count: z.count) }
            for order in ["in order", "reversed"] {
                let meter = MarginMeter(exampleCount: examples, unitsPerExample: [width])
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
                        z.withUnsafeBufferPointer { meter.store(layer: 0, first: first, rows: rows, z: $0.baseAddress! + first * width) }
                    }
                }
                let streamed = meter.streamLanesForTesting(layer: 0)
                if order == "in order" {
                    XCTAssertEqual(streamed.map { lanes in (0..<8).map { lanes[$0].bitPattern } }, (0..<8).map { reference[$0].bitPattern },
                                   "width \(width): streamed lanes \(String(describing: streamed)) vs pass \(reference)")
                } else if chunks.count > 1 {
                    XCTAssertNil(streamed, "width \(width): a stream stored out of order must not be used")
                }
                let s = (referenceTotal / Double(z.count)).squareRoot()
                XCTAssertEqual(meter.margins().rms[0].bitPattern, s.bitPattern, "width \(width) \(order)")
            }
        }
    }
}
