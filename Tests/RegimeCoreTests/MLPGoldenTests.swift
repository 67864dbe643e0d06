import Foundation
import XCTest
@testable import RegimeCore

/// The MLP, the loss, the optimizers, the schedules and the instruments against the independent
/// float64 NumPy reference (`scripts/reference/`, schemas in its README):
/// `Golden/mlp_forward_backward.json` and `Golden/mlp_optimizers.json`.
///
/// Tolerances are the README's (a = engine, b = golden), with their reasons:
/// - logits, grad, params: normwise `max|a-b| <= 1e-4 * max|b|` (float32; the NumPy float32 replay
///   deviates by <= 1e-6; compared normwise because small components carry the error of large ones);
/// - loss: `|a-b| <= 1e-5 * max(1, |b|)`;
/// - lr: relative 1e-6;
/// - weight updates (global and per layer, abs and rel): per entry `1e-4*|b| + 1e-9`, so that the
///   exact zeros of `sgd_plain_large_lr` (dead hidden layers) must come out as ~0;
/// - pattern difference counts: exact (every probe pre-activation is >= 1.16e-3 from 0, the float32
///   error in Z is ~1e-6); the fractions: 1e-12 absolute.
final class MLPGoldenTests: XCTestCase {
    typealias Kit = EngineTestKit

    struct ForwardBackward: Decodable {
        var arch: String
        var sizes: [Int]
        var batchSize: Int
        var x: [Double]
        var labels: [Int32]
        var params: [Double]
        var logits: [Double]
        var loss: Double
        var grad: [Double]
        enum CodingKeys: String, CodingKey {
            case arch, sizes, x, labels, params, logits, loss, grad
            case batchSize = "batch_size"
        }
    }

    struct Optimizers: Decodable {
        typealias Batch = EngineTestKit.GoldenBatch
        typealias OptimizerSettings = EngineTestKit.GoldenOptimizerSettings
        typealias Step = EngineTestKit.GoldenStep
        typealias Case = EngineTestKit.GoldenCase
        var arch: String
        var sizes: [Int]
        var batchSize: Int
        var numSteps: Int
        var probeSize: Int
        var initParams: [Double]
        var batches: [Batch]
        var probeX: [Double]
        var cases: [Case]
        enum CodingKeys: String, CodingKey {
            case arch, sizes, batches, cases
            case batchSize = "batch_size", numSteps = "num_steps", probeSize = "probe_size"
            case initParams = "init_params", probeX = "probe_x"
        }
    }

    // MARK: Forward and backward

    func testForwardAndBackwardMatchReference() throws {
        let golden = try Kit.loadGolden(ForwardBackward.self, "mlp_forward_backward.json")
        let architecture = try Architecture(parsing: golden.arch)
        XCTAssertEqual(architecture, .mlp(widths: golden.sizes))
        let mlp = MLP(widths: golden.sizes)
        XCTAssertEqual(mlp.parameterCount, golden.params.count)
        XCTAssertEqual(mlp.parameterGroups.map(\.range), [0..<35, 35..<59, 59..<74], "W_l,b_l block layout of mlp:6-5-4-3")
        let B = golden.batchSize, K = golden.sizes.last!

        let parameters = FloatBuffer(golden.params.map(Float.init))
        let input = FloatBuffer(golden.x.map(Float.init))
        // Golden inputs are exactly representable in float32, so the engine starts from the same numbers.
        XCTAssertEqual(parameters.array.map(Double.init), golden.params)
        XCTAssertEqual(input.array.map(Double.init), golden.x)

        let dlogits = FloatBuffer(count: B * K)
        let gradients = FloatBuffer(count: mlp.parameterCount)
        gradients.buffer.update(repeating: .nan)  // backward must overwrite, not accumulate
        let logitsPointer = mlp.forward(parameters: parameters.pointer, input: input.pointer, batch: B)
        let logits = Array(UnsafeBufferPointer(start: logitsPointer, count: B * K))
        let loss = golden.labels.withUnsafeBufferPointer {
            softmaxCrossEntropy(logits: logitsPointer, labels: $0.baseAddress!, rows: B, classes: K, dlogits: dlogits.pointer)
        }
        mlp.backward(parameters: parameters.pointer, input: input.pointer, dlogits: dlogits.pointer, batch: B,
                     gradients: gradients.pointer)

        Kit.assertClose(logits, golden.logits, relative: 1e-4, scale: .normwise, "logits")
        XCTAssertEqual(loss, golden.loss, accuracy: 1e-5 * max(1, abs(golden.loss)), "loss")
        Kit.assertClose(gradients.array, golden.grad, relative: 1e-4, scale: .normwise, "gradient")

        // The loss without a gradient buffer is the same number.
        let lossOnly = golden.labels.withUnsafeBufferPointer {
            softmaxCrossEntropy(logits: logitsPointer, labels: $0.baseAddress!, rows: B, classes: K, dlogits: nil)
        }
        XCTAssertEqual(lossOnly, loss)
    }

