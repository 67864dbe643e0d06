import Foundation

/// Analytic floating-point operation counts of a network: 2 x the multiply-adds of its linear maps,
/// convolutions and attention products (elementwise work is not counted).
public protocol FlopCounting {
    var flopsPerExampleForward: Double { get }
    var flopsPerExampleBackward: Double { get }
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
}

extension Architecture {
    /// Forward FLOPs per example (see `FlopCounting`); builds the network's layout, not its workspaces.
    public var flopsPerExampleForward: Double { (makeNetwork() as? FlopCounting)?.flopsPerExampleForward ?? 0 }
    public var flopsPerExampleBackward: Double { (makeNetwork() as? FlopCounting)?.flopsPerExampleBackward ?? 0 }
}
