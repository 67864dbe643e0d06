import Foundation
import XCTest
@testable import RegimeCore

/// `KernelClock` counts what the kernels did, and only that: the FLOPs of calls whose shapes are
/// known, a nested call once, nothing while it is off, no time spent outside a kernel; and in the
/// real training loop, the FLOPs `FlopCounting` counts (less the attention products, which are
/// not kernels), so that the kernels' rate `regime bench` prints is over the work they did.
final class KernelClockTests: XCTestCase {
    private func buffer(_ count: Int, seed: UInt64) -> [Float] {
        var rng = Xoshiro256(seed: seed, stream: 1)
        return (0..<count).map { _ in Float(rng.nextNormal()) }
    }

    func testGEMMCallsAreCountedWithTheirFLOPsAndOnlyWhileMeasuring() {
        let (m, n, k) = (37, 45, 29)
        let a = buffer(m * k, seed: 1), b = buffer(k * n, seed: 2)
        var c = [Float](repeating: 0, count: m * n)
        func multiply() {
            sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: &c, ldc: n)
        }
        multiply()  // off: nothing is kept for the next measurement
        XCTAssertEqual(KernelClock.measure {}, KernelClock.Reading())

        let bias = buffer(n, seed: 7)
        let packed = GEMMPackedB(k: k, n: n)
        b.withUnsafeBufferPointer { packed.pack(transB: false, b: $0.baseAddress!, ldb: n) }
        let start = Clocks.monotonic()
        let reading = bias.withUnsafeBufferPointer { bias in
            KernelClock.measure {
                multiply()
                sgemm(m: m, a: a, lda: k, packedB: packed, alpha: 1, beta: 0, c: &c, ldc: n)
                sgemmWithEpilogue(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n,
                                  epilogue: .bias(bias.baseAddress!, relu: true))
            }
        }
        let elapsed = Clocks.monotonic() - start
        XCTAssertEqual(reading.calls, 3)
        XCTAssertEqual(reading.flops, 3 * 2 * Double(m * n * k))
        XCTAssert(reading.seconds > 0 && reading.seconds <= elapsed, "kernel time \(reading.seconds) s of \(elapsed) s")

