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

    /// Header of `csv()`: the fixed columns, then the per-layer ones.
    public var csvHeader: [String] {
        ["iteration", "loss", "lr", "weight_update_abs", "weight_update_rel", "pattern_change", "pattern_change_init", "val_accuracy"]
            + layerNames.map { "weight_update_abs.\($0)" } + layerNames.map { "weight_update_rel.\($0)" }
            + patternLayerNames.map { "pattern_change.\($0)" } + patternLayerNames.map { "pattern_change_init.\($0)" }
            + (gateDisagreement == nil ? [] : ["gate_disagreement"])
    }

    /// The curve as CSV. Numbers are written in Swift's shortest round-trip form, so the file is
    /// exact and identical wherever it is written; an unmeasured validation accuracy is empty.
    public func csv() -> String {
        var lines = [csvHeader.joined(separator: ",")]
        lines.reserveCapacity(count + 1)
        for i in 0..<count {
            var fields = [String(iteration[i]), format(loss[i]), format(lr[i]), format(weightUpdateAbs[i]),
                          format(weightUpdateRel[i]), format(patternChange[i]), format(patternChangeInit[i]),
                          valAccuracy[i].map(format) ?? ""]
            fields += layerWeightUpdateAbs.map { format($0[i]) }
            fields += layerWeightUpdateRel.map { format($0[i]) }
            fields += layerPatternChange.map { format($0[i]) }
            fields += layerPatternChangeInit.map { format($0[i]) }
            if let gateDisagreement { fields.append(gateDisagreement[i].map(format) ?? "") }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func format(_ x: Double) -> String { x.isFinite ? "\(x)" : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf")) }

    /// The named instrument column (for statistics over many curves).
    public func column(_ name: String) -> [Double]? {
        switch name {
        case "loss": return loss
        case "lr": return lr
        case "weight_update_abs": return weightUpdateAbs
        case "weight_update_rel": return weightUpdateRel
        case "pattern_change": return patternChange
        case "pattern_change_init": return patternChangeInit
        default: return nil
        }
    }
}
