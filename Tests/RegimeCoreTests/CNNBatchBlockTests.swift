import Foundation
import XCTest
@testable import RegimeCore

/// The CNN runs its convolution and pooling layers on blocks of a few examples (`cnnSpatialBlockFloats`);
/// a batch of several blocks must give the gradient its examples give one at a time. The backward
/// pass is linear in d(loss)/d(logits), so the batch's gradient is the sum of the per-example ones
/// (up to float32 rounding: the sums run in another order).
final class CNNBatchBlockTests: XCTestCase {
    let keep = PinnedBuffers()

    func testGradientOfSeveralBlocksIsTheSumOfPerExampleGradients() throws {
        let architecture = try Architecture(parsing: "cnn:1x28x28-c16k3-p-c32k3-p-fc128-10")  // blocks of 5 examples
        let network = architecture.makeNetwork()
        var rng = Xoshiro256(seed: 41, stream: 1)
        let parameters = keep.buffer(count: network.parameterCount)
        network.initialize(parameters: parameters.pointer, rng: &rng)
        let B = 12, width = architecture.inputSize, classes = architecture.classCount
        let x = keep.pointer(EngineTestKit.normals(B * width, &rng))
        let dlogits = keep.pointer(EngineTestKit.normals(B * classes, &rng))
        let batch = keep.buffer(count: network.parameterCount)
        _ = network.forward(parameters: parameters.pointer, input: x, batch: B)
        network.backward(parameters: parameters.pointer, input: x, dlogits: dlogits, batch: B, gradients: batch.pointer)
        var sum = [Double](repeating: 0, count: network.parameterCount)
        let one = keep.buffer(count: network.parameterCount)
        for e in 0..<B {
            _ = network.forward(parameters: parameters.pointer, input: x + e * width, batch: 1)
            network.backward(parameters: parameters.pointer, input: x + e * width, dlogits: dlogits + e * classes, batch: 1,
                             gradients: one.pointer)
            for i in sum.indices { sum[i] += Double(one.pointer[i]) }
        }
        EngineTestKit.assertClose(batch.array, sum, relative: 1e-4, scale: .normwise, "batch of \(B) vs per-example sum")
    }
}