        // The same calls listed, with their shapes; a transposed A says so.
        let listed = KernelClock.measureCalls {
            multiply()
            sgemm(transA: true, m: k, a: a, lda: k, packedB: GEMMPackedB(k: m, n: 8), alpha: 1, beta: 0, c: &c, ldc: 8)
        }
        XCTAssertEqual(listed.calls.map(\.shape), [KernelClock.Shape(kind: .gemm, m: m, n: n, k: k),
                                                  KernelClock.Shape(kind: .gemmPacked, m: k, n: 8, k: m, transA: true)])
        XCTAssertEqual(listed.calls.map(\.shape.description), ["gemm 37x45x29", "gemm packed 29x8x37 A^T"])
        XCTAssertEqual(listed.calls.map(\.flops), [2 * Double(m * n * k), 2 * Double(k * 8 * m)])
        XCTAssertEqual(listed.calls.map(\.seconds).reduce(0, +), listed.reading.seconds, accuracy: 1e-12)
        XCTAssertEqual(KernelClock.measureCalls {}.calls, [], "a listing starts empty")
    }

    /// Time between kernel calls is not kernel time: 20 ms of other work between two GEMMs.
    func testTimeOutsideTheKernelsIsNotCounted() {
        let n = 64
        let a = buffer(n * n, seed: 3)
        var c = [Float](repeating: 0, count: n * n)
        let start = Clocks.monotonic()
        let reading = KernelClock.measure {
            sgemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: a, ldb: n, beta: 0, c: &c, ldc: n)
            let until = Clocks.monotonic() + 0.02
            while Clocks.monotonic() < until {}
            sgemm(transA: false, transB: true, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: a, ldb: n, beta: 0, c: &c, ldc: n)
        }
        let elapsed = Clocks.monotonic() - start
        XCTAssertEqual(reading.calls, 2)
        XCTAssert(reading.seconds <= elapsed - 0.02, "kernel time \(reading.seconds) s; the body took \(elapsed) s, 0.02 s of it outside")
    }

    /// A convolution on the im2col path runs `sgemm` inside: one call, the convolution's FLOPs
    /// (weight and input gradients).
    func testAKernelInsideAnotherCountsOnce() {
        let g = ConvGeometry(inChannels: 4, inHeight: 9, inWidth: 9, outChannels: 5, kernel: 3, stride: 2, pad: 1)
        let B = 4
        XCTAssertFalse(g.usesDirect || g.implicitInputGradientApplies || g.implicitWeightGradientApplies,
                       "the test wants the im2col path (GEMMs inside)")
        let input = buffer(B * g.inputSize, seed: 4), weights = buffer(g.weightCount, seed: 5)
        let dout = buffer(B * g.outputSize, seed: 6)
        var dweights = [Float](repeating: 0, count: g.weightCount), dbias = [Float](repeating: 0, count: g.outChannels)
        var dinput = [Float](repeating: 0, count: B * g.inputSize)
        let cols = FloatBuffer(count: g.scratchCount(chunk: g.chunkExamples(batch: B)) + B * g.positions * g.patchSize)
        let dcols = FloatBuffer(count: B * g.positions * g.patchSize)
        let reading = KernelClock.measure {
            conv2dBackward(doutput: dout, input: input, weights: weights, dweights: &dweights, dbias: &dbias, dinput: &dinput,
                           batch: B, geometry: g, cols: cols.pointer, dcols: dcols.pointer)
        }
        XCTAssertEqual(reading.calls, 1)
        XCTAssertEqual(reading.flops, 2 * Double(B) * g.flopsPerExample)
        let listed = KernelClock.measureCalls {
            conv2dBackward(doutput: dout, input: input, weights: weights, dweights: &dweights, dbias: &dbias, dinput: nil,
                           batch: B, geometry: g, cols: cols.pointer, dcols: dcols.pointer)
        }
        XCTAssertEqual(listed.calls.map(\.shape), [KernelClock.Shape(kind: .convBackward, m: B, n: 5, k: 36, positions: 25)])
        XCTAssertEqual(listed.calls.map(\.shape.description), ["conv backward 4 ex x 5 ch x 36 taps x 25 pos"])
        XCTAssertEqual(listed.calls.map(\.flops), [Double(B) * g.flopsPerExample], "no input gradient: one product")
    }

    /// One untracked and one patterns-only tracked step of each bench architecture (small batch and
    /// probe): the kernels did exactly the counted FLOPs, batch x (forward + backward), plus probe x
    /// the probe pass's when tracked; the ViT's attention products (counted, not kernels) aside, and
    /// the CNN's first convolution once more when its backward pass recomputes it.
    func testTheKernelsOfATrainingStepDoTheCountedFLOPs() throws {
        let (batch, probe) = (8, 24)
        for arch in ["mlp:784-256-256-10", "cnn:1x28x28-c16k3-p-c32k3-p-fc128-10", "vit:1x28x28-p7-d64-h4-l2-10"] {
            let architecture = try Architecture(parsing: arch)
            let data = CNNViTTrainingTests.syntheticData(architecture, train: 4 * batch, probe: probe, validation: 8, seed: 11)
            func trainer(tracked: Bool) throws -> Trainer {
                var spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: "fashion-mnist", probeSubset: probe),
                                     optimizer: OptimizerSpec(kind: .sgd, lr: 1e-3, momentum: 0.9), batchSize: batch,
                                     iterations: 100, seed: 1, recordEvery: tracked ? 1 : 100, evalEvery: 100)
                spec.nullModel = NullModelSpec(points: 0)  // its passes at perturbed weights are kernel work too
                let trainer = try Trainer(spec: spec, data: data)
                trainer.measuresGeometry = false
                return trainer
            }
            let network = architecture.makeNetwork()
            let counts = try XCTUnwrap(network as? FlopCounting)
            var notKernels = 0.0, probeNotKernels = 0.0, recomputed = 0.0
            switch network {
            case let vit as VisionTransformer:
                let attention = Double(vit.spec.depth) * attentionFlopsPerExample(vit.attention)
                notKernels = 3 * attention  // forward, and the backward's two products per forward one
                probeNotKernels = attention
            case let cnn as CNN:
                // The trainer's CNN recomputes its first convolution in the backward pass
                // (`recomputesFirstConvolution`): done by a kernel, not counted.
                XCTAssertEqual((try trainer(tracked: false).network as? CNN)?.recomputesFirstConvolution, true)
                guard case .conv(let g, _, _) = cnn.ops[0] else { return XCTFail("\(arch): the first op is not a convolution") }
                recomputed = g.flopsPerExample
            default: break
            }
            let training = Double(batch) * (counts.flopsPerExampleForward + counts.flopsPerExampleBackward - notKernels + recomputed)
            let probePass = Double(probe) * (counts.flopsPerExampleProbe - probeNotKernels)
            for tracked in [false, true] {
                let t = try trainer(tracked: tracked)
                try t.step()
                let reading = try KernelClock.measure { try t.step() }
                let expected = training + (tracked ? probePass : 0)
                XCTAssertEqual(reading.flops, expected, accuracy: 1e-9 * expected,
                               "\(arch) \(tracked ? "tracked" : "untracked"): kernel FLOPs \(reading.flops), counted \(expected)")
                XCTAssert(reading.calls > 0 && reading.seconds > 0, "\(arch): \(reading)")
            }
        }
    }
}
