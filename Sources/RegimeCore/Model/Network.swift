/// A contiguous range of the parameter block that belongs to one layer (its weights and biases).
/// Per-layer weight-update norms are taken over these ranges.
public struct ParameterGroup: Hashable, Sendable {
    public var name: String
    public var range: Range<Int>
}

/// A layer whose ReLU units define part of the activation pattern.
public struct PatternLayer: Hashable, Sendable {
    public var name: String
    /// Units per example whose on/off state is recorded (for a CNN: channels x positions).
    public var unitsPerExample: Int
}

/// Gate masks of a gated forward/backward pass: one pointer per pattern layer, to `batch` rows of
/// that layer's `unitsPerExample` values; a unit is open where its value is > 0. A plain forward
/// pass's `patternSource(layer:)` values are exactly such masks (the bits of its own patterns).
public typealias GateMasks = [UnsafePointer<Float>]

/// Observer of a plain forward pass's pre-activations (the stability margins,
/// docs/numerics.md): called with pattern layer `layer`'s pre-activations z of examples
/// `first ..< first + rows` of the pass (rows of `unitsPerExample` values) before the ReLU is
/// applied, every example of every pattern layer exactly once per pass.
public typealias PreActivationTap = (_ layer: Int, _ first: Int, _ rows: Int, _ z: UnsafePointer<Float>) -> Void

/// A fixed input of probe passes in the form a network's first product reads it, prepared once
/// (`Network.prepareFixedInput`): the probe set is the same at every recorded iteration.
public protocol PreparedInput: AnyObject {
    /// The examples it holds.
    var examples: Int { get }
}

/// A trainable network: llm.c-style forward/backward over flat buffers.
///
/// All parameters live in one contiguous block and all gradients in another with the same layout;
/// the network owns only its activation workspaces, sized for the largest batch seen.
///
/// Gated passes (docs/numerics.md, "Gated training"): with `gates`, every ReLU `h = relu(z)` of a
/// pattern layer becomes `h = z * gate` (z where the gate is open, else 0) and its backward mask
/// is the gate instead of `z > 0`; everything else is unchanged. Gates equal to the network's own
/// patterns give exactly the plain pass.
public protocol Network: AnyObject {
    var architecture: Architecture { get }
    var parameterCount: Int { get }
    var parameterGroups: [ParameterGroup] { get }
    var patternLayers: [PatternLayer] { get }

    /// Fills the parameter block with the initial values drawn from `rng`.
    func initialize(parameters: UnsafeMutablePointer<Float>, rng: inout Xoshiro256)

