import Foundation
import XCTest
@testable import RegimeCore

/// Golden files of the CNN and ViT (`scripts/reference/reference_cnn_vit.py`, schemas in
/// docs/architectures.md) and the checks shared by `CNNGoldenTests` and `TransformerGoldenTests`.
///
/// Tolerances (a = engine, b = golden; the reference's float32 replay deviates by <= 1.1e-7 in params,
/// <= 2.1e-6 in gradients, <= 3.5e-7 in the loss, so these leave a margin of 50x or more):
/// - logits, grad, params: normwise `max|a-b| <= 1e-4 * max|b|`;
/// - loss: `|a-b| <= 1e-5 * max(1, |b|)`; lr: relative 1e-6;
/// - weight updates (global and per group): per entry `1e-4*|b| + 1e-9`;
/// - pattern bits and pattern difference counts: exact (every pattern pre-activation, and every CNN
///   pooling window's winning margin, is >= 1e-4 away from a tie at every state, while the float32
///   error is ~1e-6); change fractions 1e-12 absolute.
enum ArchitectureGolden {
    typealias Kit = EngineTestKit

    struct ForwardBackwardFile: Decodable { var cases: [ForwardBackward] }

    struct ForwardBackward: Decodable {
        var arch: String
        var batchSize: Int
        var parameterCount: Int
        var groups: [Group]
        var patternUnits: [Int]
        var x: [Double]
        var labels: [Int32]
        var params: [Double]
        var logits: [Double]
        var loss: Double
        var grad: [Double]
        var patternBits: [Int]
        enum CodingKeys: String, CodingKey {
            case arch, groups, x, labels, params, logits, loss, grad
            case batchSize = "batch_size", parameterCount = "parameter_count", patternUnits = "pattern_units"
            case patternBits = "pattern_bits"
        }
    }

