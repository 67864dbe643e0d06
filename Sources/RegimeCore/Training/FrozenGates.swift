import Foundation

/// The frozen gates of a gated trial (docs/numerics.md, "Gated training"): the gate parameters
/// θ_g (the trained parameters right after the freeze step), a second network with its own
/// workspaces that computes their gates `1[z_l(θ_g; x) > 0]`, the probe set's gates (for
/// `gate_disagreement`) and, when they fit in the memory bound, every training example's gates.
///
/// **Cache.** The gates of the training examples never change after the freeze, so when a bit per
/// (example, unit) fits in `cacheLimitBytes` they are computed once, at the freeze, and a training
/// step only expands its batch's bits into masks instead of running the gate network's forward
/// pass. Per example: mlp:784-256-256-10 512 bits, 64 B (60,000 examples: 3.8 MB);
/// cnn:1x28x28-c16k3-p-c32k3-p-fc128-10 18,944 bits, 2368 B (10,000: 23.7 MB, 60,000: 142 MB);
/// vit:1x28x28-p7-d64-h4-l2-10 8,192 bits, 1024 B (60,000: 61 MB). Above the bound the gates are recomputed at
/// every step. Both give the same bits: an example's forward pass does not depend on the other
/// rows of its batch (every kernel's summation order depends only on the shapes per example), which
/// `GatedTrainingTests` checks by training with and without the cache.
public final class FrozenGates {
    /// The default bound on the training-set cache: 128 MiB per trial (one trial per rank).
    public static let defaultCacheLimitBytes = 128 << 20

    /// The iteration after whose optimizer step the gates froze (0: the initial parameters).
    let frozenAt: Int
    let parameters: FloatBuffer
    private let network: Network
    /// The probe set's gates: the patterns of θ_g on the probe.
    let probeGates: PatternSet
    /// The training split's gates, or nil when they do not fit in the bound.
    let trainingGates: PatternSet?
    /// Per pattern layer, `batchSize` rows of masks expanded from `trainingGates`.
    private let masks: [FloatBuffer]

    /// Bytes of the training-set cache: ceil(units / 64) words of 8 bytes per example and layer.
    public static func cacheBytes(unitsPerExample: [Int], examples: Int) -> Int {
        unitsPerExample.reduce(0) { $0 + ($1 + 63) / 64 * 8 } * examples
    }

    /// Freezes `parameters` (copied) as θ_g and computes the gates of `data`'s probe set and, within
    /// `cacheLimitBytes`, of its training split, in chunks of `chunk` rows.
    init(frozenAt: Int, parameters: FloatBuffer, architecture: Architecture, data: PreparedData, batchSize: Int,
         chunk: Int, cacheLimitBytes: Int) {
        self.frozenAt = frozenAt
        self.parameters = FloatBuffer(count: parameters.count)
        self.parameters.copy(from: parameters)
        network = architecture.makeNetwork()
        let units = network.patternLayers.map(\.unitsPerExample)
        probeGates = PatternSet(exampleCount: data.probe.count, unitsPerExample: units)
        let cached = Self.cacheBytes(unitsPerExample: units, examples: data.train.count) <= cacheLimitBytes
        trainingGates = cached ? PatternSet(exampleCount: data.train.count, unitsPerExample: units) : nil
        masks = cached ? units.map { FloatBuffer(count: batchSize * $0) } : []
        for (split, gates) in [(data.probe, probeGates), (data.train, trainingGates)] {
            guard let gates else { continue }
            split.forEachChunk(rows: chunk) { first, rows, input in
                _ = network.forward(parameters: self.parameters.pointer, input: input, batch: rows)
                network.recordPatterns(batch: rows, into: gates, firstExample: first)
            }
        }
    }

    /// Gate masks of a training batch: row j is training example `examples[j]`, whose features are
    /// row j of `input`. From the cache when there is one, else from the gate network (valid until
    /// its next forward pass).
    func trainingMasks(examples: [Int], input: UnsafePointer<Float>) -> GateMasks {
        guard let trainingGates else { return computeMasks(input: input, rows: examples.count) }
        for (layer, mask) in masks.enumerated() {
            let units = trainingGates.unitsPerExample[layer]
            for (row, example) in examples.enumerated() {
                trainingGates.expand(layer: layer, example: example, into: mask.pointer + row * units)
            }
        }
        return masks.map { UnsafePointer($0.pointer) }
    }

    /// Gate masks of `rows` examples computed by the gate network (valid until its next forward pass).
    func computeMasks(input: UnsafePointer<Float>, rows: Int) -> GateMasks {
        _ = network.forward(parameters: parameters.pointer, input: input, batch: rows)
        return network.ownGates
    }
}
