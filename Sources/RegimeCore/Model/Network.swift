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

/// A trainable network: llm.c-style forward/backward over flat buffers.
///
/// All parameters live in one contiguous block and all gradients in another with the same layout;
/// the network owns only its activation workspaces, sized for the largest batch seen.
public protocol Network: AnyObject {
    var architecture: Architecture { get }
    var parameterCount: Int { get }
    var parameterGroups: [ParameterGroup] { get }
    var patternLayers: [PatternLayer] { get }

    /// Fills the parameter block with the initial values drawn from `rng`.
    func initialize(parameters: UnsafeMutablePointer<Float>, rng: inout Xoshiro256)

    /// Forward pass over `batch` examples (rows of `architecture.inputSize` features); keeps what
    /// `backward` needs. Returns the logits (batch x classes), valid until the next call.
    func forward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float>

    /// Backward pass for the last `forward` call: from d(loss)/d(logits) to the gradient block
    /// (overwritten, not accumulated).
    func backward(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, dlogits: UnsafePointer<Float>,
                  batch: Int, gradients: UnsafeMutablePointer<Float>)

    /// Writes the activation pattern of the last `forward` call's `batch` examples into `patterns`,
    /// as examples `firstExample ..< firstExample + batch`.
    func recordPatterns(batch: Int, into patterns: PatternSet, firstExample: Int)
}
