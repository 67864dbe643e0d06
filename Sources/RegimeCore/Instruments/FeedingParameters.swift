/// The parameters that feed each pattern layer (flip sensitivity, docs/numerics.md): pattern
/// layer l's pre-activations are a function of the input and of a prefix of the parameter block,
/// because every architecture lays its parameters out in forward order.
///
/// - MLP `fc_l`: W1, b1, ..., W_l, b_l (the groups fc1 ... fc_l).
/// - CNN `conv_i` / `fc_j`: every group up to and including the layer's own (pools have none).
/// - ViT `block<l>.ffn`: the embedding, every earlier block, block l's attention and its ln2, W1
///   and b1, but not its W2 and b2, which act after the ReLU.
extension MLP {
    public var feedingParameterCounts: [Int] { patternLayers.indices.map { parameterGroups[$0].range.upperBound } }
}

extension CNN {
    public var feedingParameterCounts: [Int] {
        patternLayers.map { layer in parameterGroups.first { $0.name == layer.name }!.range.upperBound }
    }
}

extension VisionTransformer {
    public var feedingParameterCounts: [Int] { blocks.map { $0.f1B + F } }
}
