import XCTest
@testable import RegimeCore

/// `Network.prepareFixedInput`: a probe pass of the prepared input (the MLP's packed A, the ViT's
/// patch rows) hands the tap the bits that the pass of the same input as Floats hands it, for
/// every pattern layer and example, with and without a tap (the ViT's groups then go to the
/// batch's rows). The CNN prepares nothing.
final class PreparedInputTests: XCTestCase {
    /// Every (layer, first, rows) delivery of a tapped `forwardPatterns`, as bit patterns.
    private func tapped(_ network: Network, _ pass: () -> Void) -> [String: [UInt32]] {
        var seen: [String: [UInt32]] = [:]
        network.preActivationTap = { layer, first, rows, z in
            let width = network.patternLayers[layer].unitsPerExample
            seen["\(layer):\(first):\(rows)"] = (0..<(rows * width)).map { z[$0].bitPattern }
        }
        pass()
        network.preActivationTap = nil
        return seen
    }

    private func assertSame(_ a: [String: [UInt32]], _ b: [String: [UInt32]], _ label: String) {
        XCTAssertEqual(Set(a.keys), Set(b.keys), "\(label): the deliveries differ")
        for key in a.keys.sorted() {
            guard let x = a[key], let y = b[key] else { continue }
            if let i = x.indices.first(where: { x[$0] != y[$0] }) {
                XCTFail("\(label), delivery \(key), value \(i): \(Float(bitPattern: x[i])) as Floats, "
                        + "\(Float(bitPattern: y[i])) prepared")
                return
            }
        }
    }

    func testPreparedPassesGiveTheBitsOfTheFloats() throws {
        for (arch, examples) in [("mlp:784-40-24-10", 50), ("vit:1x28x28-p7-d32-h2-l2-10", 29), ("vit:1x28x28-p4-d16-h2-l1-10", 13)] {
            let architecture = try Architecture(parsing: arch)
            let network = try architecture.makeNetwork()
            var rng = Xoshiro256(seed: 23)
            let parameters = FloatBuffer(count: network.parameterCount)
            network.initialize(parameters: parameters.pointer, rng: &rng)
            let input = FloatBuffer(count: examples * architecture.inputSize)
            for i in 0..<input.count { input.pointer[i] = Float(rng.nextNormal()) }
            let prepared = try XCTUnwrap(network.prepareFixedInput(input.pointer, batch: examples), "\(arch) prepares its input")
            XCTAssertEqual(prepared.examples, examples, arch)
            let floats = tapped(network) {
                network.forwardPatterns(parameters: parameters.pointer, input: input.pointer, batch: examples)
            }
            let fromPrepared = tapped(network) { network.forwardPatterns(parameters: parameters.pointer, prepared: prepared) }
            XCTAssertFalse(floats.isEmpty, arch)
            assertSame(floats, fromPrepared, arch)
            // Without a tap: the pattern sources hold the same bits.
            network.forwardPatterns(parameters: parameters.pointer, input: input.pointer, batch: examples)
            let sources = network.patternLayers.indices.map { l in
                (0..<(examples * network.patternLayers[l].unitsPerExample)).map { network.patternSource(layer: l)[$0].bitPattern }
            }
            network.forwardPatterns(parameters: parameters.pointer, prepared: prepared)
            for l in network.patternLayers.indices {
                let again = (0..<(examples * network.patternLayers[l].unitsPerExample)).map { network.patternSource(layer: l)[$0].bitPattern }
                if let i = again.indices.first(where: { again[$0] != sources[l][$0] }) {
                    XCTFail("\(arch), layer \(l) without a tap, value \(i): \(Float(bitPattern: sources[l][i])) as Floats, "
                            + "\(Float(bitPattern: again[i])) prepared")
                }
            }
        }
        let cnn = try Architecture(parsing: "cnn:1x28x28-c4k3-p-fc8-10").makeNetwork()
        let image = FloatBuffer(count: 2 * 784)
        XCTAssertNil(cnn.prepareFixedInput(image.pointer, batch: 2), "the CNN reads its input as it is")
    }
}