    /// Forward pass over `batch` examples (rows of `architecture.inputSize` features), ReLU or gated
    /// by `gates`; keeps what `backward` needs. Returns the logits (batch x classes), valid until
    /// the next call.
    func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch: Int,
                 gates: GateMasks?) -> UnsafePointer<Float>

    /// Backward pass for the last `forward` call (with the same `gates`): from d(loss)/d(logits) to
    /// the gradient block (overwritten, not accumulated).
    func backward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, dlogits: UnsafePointer<Float>,
                  batch: Int, gradients: UnsafeMutablePointer<Float>, gates: GateMasks?)

    /// The plain (ungated) forward pass up to the last pattern layer: afterwards `patternSource(layer:)`
    /// holds exactly the values a plain `forward` gives (the same operations in the same order), but
    /// what lies past the last pattern layer (the classifier; for a transformer also the last
    /// block's second feed-forward matrix, the final LayerNorm and the pooling) is not computed.
    /// The probe pass of the instruments needs only the patterns. Not followed by `backward`.
    func forwardPatterns(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch: Int)

    /// A fixed input of probe passes (`batch` rows), prepared once in the form the network's first
    /// product reads: the MLP packs it in its first GEMM's layout (`GEMMPackedA`), the ViT cuts the
    /// images into patch rows (`ViTPatches`); nil (the default) for networks that read `input` as
    /// it is (the CNN).
    func prepareFixedInput(_ input: UnsafePointer<Float>, batch: Int) -> PreparedInput?

    /// `forwardPatterns` of the input whose `prepareFixedInput` form is `prepared`
    /// (`prepared.examples` examples): the same bits. Only for a form the network's own
    /// `prepareFixedInput` returned.
    func forwardPatterns(parameters: UnsafePointer<Float>, prepared: PreparedInput)

    /// After a plain (ungated) `forward`: pattern layer `layer`'s values for the batch, rows of
    /// `unitsPerExample`, each > 0 exactly where the unit's pre-activation is > 0 (the
    /// pre-activations, or the ReLU outputs stored in their place). Exception, opt-in: a CNN with
    /// `recomputesFirstConvolution` set (the `Trainer`'s own network) keeps its first convolution's
    /// output only block by block in an ungated `forward` and recomputes it in `backward`; its
    /// `patternSource(layer: 0)` is then unavailable (a precondition) until a pass that keeps it.
    func patternSource(layer: Int) -> UnsafePointer<Float>

    /// When set, plain (ungated) forward passes hand each pattern layer's pre-activations to it
    /// (`PreActivationTap`); the pass computes the same values either way.
    var preActivationTap: PreActivationTap? { get set }

    /// Set before a plain pass (`forward` with gates nil or not, `forwardPatterns`) whose parameters
    /// are the values, at the same address, of the last plain pass: the network may reuse what it
    /// derived from them (the packed weights: the MLP's, the ViT's, the CNN's fully-connected ones).
    /// Cleared by the pass.
    var reusePackedWeights: Bool { get set }

    /// Called while an update rewrites a parameter block in place, in order: elements 0 ..< `end`
    /// of `parameters` hold their new values, and `end` grows from call to call until it is
    /// `parameterCount`, the last call of the update. The network may derive from the new values,
    /// while they are in cache, what its next plain pass of them reads (the MLP packs W_l^T sliver
    /// by sliver, the ViT all its weights and the CNN its fully-connected ones at the last call);
    /// that pass may then be told to reuse it (`reusePackedWeights`). The default does nothing.
    func parametersUpdated(_ parameters: UnsafePointer<Float>, through end: Int)

    /// Per pattern layer, how many leading parameters of the block its pre-activations depend on
    /// (the parameters that feed it: a prefix of the block in every architecture).
    var feedingParameterCounts: [Int] { get }
}

extension Network {
    public func parametersUpdated(_ parameters: UnsafePointer<Float>, through end: Int) {}

    public func prepareFixedInput(_ input: UnsafePointer<Float>, batch: Int) -> PreparedInput? { nil }

    public func forwardPatterns(parameters: UnsafePointer<Float>, prepared: PreparedInput) {
        preconditionFailure("\(Self.self) prepares no input (prepareFixedInput returns nil)")
    }

    /// The plain ReLU forward pass.
    public func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float> {
        forward(parameters: parameters, input: input, batch: batch, gates: nil)
    }

    /// The plain ReLU backward pass.
    public func backward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, dlogits: UnsafePointer<Float>,
                         batch: Int, gradients: UnsafeMutablePointer<Float>) {
        backward(parameters: parameters, input: input, dlogits: dlogits, batch: batch, gradients: gradients, gates: nil)
    }

    /// The gates of the last plain `forward` call: its own patterns, as masks for a gated pass.
    public var ownGates: GateMasks { patternLayers.indices.map { patternSource(layer: $0) } }

    /// Writes the activation pattern of the last plain `forward` call's `batch` examples into
    /// `patterns`, as examples `firstExample ..< firstExample + batch`.
    public func recordPatterns(batch: Int, into patterns: PatternSet, firstExample: Int) {
        for (index, layer) in patternLayers.enumerated() {
            patterns.store(layer: index, firstExample: firstExample, rows: batch, preActivations: patternSource(layer: index),
                           width: layer.unitsPerExample)
        }
    }
}
