import Foundation

/// The instruments of one trial over its recorded iterations, column by column.
///
/// Columns (docs/numerics.md): training loss of the step's batch, learning rate, weight update
/// (absolute and relative, global and per parameter group), pattern change against the previous
/// recorded iteration and against initialisation (global and per pattern layer), and validation
/// accuracy where it was measured; for a gated trial, the gate disagreement after the freeze.
public struct Curve: Codable, Equatable, Sendable {
    public var layerNames: [String]
    public var patternLayerNames: [String]
    public var iteration: [Int] = []
    public var loss: [Double] = []
    public var lr: [Double] = []
    public var weightUpdateAbs: [Double] = []
    public var weightUpdateRel: [Double] = []
    public var patternChange: [Double] = []
    public var patternChangeInit: [Double] = []
    public var valAccuracy: [Double?] = []
    public var layerWeightUpdateAbs: [[Double]]
    public var layerWeightUpdateRel: [[Double]]
    public var layerPatternChange: [[Double]]
    public var layerPatternChangeInit: [[Double]]
    /// Gated trials only (nil otherwise, so other curves keep their columns): the fraction of probe
    /// (example, unit) pairs whose own ReLU sign differs from the frozen gate; nil before the freeze.
    public var gateDisagreement: [Double?]?
    /// The geometric instruments (margins, flip sensitivity, null model, lags; ``ProbeColumns``);
    /// nil in curves written before them.
    public var probe: ProbeColumns?

    public init(layerNames: [String], patternLayerNames: [String], gated: Bool = false) {
        self.layerNames = layerNames
        gateDisagreement = gated ? [] : nil
        self.patternLayerNames = patternLayerNames
        layerWeightUpdateAbs = layerNames.map { _ in [] }
        layerWeightUpdateRel = layerNames.map { _ in [] }
        layerPatternChange = patternLayerNames.map { _ in [] }
        layerPatternChangeInit = patternLayerNames.map { _ in [] }
    }

    public var count: Int { iteration.count }

    /// The named instrument column (for statistics over many curves).
    public func column(_ name: String) -> [Double]? {
        switch name {
        case "loss": return loss
        case "lr": return lr
        case "weight_update_abs": return weightUpdateAbs
        case "weight_update_rel": return weightUpdateRel
        case "pattern_change": return patternChange
        case "pattern_change_init": return patternChangeInit
        default: return probe?.column(name).map { $0.map { $0 ?? .nan } }
        }
    }
}
