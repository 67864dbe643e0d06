import Foundation

/// Analytic floating-point operation counts of a network: 2 x the multiply-adds of its linear maps,
/// convolutions and attention products (elementwise work is not counted).
public protocol FlopCounting {
    var flopsPerExampleForward: Double { get }
    var flopsPerExampleBackward: Double { get }
    /// The probe pass's (`Network.forwardPatterns`): the forward pass up to the last pattern
    /// layer's pre-activations, which leaves out the classifier (and the ViT's last feed-forward
    /// output). `regime bench` counted the whole forward pass for the probe before session 12,
    /// which overstated the tracked ViT's rate by 9.8% (its last block's second feed-forward
    /// product is a sixth of the forward pass), the MLP's by 0.6% and the CNN's by 0.06%
    /// (docs/architectures.md, "FLOP counts").
    var flopsPerExampleProbe: Double { get }
}

extension CNN: FlopCounting {}
extension VisionTransformer: FlopCounting {}

extension MLP: FlopCounting {
    public var flopsPerExampleForward: Double {
        (1..<widths.count).reduce(0) { $0 + 2 * Double(widths[$1 - 1]) * Double(widths[$1]) }
    }
    /// Weight gradients of every layer, input gradients of every layer but the first.
    public var flopsPerExampleBackward: Double {
        2 * flopsPerExampleForward - 2 * Double(widths[0]) * Double(widths[1])
    }
    /// Every layer but the classifier (the last).
    public var flopsPerExampleProbe: Double {
        flopsPerExampleForward - 2 * Double(widths[widths.count - 2]) * Double(widths[widths.count - 1])
    }
}

extension Architecture {
    /// Forward FLOPs per example (see `FlopCounting`); builds the network's layout, not its workspaces.
    public var flopsPerExampleForward: Double { (makeNetwork() as? FlopCounting)?.flopsPerExampleForward ?? 0 }
    public var flopsPerExampleBackward: Double { (makeNetwork() as? FlopCounting)?.flopsPerExampleBackward ?? 0 }
    public var flopsPerExampleProbe: Double { (makeNetwork() as? FlopCounting)?.flopsPerExampleProbe ?? 0 }
}
