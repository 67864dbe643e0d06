import Foundation
import XCTest
@testable import RegimeCore

/// `Xoshiro256.fillStandardNormal` (the null model's sampler): its polynomial pieces against Double
/// libm, and its output against the standard normal it claims to be.
final class GaussianSamplerTests: XCTestCase {
    /// ln on (0, 1]: from the sampler's smallest u1 (2^-25) to 1, within 2 ulps of the correctly
    /// rounded value (every Float in [2^-25, 1] with a stride, and the binade edges).
    func testLogIsWithinTwoUlps() {
        var xs: [Float] = [0x1.0p-25, 0.5, 1, Float(0.5).squareRoot(), Float(0.5).squareRoot().nextUp, Float(2).squareRoot() / 2]
        var bits = Float(0x1.0p-25).bitPattern
        while bits <= Float(1).bitPattern { xs.append(Float(bitPattern: bits)); bits += 997 }
        var worst: (x: Float, got: Float, want: Double, ulps: Double) = (0, 0, 0, 0)
        for start in stride(from: 0, to: xs.count, by: 16) {
            var v = SIMD16<Float>(repeating: 1)
            for lane in 0..<min(16, xs.count - start) { v[lane] = xs[start + lane] }
            let got = GaussianBlock.log(v)
            for lane in 0..<min(16, xs.count - start) {
                let want = Foundation.log(Double(v[lane]))
                let ulps = abs(Double(got[lane]) - want) / Double(Float(want).ulp == 0 ? Float.leastNormalMagnitude : abs(Float(want)).ulp)
                if ulps > worst.ulps { worst = (v[lane], got[lane], want, ulps) }
            }
        }
        XCTAssertLessThanOrEqual(worst.ulps, 2, "ln(\(worst.x)) = \(worst.got), libm \(worst.want): \(worst.ulps) ulps")
    }

    /// sqrt on the range the sampler uses (-2 ln u1 for u1 in (0, 1): about 1.2e-7 to 33.3) and
    /// beyond, every Float in [2^-30, 2^10] with a stride: within 1 ulp of the exact root.
    func testSquareRootIsWithinOneUlp() {
        var xs: [Float] = [0x1.0p-30, 1, 2, 4, 33.27, Float(2).nextDown, 0x1.0p10]
        var bits = Float(0x1.0p-30).bitPattern
        while bits <= Float(0x1.0p10).bitPattern { xs.append(Float(bitPattern: bits)); bits += 4099 }
        var worst: (x: Float, got: Float, ulps: Double) = (0, 0, 0)
        for start in stride(from: 0, to: xs.count, by: 16) {
            var v = SIMD16<Float>(repeating: 1)
            for lane in 0..<min(16, xs.count - start) { v[lane] = xs[start + lane] }
            let got = GaussianBlock.squareRoot(v)
            for lane in 0..<min(16, xs.count - start) {
                let want = Double(v[lane]).squareRoot()
                let ulps = abs(Double(got[lane]) - want) / Double(Float(want).ulp)
                if ulps > worst.ulps { worst = (v[lane], got[lane], ulps) }
            }
        }
        XCTAssertLessThanOrEqual(worst.ulps, 1, "sqrt(\(worst.x)) = \(worst.got): \(worst.ulps) ulps")
    }

    /// (cos, sin) of (quadrant + fraction) pi/2 on a grid of fractions in [0, 1) in every quadrant,
    /// the edges included: absolute error at most 3e-7 (a few ulps of 1).
    func testCosSinAreWithinAFewUlps() {
        var fractions: [Float] = [0, 0.5, Float(0.5).nextDown, Float(1).nextDown, 0x1.0p-22]
        for i in 0..<1024 { fractions.append(Float(i) / 1024 + 0x1.0p-13) }
        var worst: (angle: Double, error: Double) = (0, 0)
        for quadrant in UInt32(0)...3 {
            for start in stride(from: 0, to: fractions.count, by: 16) {
                var v = SIMD16<Float>(repeating: 0)
                for lane in 0..<min(16, fractions.count - start) { v[lane] = fractions[start + lane] }
                let (c, s) = GaussianBlock.cosSin(quadrant: SIMD16(repeating: quadrant), fraction: v)
                for lane in 0..<min(16, fractions.count - start) {
                    let angle = (Double(quadrant) + Double(v[lane])) * Double.pi / 2
                    let error = max(abs(Double(c[lane]) - cos(angle)), abs(Double(s[lane]) - sin(angle)))
                    if error > worst.error { worst = (angle, error) }
                }
            }
        }
        XCTAssertLessThanOrEqual(worst.error, 3e-7, "cos/sin(\(worst.angle)) off by \(worst.error)")
    }

