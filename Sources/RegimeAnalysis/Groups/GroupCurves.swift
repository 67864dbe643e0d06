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
/// `<instrument>_sd` per ``CurveInstrument``; an undefined mean or sd is an empty field.
public struct GroupCurves: Equatable, Sendable {
    public var iterations: [Int]
    public var table: NumericCSV

    /// `curves` are the group's finished trials' curves in sweep order; each contributes at the
    /// iterations it recorded (a shorter, diverged curve only to its own iterations).
    public init(iterations: [Int], curves: [Curve]) {
        self.iterations = iterations
        var header = ["iteration"]
        var columns: [[Double?]] = [iterations.map { Double($0) }]
        for instrument in CurveInstrument.allCases {
            let perTrial: [[Int: Double]] = curves.map { curve in
                let values = curve.column(instrument.rawValue) ?? []
                return Dictionary(zip(curve.iteration, values), uniquingKeysWith: { a, _ in a })
            }
            var n: [Double?] = [], mean: [Double?] = [], sd: [Double?] = []
            for iteration in iterations {
                let moments = SampleMoments(finite: perTrial.map { $0[iteration] })
                n.append(Double(moments.n))
                mean.append(moments.mean)
                sd.append(moments.sd)
            }
            header += ["\(instrument.rawValue)_n", "\(instrument.rawValue)_mean", "\(instrument.rawValue)_sd"]
            columns += [n, mean, sd]
        }
        table = NumericCSV(header: header, columns: columns)
    }

    /// The file's text.
    public func csv() -> String { table.text() }
}
