import XCTest
@testable import RegimeCore

/// The analytic FLOP counts that `regime bench` divides by, against the multiply-adds of the three
/// tracked architectures written out layer by layer (2 FLOPs per multiply-add), so that a count
/// that drifts from what the passes compute fails here. The probe pass (`forwardPatterns`) ends
/// at the last pattern layer: the MLP and the CNN leave out the classifier, the ViT its last
/// block's second feed-forward product and the head.
final class FlopCountingTests: XCTestCase {
    private func assertCounts(_ arch: String, forward: Double, backward: Double, probe: Double,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let network = try Architecture(parsing: arch).makeNetwork()
        guard let counts = network as? FlopCounting else { return XCTFail("\(arch) does not count FLOPs", file: file, line: line) }
        XCTAssertEqual(counts.flopsPerExampleForward, forward, "\(arch): forward", file: file, line: line)
        XCTAssertEqual(counts.flopsPerExampleBackward, backward, "\(arch): backward", file: file, line: line)
        XCTAssertEqual(counts.flopsPerExampleProbe, probe, "\(arch): probe", file: file, line: line)
        XCTAssertEqual(try Architecture(parsing: arch).flopsPerExampleProbe, probe, "\(arch): probe via Architecture",
                       file: file, line: line)
    }

    func testMLP() throws {
        let layers: [Double] = [784 * 256, 256 * 256, 256 * 10]
        try assertCounts("mlp:784-256-256-10", forward: 2 * layers.reduce(0, +),
                         // weight gradients of all three, input gradients of the last two
                         backward: 2 * layers.reduce(0, +) + 2 * (layers[1] + layers[2]),
                         probe: 2 * (layers[0] + layers[1]))
    }

    func testCNN() throws {
        let conv1: Double = 28 * 28 * 16 * (1 * 9)  // same padding: 28 x 28 positions, 16 channels, 3 x 3 x 1 taps
        let conv2: Double = 14 * 14 * 32 * (16 * 9)  // after the pool
        let fc1: Double = 7 * 7 * 32 * 128, fc2: Double = 128 * 10
        try assertCounts("cnn:1x28x28-c16k3-p-c32k3-p-fc128-10", forward: 2 * (conv1 + conv2 + fc1 + fc2),
                         // the first convolution needs no input gradient
                         backward: 2 * conv1 + 4 * (conv2 + fc1 + fc2), probe: 2 * (conv1 + conv2 + fc1))
    }

    func testViT() throws {
        let T: Double = 16, D: Double = 64, F: Double = 256  // 4 x 4 patches of 7 x 7, no class token
        let embed = T * 49 * D
        let qkv = T * D * 3 * D, o = T * D * D, f1 = T * D * F, f2 = T * F * D
        let attention = 2 * T * T * D  // S = Q K^T and P V over the 4 heads of 16
        let block = qkv + o + f1 + f2 + attention, head = D * 10
        try assertCounts("vit:1x28x28-p7-d64-h4-l2-10", forward: 2 * (embed + 2 * block + head),
                         backward: 2 * embed + 4 * (2 * block + head),
                         probe: 2 * (embed + 2 * block - f2))
    }
}