    /// 2^20 deviates from a fixed seed: mean and variance within 5 standard errors of 0 and 1,
    /// kurtosis within 5 standard errors of 3, the Kolmogorov-Smirnov distance to Phi below its
    /// 1% critical value 1.63 / sqrt(n), the angle of each (cos, sin) pair uniform by the same test,
    /// and the two members of a pair uncorrelated (|r| < 5 / sqrt(n)). A sampler with a wrong scale,
    /// a lopsided quadrant or a shared lane fails one of these.
    func testDeviatesAreStandardNormal() {
        let n = 1 << 20
        var values = [Float](repeating: 0, count: n)
        var rng = Xoshiro256(seed: 2024, stream: .nullModel, index: 1)
        values.withUnsafeMutableBufferPointer { rng.fillStandardNormal($0.baseAddress!, count: n) }
        let x = values.map(Double.init)
        let mean = x.reduce(0, +) / Double(n)
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        let kurtosis = x.reduce(0) { $0 + pow($1 - mean, 4) } / Double(n) / (variance * variance)
        XCTAssertLessThan(abs(mean), 5 / Double(n).squareRoot(), "mean \(mean)")
        XCTAssertLessThan(abs(variance - 1), 5 * (2 / Double(n)).squareRoot(), "variance \(variance)")
        XCTAssertLessThan(abs(kurtosis - 3), 5 * (24 / Double(n)).squareRoot(), "kurtosis \(kurtosis)")

        let critical = 1.63 / Double(n).squareRoot()
        let sorted = x.sorted()
        var ks = 0.0
        for (i, v) in sorted.enumerated() {
            let phi = 0.5 * erfc(-v / 2.0.squareRoot())
            ks = max(ks, abs(phi - Double(i) / Double(n)), abs(phi - Double(i + 1) / Double(n)))
        }
        XCTAssertLessThan(ks, critical, "Kolmogorov-Smirnov distance to the normal \(ks)")

        // Blocks of 32: lanes 0..<16 are r cos, 16..<32 the matching r sin.
        var angles: [Double] = [], products = 0.0, squaresC = 0.0, squaresS = 0.0
        for block in stride(from: 0, to: n, by: 32) {
            for lane in 0..<16 {
                let c = x[block + lane], s = x[block + 16 + lane]
                angles.append((atan2(s, c) + Double.pi) / (2 * Double.pi))
                products += c * s; squaresC += c * c; squaresS += s * s
            }
        }
        angles.sort()
        let m = angles.count
        var ksAngle = 0.0
        for (i, a) in angles.enumerated() {
            ksAngle = max(ksAngle, abs(a - Double(i) / Double(m)), abs(a - Double(i + 1) / Double(m)))
        }
        XCTAssertLessThan(ksAngle, 1.63 / Double(m).squareRoot(), "angle KS distance \(ksAngle)")
        let r = products / (squaresC * squaresS).squareRoot()
        XCTAssertLessThan(abs(r), 5 / Double(m).squareRoot(), "pair correlation \(r)")
    }

    /// A count that is not a multiple of 32 gives the prefix of the longer fill, and the stream
    /// advances by 16 outputs per started block of 32; the same seed gives the same bits.
    func testPartialBlocksArePrefixesAndTheStreamAdvancesByWholeBlocks() {
        var a = Xoshiro256(seed: 5, stream: .nullModel, index: 3), b = a
        var short = [Float](repeating: .nan, count: 45), long = [Float](repeating: .nan, count: 64)
        short.withUnsafeMutableBufferPointer { a.fillStandardNormal($0.baseAddress!, count: 45) }
        long.withUnsafeMutableBufferPointer { b.fillStandardNormal($0.baseAddress!, count: 64) }
        XCTAssertEqual(short.map(\.bitPattern), Array(long.prefix(45)).map(\.bitPattern))
        XCTAssertEqual(a, b, "45 and 64 deviates both take two blocks of 16 outputs")
        var c = Xoshiro256(seed: 5, stream: .nullModel, index: 3)
        for _ in 0..<32 { _ = c.next() }
        XCTAssertEqual(a, c)
        XCTAssertTrue(long.allSatisfy { $0.isFinite })
    }

    /// The pipelined fill gives the reference's bits and leaves the generator in the same state,
    /// for counts around the block size and a null-model-sized group; the first difference is named.
    func testPipelinedFillMatchesTheBlockByBlockReference() {
        for count in [0, 1, 16, 31, 32, 33, 64, 65, 1000, 200_704 + 17] {
            var fast = Xoshiro256(seed: 11, stream: .nullModel, index: UInt64(count)), reference = fast
            var x = [Float](repeating: .nan, count: count + 1), y = x
            x.withUnsafeMutableBufferPointer { fast.fillStandardNormal($0.baseAddress!, count: count) }
            y.withUnsafeMutableBufferPointer { reference.fillStandardNormalReference($0.baseAddress!, count: count) }
            if let i = x.indices.first(where: { x[$0].bitPattern != y[$0].bitPattern }) {
                XCTFail("count \(count): first difference at \(i): \(x[i]) vs reference \(y[i])")
            }
            XCTAssertEqual(fast, reference, "count \(count): generator states differ")
            XCTAssertTrue(x[count].isNaN, "count \(count): wrote past the end")
        }
    }
}