    /// `[name, start, end]`.
    struct Group: Decodable {
        var name: String
        var range: Range<Int>
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            name = try c.decode(String.self)
            let start = try c.decode(Int.self), end = try c.decode(Int.self)
            range = start..<end
        }
    }

    struct Optimizers: Decodable {
        typealias Batch = EngineTestKit.GoldenBatch
        typealias Settings = EngineTestKit.GoldenOptimizerSettings
        typealias Step = EngineTestKit.GoldenStep
        typealias Case = EngineTestKit.GoldenCase
        var arch: String
        var batchSize: Int
        var numSteps: Int
        var probeSize: Int
        var groups: [Group]
        var patternUnits: [Int]
        var initParams: [Double]
        var batches: [Batch]
        var probeX: [Double]
        var cases: [Case]
        enum CodingKeys: String, CodingKey {
            case arch, batches, cases, groups
            case batchSize = "batch_size", numSteps = "num_steps", probeSize = "probe_size"
            case initParams = "init_params", probeX = "probe_x", patternUnits = "pattern_units"
        }
    }

    static func engineSettings(_ o: Optimizers.Settings) throws -> (OptimizerSpec, LearningRateSchedule) {
        try EngineTestKit.engineSettings(o)
    }

    /// Runs forward (and backward) through `network` with the loss, gated by `gates` when given;
    /// returns logits, loss, gradient.
    static func evaluate(_ network: Network, parameters: FloatBuffer, x: [Double], labels: [Int32], gates: GateMasks? = nil)
        -> (logits: [Float], loss: Double, grad: [Float])
    {
        let B = labels.count, K = network.architecture.classCount
        let input = FloatBuffer(x.map(Float.init))
        let dlogits = FloatBuffer(count: B * K)
        let gradients = FloatBuffer(count: network.parameterCount)
        gradients.buffer.update(repeating: .nan)  // backward must overwrite every entry
        let logitsPointer = network.forward(parameters: parameters.pointer, input: input.pointer, batch: B, gates: gates)
        let logits = Array(UnsafeBufferPointer(start: logitsPointer, count: B * K))
        let loss = labels.withUnsafeBufferPointer {
            softmaxCrossEntropy(logits: logitsPointer, labels: $0.baseAddress!, rows: B, classes: K, dlogits: dlogits.pointer)
        }
        network.backward(parameters: parameters.pointer, input: input.pointer, dlogits: dlogits.pointer, batch: B,
                         gradients: gradients.pointer, gates: gates)
        withExtendedLifetime((input, dlogits, parameters)) {}  // their raw pointers were in use until here
        return (logits, loss, gradients.array)
    }

    static func checkForwardBackward(_ golden: ForwardBackward, file: StaticString = #filePath, line: UInt = #line) throws {
        let name = golden.arch
        let architecture = try Architecture(parsing: golden.arch)
        XCTAssertEqual(architecture.description, golden.arch, "\(name): description round trip", file: file, line: line)
        let network = architecture.makeNetwork()
        XCTAssertEqual(network.parameterCount, golden.parameterCount, "\(name) parameter count", file: file, line: line)
        XCTAssertEqual(network.parameterGroups.map(\.name), golden.groups.map(\.name), "\(name) groups", file: file, line: line)
        XCTAssertEqual(network.parameterGroups.map(\.range), golden.groups.map(\.range), "\(name) group ranges", file: file, line: line)
        XCTAssertEqual(network.patternLayers.map(\.unitsPerExample), golden.patternUnits, "\(name) pattern units", file: file, line: line)
        let B = golden.batchSize
        let parameters = FloatBuffer(golden.params.map(Float.init))
        XCTAssertEqual(parameters.array.map(Double.init), golden.params, "golden inputs are float32-exact")

        // A smaller batch first, so the full batch exercises the workspace growth.
        let input = FloatBuffer(golden.x.map(Float.init))
        _ = network.forward(parameters: parameters.pointer, input: input.pointer, batch: 1)
        withExtendedLifetime(input) {}
        let result = evaluate(network, parameters: parameters, x: golden.x, labels: golden.labels)
        Kit.assertClose(result.logits, golden.logits, relative: 1e-4, scale: .normwise, "\(name) logits", file: file, line: line)
        XCTAssertEqual(result.loss, golden.loss, accuracy: 1e-5 * max(1, abs(golden.loss)), "\(name) loss", file: file, line: line)
        Kit.assertClose(result.grad, golden.grad, relative: 1e-4, scale: .normwise, "\(name) gradient", file: file, line: line)
        print("\(name): normwise deviation logits \(normwise(result.logits, golden.logits)), grad \(normwise(result.grad, golden.grad))")

        // Patterns of this batch, bit for bit, in the documented (example, unit) order.
        let patterns = PatternSet(exampleCount: B, unitsPerExample: network.patternLayers.map(\.unitsPerExample))
        network.recordPatterns(batch: B, into: patterns, firstExample: 0)
        var bits: [Int] = []
        for layer in network.patternLayers.indices {
            for e in 0..<B {
                for u in 0..<network.patternLayers[layer].unitsPerExample {
                    bits.append(patterns.bit(layer: layer, example: e, unit: u) ? 1 : 0)
                }
            }
        }
        // The reference lists layer by layer, each (example, unit) row-major.
        if bits != golden.patternBits {
            let first = zip(bits, golden.patternBits).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
            XCTFail("\(name) pattern bits differ: \(zip(bits, golden.patternBits).filter { $0 != $1 }.count) of \(bits.count), first at [\(first)]",
                    file: file, line: line)
        }

        // Each example's logits do not depend on the rest of the batch.
        let x1 = Array(golden.x[(golden.x.count / B)...])
        let rest = FloatBuffer(x1.map(Float.init))
        let logitsRest = network.forward(parameters: parameters.pointer, input: rest.pointer, batch: B - 1)
        let K = architecture.classCount
        Kit.assertClose(Array(UnsafeBufferPointer(start: logitsRest, count: (B - 1) * K)), Array(golden.logits[K...]),
                        relative: 1e-4, scale: .normwise, "\(name) logits of a sub-batch", file: file, line: line)
        withExtendedLifetime((rest, parameters)) {}
    }

    /// max|a - b| / max|b|.
    static func normwise(_ a: [Float], _ b: [Double]) -> Double {
        Kit.maxAbsDifference(a.map(Double.init), b) / max(b.map(abs).max() ?? 0, 1e-300)
    }

    /// The gated files' additions (scripts/reference/make_gated_golden.py): the gates freeze after
    /// step `freeze_after`; per step, the disagreement of θ_t's own probe patterns with θ_g's (null
    /// before the freeze).
    struct Gated: Decodable {
        struct Step: Decodable {
            var gateDisagreement: Double?
            var gateDisagreementLayers: [Double]?
            var gateDisagreementCounts: [Int]?
            enum CodingKeys: String, CodingKey {
                case gateDisagreement = "gate_disagreement", gateDisagreementLayers = "gate_disagreement_layers"
                case gateDisagreementCounts = "gate_disagreement_counts"
            }
        }
        struct Case: Decodable { var steps: [Step] }
        var freezeAfter: Int
        var cases: [Case]
        enum CodingKeys: String, CodingKey { case freezeAfter = "freeze_after", cases }
    }

    /// Replays the optimizer trajectories; with `gated`, steps after `freezeAfter` run the gated
    /// network (gates of θ_g on each batch, from a second network) and the gate disagreement is
    /// checked exactly (counts) and to 1e-12 (fractions).
    static func checkOptimizers(_ golden: Optimizers, gated: Gated? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        var worstParams = 0.0
        for (caseIndex, goldenCase) in golden.cases.enumerated() {
            let name = "\(golden.arch) \(goldenCase.name)"
            let (spec, schedule) = try engineSettings(goldenCase.optimizer)
            let T = goldenCase.optimizer.totalIterations
            let network = try Architecture(parsing: golden.arch).makeNetwork()
            XCTAssertEqual(network.parameterGroups.map(\.range), golden.groups.map(\.range), name, file: file, line: line)
            let units = network.patternLayers.map(\.unitsPerExample)
            XCTAssertEqual(units, golden.patternUnits, name, file: file, line: line)
            let B = golden.batchSize, P = golden.probeSize
            let parameters = FloatBuffer(golden.initParams.map(Float.init))
            let previous = FloatBuffer(count: network.parameterCount)
            let optimizer = Optimizer(spec: spec, parameterCount: network.parameterCount)
            let probe = FloatBuffer(golden.probeX.map(Float.init))
            func measurePatterns() -> PatternSet {
                let patterns = PatternSet(exampleCount: P, unitsPerExample: units)
                _ = network.forward(parameters: parameters.pointer, input: probe.pointer, batch: P)
                network.recordPatterns(batch: P, into: patterns, firstExample: 0)
                return patterns
            }
            let initialPatterns = measurePatterns()
            var previousPatterns = initialPatterns
            var gates: (network: Network, parameters: FloatBuffer, probe: PatternSet)?
            for step in goldenCase.steps {
                let label = "\(name) step \(step.t)"
                let batch = golden.batches[step.t - 1]
                XCTAssertEqual(batch.labels.count, B)
                let lr = schedule.rate(step: step.t, totalSteps: T, baseRate: spec.lr)
                XCTAssertEqual(lr, step.lr, accuracy: 1e-6 * abs(step.lr), "\(label) lr", file: file, line: line)
                var masks: GateMasks?
                if let gates {
                    let input = FloatBuffer(batch.x.map(Float.init))
                    _ = gates.network.forward(parameters: gates.parameters.pointer, input: input.pointer, batch: B)
                    masks = gates.network.ownGates
                }
                let result = evaluate(network, parameters: parameters, x: batch.x, labels: batch.labels, gates: masks)
                XCTAssertEqual(result.loss, step.loss, accuracy: 1e-5 * max(1, abs(step.loss)), "\(label) loss", file: file, line: line)
                Kit.assertClose(result.grad, step.grad, relative: 1e-4, scale: .normwise, "\(label) grad", file: file, line: line)
                let gradients = FloatBuffer(result.grad)
                previous.copy(from: parameters)
                optimizer.update(parameters: parameters.pointer, gradients: gradients.pointer, lr: lr)
                withExtendedLifetime(gradients) {}
                Kit.assertClose(parameters.array, step.params, relative: 1e-4, scale: .normwise, "\(label) params", file: file, line: line)
                let update = WeightUpdate(new: parameters.pointer, old: previous.pointer, groups: network.parameterGroups)
                Kit.assertClose([update.abs, update.rel] + update.layerAbs + update.layerRel,
                                [step.weightUpdateAbs, step.weightUpdateRel] + step.weightUpdateAbsLayers + step.weightUpdateRelLayers,
                                relative: 1e-4, absolute: 1e-9, "\(label) weight updates (global, per group abs, per group rel)",
                                file: file, line: line)
                let patterns = measurePatterns()
                let counts = units.indices.map { patterns.differingPairs(layer: $0, from: previousPatterns) }
                let countsInit = units.indices.map { patterns.differingPairs(layer: $0, from: initialPatterns) }
                XCTAssertEqual(counts, step.patternDiffCounts, "\(label) pattern diff counts", file: file, line: line)
                XCTAssertEqual(countsInit, step.patternDiffCountsInit, "\(label) pattern diff counts vs init", file: file, line: line)
                let change = patterns.changeFractions(from: previousPatterns)
                let changeInit = patterns.changeFractions(from: initialPatterns)
                Kit.assertClose([change.global] + change.perLayer, [step.patternChange] + step.patternChangeLayers,
                                relative: 0, absolute: 1e-12, "\(label) pattern change", file: file, line: line)
                Kit.assertClose([changeInit.global] + changeInit.perLayer, [step.patternChangeInit] + step.patternChangeInitLayers,
                                relative: 0, absolute: 1e-12, "\(label) pattern change vs init", file: file, line: line)
                if let gated {
                    if step.t == gated.freezeAfter {
                        gates = (try Architecture(parsing: golden.arch).makeNetwork(), FloatBuffer(parameters.array), patterns)
                    }
                    let expected = gated.cases[caseIndex].steps[step.t - 1]
                    if let gates {
                        let counts = units.indices.map { patterns.differingPairs(layer: $0, from: gates.probe) }
                        XCTAssertEqual(counts, expected.gateDisagreementCounts, "\(label) gate disagreement counts", file: file, line: line)
                        let fractions = patterns.changeFractions(from: gates.probe)
                        Kit.assertClose([fractions.global] + fractions.perLayer,
                                        [expected.gateDisagreement ?? .nan] + (expected.gateDisagreementLayers ?? []),
                                        relative: 0, absolute: 1e-12, "\(label) gate disagreement", file: file, line: line)
                    } else {
                        XCTAssertNil(expected.gateDisagreementCounts, "\(label): no gates before the freeze", file: file, line: line)
                    }
                }
                previousPatterns = patterns
                withExtendedLifetime((probe, previous)) {}
                worstParams = max(worstParams, normwise(parameters.array, step.params))
            }
        }
        print("\(golden.arch): largest normwise parameter deviation over all steps \(worstParams)")
    }
}

/// The CNN against `Golden/cnn_forward_backward.json` (two architectures covering 3x3 and 5x5
/// kernels, stride 1 and 2, same and valid padding, pooling of odd and even maps, two input
/// channels, with and without hidden fully-connected layers) and `Golden/cnn_optimizers.json`
/// (SGD momentum + weight decay, Adam, AdamW + cosine: 3 steps each, with pattern changes).
final class CNNGoldenTests: XCTestCase {
    func testForwardBackwardMatchesReference() throws {
        let file = try EngineTestKit.loadGolden(ArchitectureGolden.ForwardBackwardFile.self, "cnn_forward_backward.json")
        XCTAssertEqual(file.cases.count, 2)
        for c in file.cases { try ArchitectureGolden.checkForwardBackward(c) }
    }

    func testOptimizerStepsAndInstrumentsMatchReference() throws {
        let golden = try EngineTestKit.loadGolden(ArchitectureGolden.Optimizers.self, "cnn_optimizers.json")
        XCTAssertEqual(golden.cases.map(\.name), ["sgd_momentum_wd", "adam", "adamw_cosine"])
        try ArchitectureGolden.checkOptimizers(golden)
    }
}
