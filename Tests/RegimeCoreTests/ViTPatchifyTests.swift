import XCTest
@testable import RegimeCore

/// `vitPatchify` against the definition, entry by entry, for patch sizes on both sides of its
/// 8-float copies (4...8) and images whose sides are not multiples of the patch; the floats after
/// the batch's patches must stay untouched (the copies that spill past a patch row must not spill
/// past the last one).
final class ViTPatchifyTests: XCTestCase {
    func testPatchesAreTheImageBlocks() {
        var rng = Xoshiro256(seed: 41)
        for (c, h, w, p, batch) in [(1, 28, 28, 7, 3), (3, 32, 32, 8, 2), (3, 10, 10, 4, 2), (2, 9, 11, 5, 3), (1, 12, 12, 6, 1),
                                    (1, 6, 6, 2, 2), (1, 8, 8, 8, 1), (2, 13, 9, 3, 2), (1, 20, 20, 10, 2)] {
            let shape = ImageShape(channels: c, height: h, width: w)
            let input = (0..<(batch * c * h * w)).map { _ in Float(rng.nextNormal()) }
            let across = w / p, count = (h / p) * across, size = c * p * p
            let guardCount = 16, sentinel = Float(-12345)
            var patches = [Float](repeating: .nan, count: batch * count * size + guardCount)
            for g in 0..<guardCount { patches[batch * count * size + g] = sentinel }
            input.withUnsafeBufferPointer { x in
                patches.withUnsafeMutableBufferPointer { vitPatchify($0.baseAddress!, x.baseAddress!, batch: batch, shape: shape, patch: p) }
            }
            var firstDifference: String?
            for b in 0..<batch {
                for n in 0..<count {
                    let (i, j) = (n / across, n % across)
                    for ch in 0..<c {
                        for dy in 0..<p {
                            for dx in 0..<p where firstDifference == nil {
                                let got = patches[(b * count + n) * size + (ch * p + dy) * p + dx]
                                let want = input[b * c * h * w + (ch * h + i * p + dy) * w + j * p + dx]
                                if got.bitPattern != want.bitPattern {
                                    firstDifference = "example \(b), patch \(n), channel \(ch), (\(dy), \(dx)): \(got) vs \(want)"
                                }
                            }
                        }
                    }
                }
            }
            let label = "\(c)x\(h)x\(w), patch \(p), batch \(batch)"
            XCTAssertNil(firstDifference, label)
            XCTAssertEqual(Array(patches.suffix(guardCount)), [Float](repeating: sentinel, count: guardCount), "\(label): past the patches")
        }
    }
}
