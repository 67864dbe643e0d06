import Foundation
import RegimeCore

/// The instruments whose per-iteration mean and standard deviation across seeds a sweep reports
/// per group (`groups/<group_id>.csv`) and the report draws.
public enum CurveInstrument: String, CaseIterable, Sendable {
    case loss
    case weightUpdateAbs = "weight_update_abs"
    case weightUpdateRel = "weight_update_rel"
    case patternChange = "pattern_change"
    case patternChangeInit = "pattern_change_init"
    // The geometric instruments (docs/numerics.md); empty where a curve did not measure them.
    case margin001 = "margin_0.01"
    case margin003 = "margin_0.03"
    case margin01 = "margin_0.1"
    case flipSensitivity = "flip_sensitivity"
    case nullPatternChange = "null_pattern_change"
    case excessFlips = "excess_flips"
    case patternChangeLag10 = "pattern_change_lag10"
    case weightUpdateAbsLag10 = "weight_update_abs_lag10"
    case weightUpdateRelLag10 = "weight_update_rel_lag10"
    case patternChangeLag100 = "pattern_change_lag100"
    case weightUpdateAbsLag100 = "weight_update_abs_lag100"
    case weightUpdateRelLag100 = "weight_update_rel_lag100"
}

/// Per recorded iteration of a group, the count, mean and sample sd across its seeds of each
/// instrument (``SampleMoments`` over the finite values), with curves taken in sweep order: a
/// function of the stored curves alone, whichever rank trained them.
///
/// CSV form (``NumericCSV``): `iteration`, then `<instrument>_n`, `<instrument>_mean`,
/// `<instrument>_sd` per ``CurveInstrument``, then the same for every per-layer column of the
/// curves (``layerColumns(_:)``: `<instrument>.<layer>`, e.g. `margin_0.01.fc1`,
/// `weight_update_abs_lag10.fc2`); an undefined mean or sd is an empty field.
public struct GroupCurves: Equatable, Sendable {
    public var iterations: [Int]
    public var table: NumericCSV

    /// `curves` are the group's finished trials' curves in sweep order; each contributes at the
    /// iterations it recorded (a shorter, diverged curve only to its own iterations) and to the
    /// columns it has.
    public init(iterations: [Int], curves: [Curve]) {
        self.iterations = iterations
        let tables = curves.map(\.table)
        // The row of each recorded iteration, per curve (the first, should one repeat).
        let rows: [[Int: Int]] = curves.map { Dictionary(zip($0.iteration, $0.iteration.indices), uniquingKeysWith: { a, _ in a }) }
        var header = ["iteration"]
        var columns: [[Double?]] = [iterations.map { Double($0) }]
        for name in CurveInstrument.allCases.map(\.rawValue) + Self.layerColumns(curves) {
            let perTrial = tables.map { $0.column(name) }
            var n: [Double?] = [], mean: [Double?] = [], sd: [Double?] = []
            for iteration in iterations {
                let moments = SampleMoments(finite: zip(rows, perTrial).map { row, column in
                    guard let column, let r = row[iteration] else { return nil }
                    return column[r]
                })
                n.append(Double(moments.n))
                mean.append(moments.mean)
                sd.append(moments.sd)
            }
            header += ["\(name)_n", "\(name)_mean", "\(name)_sd"]
            columns += [n, mean, sd]
        }
        table = NumericCSV(header: header, columns: columns)
    }

    /// The per-layer instrument columns of `curves`: the columns `<instrument>.<layer>` of a
    /// ``CurveInstrument`` and a layer of the curve (parameter group or pattern layer), in the
    /// order of the curve that has the most of them (the first such in sweep order), then any
    /// the others add, in order of first appearance. A group has one architecture, so its
    /// curves differ at most in the instruments their version recorded.
    public static func layerColumns(_ curves: [Curve]) -> [String] {
        let instruments = Set(CurveInstrument.allCases.map(\.rawValue))
        let perCurve = curves.map { curve in
            let layers = curve.layerNames + curve.patternLayerNames.filter { !curve.layerNames.contains($0) }
            return curve.csvHeader.filter { name in
                layers.contains { name.hasSuffix("." + $0) && instruments.contains(String(name.dropLast($0.count + 1))) }
            }
        }
        var names: [String] = []
        for columns in perCurve where columns.count > names.count { names = columns }
        var seen = Set(names)
        for name in perCurve.joined() where seen.insert(name).inserted { names.append(name) }
        return names
    }

    /// The file's text.
    public func csv() -> String { table.text() }
}
