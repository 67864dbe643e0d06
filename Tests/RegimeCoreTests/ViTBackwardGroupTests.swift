import Foundation
import XCTest
@testable import RegimeCore

/// The ViT's backward pass runs in groups of rows, one depth block of the weight gradients each
/// (`VisionTransformer.backwardGroupRows`), with packed operands; it must give the gradient bits
/// of the whole-batch pass with plain products (`backwardGroupsEnabled` off), ungated and gated,
/// with several groups, and with one (the depth block not holding whole examples).
final class ViTBackwardGroupTests: XCTestCase {
    typealias Bits = CNNKernelBitTests
    let keep = PinnedBuffers()

    func testGroupedBackwardGivesTheBitsOfTheWholeBatch() throws {
        // (arch, batch, groups): T = 16, R = 640 in two depth blocks of 320 = 20 examples; T = 16,
        // R = 320 in one block (one group, packed operands); T = 16, R = 656 in blocks of 328 (not
        // whole examples: one group of plain products); T = 5 with a class token, R = 600 in two
        // blocks of 300 = 60 examples.
        let cases = [("vit:1x8x8-p2-d16-h2-l2-4", 40, 2), ("vit:1x8x8-p2-d16-h2-l2-4", 20, 1),
                     ("vit:1x8x8-p2-d16-h2-l2-4", 41, 1), ("vit:2x6x6-p3-d32-h2-l1-cls-4", 120, 2)]
        for (arch, B, groups) in cases {
            var rng = Xoshiro256(seed: 17, stream: 3)
            let (vit, spec, parameters, input) = try ViTForwardGroupTests.network(arch, batch: B, keep: keep, rng: &rng)
            let T = spec.tokenCount
            XCTAssertEqual((B * T + vit.backwardGroupRows(rows: B * T) - 1) / vit.backwardGroupRows(rows: B * T), groups,
                           "\(arch), batch \(B): groups")
            let dlogits = keep.buffer(Bits.values(B * spec.classes, &rng))
            // Gates: 0 or 1 per hidden unit, about half open.
            let gates: GateMasks = vit.patternLayers.map { layer in
                UnsafePointer(keep.pointer((0..<(B * layer.unitsPerExample)).map { _ in Float(rng.next() % 2) }))
            }
            for gated in [false, true] {
                func gradients(grouped: Bool) -> [Float] {
                    vit.backwardGroupsEnabled = grouped
                    let g = keep.buffer(count: vit.parameterCount)
                    for i in 0..<vit.parameterCount { g[i] = .nan }
                    _ = vit.forward(parameters: parameters.pointer, input: input.pointer, batch: B, gates: gated ? gates : nil)
                    vit.backward(parameters: parameters.pointer, input: input.pointer, dlogits: dlogits.pointer, batch: B,
                                 gradients: g.pointer, gates: gated ? gates : nil)
                    return Array(UnsafeBufferPointer(start: g.pointer, count: vit.parameterCount))
                }
                let whole = gradients(grouped: false), grouped = gradients(grouped: true)
                XCTAssertFalse(whole.contains { !$0.isFinite }, "\(arch): a gradient not written")
                if let d = Bits.firstDifference(grouped, whole) {
                    let i = grouped.indices.first { grouped[$0].bitPattern != whole[$0].bitPattern }!
                    let group = vit.parameterGroups.first { $0.range.contains(i) }?.name ?? "?"
                    XCTFail("\(arch), batch \(B), \(gated ? "gated" : "ungated"): grouped vs whole batch, \(d) (in \(group))")
                }
            }
            vit.backwardGroupsEnabled = true
        }
    }
}
