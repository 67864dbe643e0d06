import Foundation
import XCTest
@testable import RegimeCore

/// The ViT against `Golden/vit_forward_backward.json` (`vit:1x8x8-p4-d8-h2-l2-3`: two blocks,
/// mean-pooling; `vit:2x6x6-p3-d6-h3-l1-cls-4`: class token, two channels, three heads) and
/// `Golden/vit_optimizers.json` (3 steps of SGD momentum + weight decay, Adam, AdamW + cosine, with
/// feed-forward pattern changes). Tolerances: see `ArchitectureGolden` in CNNGoldenTests.swift.
final class TransformerGoldenTests: XCTestCase {
    func testForwardBackwardMatchesReference() throws {
        let file = try EngineTestKit.loadGolden(ArchitectureGolden.ForwardBackwardFile.self, "vit_forward_backward.json")
        XCTAssertEqual(file.cases.map(\.arch), ["vit:1x8x8-p4-d8-h2-l2-3", "vit:2x6x6-p3-d6-h3-l1-cls-4"])
        for c in file.cases { try ArchitectureGolden.checkForwardBackward(c) }
    }

    func testOptimizerStepsAndInstrumentsMatchReference() throws {
        let golden = try EngineTestKit.loadGolden(ArchitectureGolden.Optimizers.self, "vit_optimizers.json")
        XCTAssertEqual(golden.cases.map(\.name), ["sgd_momentum_wd", "adam", "adamw_cosine"])
        try ArchitectureGolden.checkOptimizers(golden)
    }
}