    // MARK: Optimizer trajectories

    static func engineSettings(_ o: Optimizers.OptimizerSettings) throws -> (OptimizerSpec, LearningRateSchedule) {
        try EngineTestKit.engineSettings(o)
    }

    func testEveryOptimizerCaseMatchesReferenceStepByStep() throws {
        let golden = try Kit.loadGolden(Optimizers.self, "mlp_optimizers.json")
        XCTAssertEqual(golden.cases.map(\.name), ["sgd_plain", "sgd_momentum_wd", "sgd_nesterov", "adam_wd", "adamw",
                                                  "sgd_plain_large_lr", "sgd_momentum_cosine_warmup", "adam_step"])
        XCTAssertEqual(golden.batches.count, golden.numSteps)
        for goldenCase in golden.cases {
            try checkCase(goldenCase, golden)
        }
    }

    func checkCase(_ goldenCase: Optimizers.Case, _ golden: Optimizers) throws {
        let name = goldenCase.name
        let (spec, schedule) = try Self.engineSettings(goldenCase.optimizer)
        let T = goldenCase.optimizer.totalIterations
        XCTAssertEqual(goldenCase.steps.map(\.t), Array(1...golden.numSteps), name)

        let mlp = MLP(widths: golden.sizes)
        let B = golden.batchSize, K = golden.sizes.last!, P = golden.probeSize
        let hiddenWidths = Array(golden.sizes.dropFirst().dropLast())
        XCTAssertEqual(mlp.patternLayers.map(\.unitsPerExample), hiddenWidths, name)

        let parameters = FloatBuffer(golden.initParams.map(Float.init))
        let previous = FloatBuffer(count: mlp.parameterCount)
        let gradients = FloatBuffer(count: mlp.parameterCount)
        let dlogits = FloatBuffer(count: B * K)
        let probe = FloatBuffer(golden.probeX.map(Float.init))
        let optimizer = Optimizer(spec: spec, parameterCount: mlp.parameterCount)

        func measurePatterns() -> PatternSet {
            let patterns = PatternSet(exampleCount: P, unitsPerExample: hiddenWidths)
            _ = mlp.forward(parameters: parameters.pointer, input: probe.pointer, batch: P)
            mlp.recordPatterns(batch: P, into: patterns, firstExample: 0)
            return patterns
        }
        let initialPatterns = measurePatterns()
        var previousPatterns = initialPatterns

        for step in goldenCase.steps {
            let t = step.t
            let label = "\(name) step \(t)"
            let batch = golden.batches[t - 1]
            let input = FloatBuffer(batch.x.map(Float.init))

            let lr = schedule.rate(step: t, totalSteps: T, baseRate: spec.lr)
            XCTAssertEqual(lr, step.lr, accuracy: 1e-6 * abs(step.lr), "\(label) lr")

            let logits = mlp.forward(parameters: parameters.pointer, input: input.pointer, batch: B)
            let loss = batch.labels.withUnsafeBufferPointer {
                softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: B, classes: K, dlogits: dlogits.pointer)
            }
            XCTAssertEqual(loss, step.loss, accuracy: 1e-5 * max(1, abs(step.loss)), "\(label) loss (before the update)")
            mlp.backward(parameters: parameters.pointer, input: input.pointer, dlogits: dlogits.pointer, batch: B,
                         gradients: gradients.pointer)
            Kit.assertClose(gradients.array, step.grad, relative: 1e-4, scale: .normwise, "\(label) grad")

            previous.copy(from: parameters)
            optimizer.update(parameters: parameters.pointer, gradients: gradients.pointer, lr: lr)
            XCTAssertEqual(optimizer.step, t, label)
            Kit.assertClose(parameters.array, step.params, relative: 1e-4, scale: .normwise, "\(label) params")

            let update = WeightUpdate(new: parameters.pointer, old: previous.pointer, groups: mlp.parameterGroups)
            Kit.assertClose([update.abs, update.rel], [step.weightUpdateAbs, step.weightUpdateRel],
                            relative: 1e-4, absolute: 1e-9, "\(label) weight update abs, rel")
            Kit.assertClose(update.layerAbs, step.weightUpdateAbsLayers, relative: 1e-4, absolute: 1e-9,
                            "\(label) weight update abs per layer")
            Kit.assertClose(update.layerRel, step.weightUpdateRelLayers, relative: 1e-4, absolute: 1e-9,
                            "\(label) weight update rel per layer")

            let patterns = measurePatterns()
            let counts = hiddenWidths.indices.map { patterns.differingPairs(layer: $0, from: previousPatterns) }
            let countsInit = hiddenWidths.indices.map { patterns.differingPairs(layer: $0, from: initialPatterns) }
            XCTAssertEqual(counts, step.patternDiffCounts, "\(label) pattern diff counts vs previous step")
            XCTAssertEqual(countsInit, step.patternDiffCountsInit, "\(label) pattern diff counts vs init")
            let change = patterns.changeFractions(from: previousPatterns)
            let changeInit = patterns.changeFractions(from: initialPatterns)
            Kit.assertClose([change.global] + change.perLayer, [step.patternChange] + step.patternChangeLayers,
                            relative: 0, absolute: 1e-12, "\(label) pattern change (global, per layer)")
            Kit.assertClose([changeInit.global] + changeInit.perLayer, [step.patternChangeInit] + step.patternChangeInitLayers,
                            relative: 0, absolute: 1e-12, "\(label) pattern change vs init (global, per layer)")
            previousPatterns = patterns
        }
    }

    /// The `sgd_plain_large_lr` case kills every hidden unit on the training batches from step 4 on:
    /// the engine must give exactly zero updates for layers 1 and 2 there (the ReLU mask zeroes
    /// every term), not merely small ones.
    func testDeadHiddenLayersGiveExactlyZeroUpdates() throws {
        let golden = try Kit.loadGolden(Optimizers.self, "mlp_optimizers.json")
        let goldenCase = try XCTUnwrap(golden.cases.first { $0.name == "sgd_plain_large_lr" })
        let (spec, schedule) = try Self.engineSettings(goldenCase.optimizer)
        let mlp = MLP(widths: golden.sizes)
        let B = golden.batchSize, K = golden.sizes.last!
        let parameters = FloatBuffer(golden.initParams.map(Float.init))
        let previous = FloatBuffer(count: mlp.parameterCount)
        let gradients = FloatBuffer(count: mlp.parameterCount)
        let dlogits = FloatBuffer(count: B * K)
        let optimizer = Optimizer(spec: spec, parameterCount: mlp.parameterCount)
        for t in 1...golden.numSteps {
            let input = FloatBuffer(golden.batches[t - 1].x.map(Float.init))
            let logits = mlp.forward(parameters: parameters.pointer, input: input.pointer, batch: B)
            _ = golden.batches[t - 1].labels.withUnsafeBufferPointer {
                softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: B, classes: K, dlogits: dlogits.pointer)
            }
            mlp.backward(parameters: parameters.pointer, input: input.pointer, dlogits: dlogits.pointer, batch: B,
                         gradients: gradients.pointer)
            previous.copy(from: parameters)
            optimizer.update(parameters: parameters.pointer, gradients: gradients.pointer,
                             lr: schedule.rate(step: t, totalSteps: golden.numSteps, baseRate: spec.lr))
            let update = WeightUpdate(new: parameters.pointer, old: previous.pointer, groups: mlp.parameterGroups)
            if t >= 4 {
                XCTAssertEqual(Array(update.layerAbs.prefix(2)), [0, 0], "step \(t): layers 1 and 2 are dead")
                XCTAssertEqual(Array(update.layerRel.prefix(2)), [0, 0], "step \(t)")
                XCTAssertGreaterThan(update.layerAbs[2], 0, "step \(t): the output bias still learns")
            }
        }
    }
}
