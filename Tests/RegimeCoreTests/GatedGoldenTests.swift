import Foundation
import XCTest
@testable import RegimeCore

/// Gated training against the NumPy reference (`scripts/reference/make_gated_golden.py`):
/// `Golden/{mlp,cnn,vit}_gated.json`, four steps of SGD with momentum and weight decay and of Adam
/// on the tiny MLP, CNN and ViT, the gates frozen after step 2 (so steps 3 and 4 train the gated
/// network). Tolerances as for the other optimizer files (`ArchitectureGolden`): gradients and
/// parameters normwise 1e-4 x max|b|, loss 1e-5, weight updates 1e-4 relative, pattern and gate
/// disagreement counts exact (every gate, pattern bit and pooling winner is >= 1e-4 from a tie).
final class GatedGoldenTests: XCTestCase {
    func check(_ name: String, arch: String) throws {
        let golden = try EngineTestKit.loadGolden(ArchitectureGolden.Optimizers.self, name)
        let gated = try EngineTestKit.loadGolden(ArchitectureGolden.Gated.self, name)
        XCTAssertEqual(golden.arch, arch)
        XCTAssertEqual(golden.cases.map(\.name), ["sgd_momentum_wd", "adam"])
        XCTAssertEqual(gated.freezeAfter, 2)
        XCTAssertEqual(golden.numSteps, 4)
        try ArchitectureGolden.checkOptimizers(golden, gated: gated)
    }

    func testGatedMLPMatchesReference() throws { try check("mlp_gated.json", arch: "mlp:6-5-4-3") }

    func testGatedCNNMatchesReference() throws { try check("cnn_gated.json", arch: "cnn:2x6x6-c3k3-p-c4k3s2-fc5-3") }

    func testGatedTransformerMatchesReference() throws { try check("vit_gated.json", arch: "vit:1x6x6-p3-d4-h2-l1-3") }
}
