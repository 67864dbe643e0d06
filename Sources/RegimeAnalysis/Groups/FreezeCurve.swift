import Foundation
import RegimeCore

/// What freezing the activation gates costs (issue 15): for a set of groups that differ only in
/// `gates.freeze_at`, the final validation accuracy and final training loss against the freeze
/// point, with the never-frozen group as the baseline and the online detector's freeze points.
///
/// Per point (one group: `freeze_at` N, `auto` or `never`), over its ok trials:
/// - **mean and 95% Student-t interval** of the final validation accuracy and of the final loss
///   (``SampleSummary``; the coverage is the nominal 95% when the seeds' values are normal, the
///   only assumption: with 5 seeds no distribution-free 95% interval of a median exists);
/// - **paired differences to the baseline** (``Difference``): for every seed that finished ok in
///   both groups, `d = value(frozen) - value(never)`; their mean with a 95% paired t interval
///   (the seed fixes the initial weights and the data order, so pairing removes the seed's
///   share of the noise), their range `[min d, max d]`, which covers the median difference with
///   the exact, distribution-free probability `1 - 2^(1-n)` (0.9375 for 5 pairs; stated with it),
///   and how many seeds lost (`d < 0`) and gained (`d > 0`);
/// - **where the gates froze** (``Spread``): `freeze.at` over the trials (for `auto`, the
///   iteration at which the online detector fired), and how many ok trials never froze.
///
/// The curve also gives ``detectedUnfrozen``: where the detector fired in the never-frozen group
/// (the moment it would have frozen, in ordinary training).
///
/// A set is a freeze curve when it has at least two groups and at least one frozen (`freeze_at` N
/// or `auto`). Groups are keyed by their spec with the seed and `freeze_at` removed (the detector's
/// parameters stay part of the key); sets and their points are in order of first appearance, then
/// points sorted: N ascending, `auto`, `never`.
///
/// JSON form (in `summary.json` under `freeze_curves`, only for sweeps that have one):
/// `{"label", "baseline": group_id|null, "detected_unfrozen": Spread|null, "points": [Point]}`.
public struct FreezeCurve: Codable, Hashable, Sendable {
    /// What a freeze curve needs of one trial's training result.
    public struct Outcome: Sendable, Equatable {
        public var ok: Bool
        public var seed: UInt64
        public var finalValAccuracy: Double?
        /// `final_loss` of the result: the training loss of the last batch.
        public var finalLoss: Double?
        /// `freeze.at`: the iteration after which the gates froze (nil: never).
        public var frozenAt: Int?
        /// `detected_at`: where the online regime detector fired (nil: it did not).
        public var detectedAt: Int?

        public init(ok: Bool, seed: UInt64, finalValAccuracy: Double?, finalLoss: Double?, frozenAt: Int?, detectedAt: Int?) {
            self.ok = ok; self.seed = seed; self.finalValAccuracy = finalValAccuracy; self.finalLoss = finalLoss
            self.frozenAt = frozenAt; self.detectedAt = detectedAt
        }

        public init(_ result: TrialResult) {
            self.init(ok: result.status == .ok, seed: result.params.seed, finalValAccuracy: result.finalValAccuracy,
                      finalLoss: result.finalLoss, frozenAt: result.freeze?.at, detectedAt: result.detectedAt)
        }
    }

    /// Iterations over trials: count, median (the mean of the two middle values for an even
    /// count), smallest and largest.
    public struct Spread: Codable, Hashable, Sendable {
        public var n: Int
        public var median: Double
        public var min: Int
        public var max: Int

        /// nil for no values.
        public init?(_ values: [Int]) {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            n = sorted.count
            median = Bootstrap.sortedMedian(sorted.map(Double.init))
            min = sorted[0]
            max = sorted[n - 1]
        }
    }

    /// Paired differences `frozen - never` over the seeds both groups finished.
    public struct Difference: Codable, Hashable, Sendable {
        /// Seeds with a value in both groups.
        public var pairs: Int
        /// Mean difference with its 95% paired Student-t interval.
        public var mean: SampleSummary
        /// `[min d, max d]` with its exact coverage of the median difference, `1 - 2^(1-n)`;
        /// unavailable below 2 pairs.
        public var range: ConfidenceInterval
        /// Seeds with `d < 0` and with `d > 0`.
        public var below: Int
        public var above: Int

        /// nil when no seed has a value in both.
        public init?(values: [UInt64: Double], baseline: [UInt64: Double]) {
            let seeds = values.keys.filter { baseline[$0] != nil }.sorted()
            guard !seeds.isEmpty else { return nil }
            let d = seeds.map { values[$0]! - baseline[$0]! }
            pairs = d.count
            mean = SampleSummary(d.map { Optional($0) })
            below = d.filter { $0 < 0 }.count
            above = d.filter { $0 > 0 }.count
            if d.count >= 2 {
                let coverage = OrderStatisticInterval.coverage(lowerRank: 1, sampleSize: d.count)
                range = ConfidenceInterval(level: coverage, coverage: coverage, low: d.min()!, high: d.max()!)
            } else {
                range = ConfidenceInterval(level: 0.95, unavailable: .singleValue)
            }
        }
    }

    /// One group of the curve.
    public struct Point: Codable, Hashable, Sendable {
        /// `N`, `auto` or `never`.
        public var freezeAt: String
        public var groupID: String
        public var trials: Int
        public var ok: Int
        /// `freeze.at` of the ok trials that froze (nil: none did, e.g. `never`).
        public var frozenAt: Spread?
        /// Ok trials whose gates never froze (all of `never`; `auto` when the detector did not fire).
        public var notFrozen: Int
        public var valAccuracy: SampleSummary
        public var finalLoss: SampleSummary
        /// Against the baseline; nil for the baseline itself or without one.
        public var accuracyVsBaseline: Difference?
        public var lossVsBaseline: Difference?

        enum CodingKeys: String, CodingKey {
            case freezeAt = "freeze_at", groupID = "group_id", trials, ok, frozenAt = "frozen_at", notFrozen = "not_frozen",
                 valAccuracy = "final_val_accuracy", finalLoss = "final_loss", accuracyVsBaseline = "accuracy_vs_never",
                 lossVsBaseline = "loss_vs_never"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(freezeAt, forKey: .freezeAt)
            try c.encode(groupID, forKey: .groupID)
            try c.encode(trials, forKey: .trials)
            try c.encode(ok, forKey: .ok)
            try c.encodeOrNull(frozenAt, forKey: .frozenAt)
            try c.encode(notFrozen, forKey: .notFrozen)
            try c.encode(valAccuracy, forKey: .valAccuracy)
            try c.encode(finalLoss, forKey: .finalLoss)
            try c.encodeOrNull(accuracyVsBaseline, forKey: .accuracyVsBaseline)
            try c.encodeOrNull(lossVsBaseline, forKey: .lossVsBaseline)
        }
    }

    /// The groups' shared label (without the freeze point).
    public var label: String
    /// The never-frozen group, nil when the set has none.
    public var baseline: String?
    /// Where the online detector fired in the never-frozen group's ok trials.
    public var detectedUnfrozen: Spread?
    public var points: [Point]

    enum CodingKeys: String, CodingKey { case label, baseline, detectedUnfrozen = "detected_unfrozen", points }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(label, forKey: .label)
        try c.encodeOrNull(baseline, forKey: .baseline)
        try c.encodeOrNull(detectedUnfrozen, forKey: .detectedUnfrozen)
        try c.encode(points, forKey: .points)
    }

    /// The `auto` point, if the curve has one.
    public var auto: Point? { points.first { $0.freezeAt == "auto" } }

    /// The freeze curves of a sweep's groups; `outcomes` is indexed like the sweep's trials (nil:
    /// not finished).
    public static func make(groups: [TrialGroup], outcomes: [Outcome?]) -> [FreezeCurve] {
        var order: [String] = []
        var sets: [String: [TrialGroup]] = [:]
        for group in groups {
            var key = group.spec
            key.gates = key.gates.flatMap { GateSpec.setting(freezeAt: .never, detector: $0.detector) }
            let id = key.trialID
            if sets[id] == nil { order.append(id) }
            sets[id, default: []].append(group)
        }
        return order.compactMap { id in
            let members = sets[id]!
            let frozen = members.filter { ($0.spec.gates?.freezeAt ?? .never) != .never }
            guard members.count >= 2, !frozen.isEmpty else { return nil }
            return FreezeCurve(members, outcomes: outcomes)
        }
    }

    /// The sort position of a freeze point: N ascending, then auto, then never.
    static func rank(_ freezeAt: GateSpec.FreezeAt) -> (Int, Int) {
        switch freezeAt {
        case .step(let n): return (0, n)
        case .auto: return (1, 0)
        case .never: return (2, 0)
        }
    }

    init(_ members: [TrialGroup], outcomes: [Outcome?]) {
        let sorted = members.enumerated().sorted { a, b in
            let ra = Self.rank(a.element.spec.gates?.freezeAt ?? .never), rb = Self.rank(b.element.spec.gates?.freezeAt ?? .never)
            return ra != rb ? ra < rb : a.offset < b.offset
        }.map(\.element)
        var shared = sorted[0].spec
        shared.gates = nil
        label = TrialGroup(id: "", spec: shared, trialIndices: []).label
        func ok(_ g: TrialGroup) -> [Outcome] { g.trialIndices.compactMap { outcomes[$0] }.filter(\.ok) }
        func bySeed(_ g: TrialGroup, _ value: (Outcome) -> Double?) -> [UInt64: Double] {
            var out: [UInt64: Double] = [:]
            for o in ok(g) { if let v = value(o), v.isFinite { out[o.seed] = v } }
            return out
        }
        let never = sorted.first { ($0.spec.gates?.freezeAt ?? .never) == .never }
        baseline = never?.id
        detectedUnfrozen = never.flatMap { Spread(ok($0).compactMap(\.detectedAt)) }
        points = sorted.map { g in
            let done = ok(g)
            let isBaseline = g.id == never?.id
            func versus(_ value: @escaping (Outcome) -> Double?) -> Difference? {
                guard let never, !isBaseline else { return nil }
                return Difference(values: bySeed(g, value), baseline: bySeed(never, value))
            }
            return Point(freezeAt: (g.spec.gates?.freezeAt ?? .never).description, groupID: g.id,
                         trials: g.trialIndices.count, ok: done.count, frozenAt: Spread(done.compactMap(\.frozenAt)),
                         notFrozen: done.filter { $0.frozenAt == nil }.count,
                         valAccuracy: SampleSummary(done.map(\.finalValAccuracy)), finalLoss: SampleSummary(done.map(\.finalLoss)),
                         accuracyVsBaseline: versus(\.finalValAccuracy), lossVsBaseline: versus(\.finalLoss))
        }
    }
}

extension FreezeCurve {
    /// The freeze curve as text (`regime summary`, the end of a sweep): one row per freeze point.
    public func table() -> [String] {
        let widths = [10, 18, 30, 62, 24, 30]
        func row(_ cells: [String]) -> String {  // a cell wider than its column is not cut
            "  " + cells.enumerated().map { $0.element + String(repeating: " ", count: Swift.max(0, widths[$0.offset] - $0.element.count)) }
                .joined(separator: " ")
        }
        func spread(_ s: Spread?) -> String {
            guard let s else { return "-" }
            return s.min == s.max ? "\(s.min)" : String(format: "%.0f [%d, %d]", s.median, s.min, s.max)
        }
        func mean(_ s: SampleSummary, _ digits: Int) -> String {
            guard let m = s.mean else { return "n/a" }
            var text = String(format: "%.\(digits)f", m)
            if let lo = s.ciLow, let hi = s.ciHigh { text += String(format: " [%.\(digits)f, %.\(digits)f]", lo, hi) }
            return text + " n=\(s.n)"
        }
        func difference(_ d: Difference?) -> String {
            guard let d else { return "baseline" }
            var text = d.mean.mean.map { String(format: "%+.4f", $0) } ?? "n/a"
            if let lo = d.mean.ciLow, let hi = d.mean.ciHigh { text += String(format: " [%+.4f, %+.4f]", lo, hi) }
            if let lo = d.range.low, let hi = d.range.high, let c = d.range.coverage {
                text += String(format: " range [%+.4f, %+.4f] (%.1f%%)", lo, hi, 100 * c)
            }
            return text
        }
        var out = ["", "freeze curve: \(label)" + (baseline == nil ? " (no never-frozen group: no baseline)" : "")]
        out.append(row(["freeze_at", "frozen at", "val accuracy [95% t CI]", "accuracy - never, paired [95% t CI]; range",
                        "lower/higher than never", "final loss [95% t CI]"]))
        for p in points {
            let counts = p.accuracyVsBaseline.map { "\($0.below)/\($0.above) of \($0.pairs)" } ?? "-"
            out.append(row([p.freezeAt, spread(p.frozenAt) + (p.notFrozen > 0 && p.freezeAt != "never" ? " +\(p.notFrozen) never" : ""),
                            mean(p.valAccuracy, 4), difference(p.accuracyVsBaseline), counts, mean(p.finalLoss, 4)]))
        }
        var detector = "  online detector:"
        if let a = auto { detector += " auto froze at " + spread(a.frozenAt) + " (\(a.frozenAt?.n ?? 0) of \(a.ok) ok trials)" }
        if let d = detectedUnfrozen { detector += (auto == nil ? "" : ";") + " in the never-frozen group it fires at " + spread(d) + " (\(d.n) trials)" }
        if detector != "  online detector:" { out.append(detector) }
        return out
    }

    /// `summary-freeze.csv`: one row per freeze point of every curve (the numbers of the JSON;
    /// empty fields where a value does not exist).
    public static func csv(_ curves: [FreezeCurve]) -> String {
        func f(_ x: Double?) -> String { SweepSummary.format(x) }
        func i(_ x: Int?) -> String { x.map(String.init) ?? "" }
        func difference(_ d: Difference?) -> [String] {
            [f(d?.mean.mean), f(d?.mean.ciLow), f(d?.mean.ciHigh), f(d?.range.low), f(d?.range.high), f(d?.range.coverage),
             i(d?.below), i(d?.above), i(d?.pairs)]
        }
        var rows = [csvHeader]
        for c in curves {
            for p in c.points {
                let cells = ["\"\(c.label)\"", p.freezeAt, p.groupID, "\(p.trials)", "\(p.ok)", f(p.frozenAt?.median),
                             i(p.frozenAt?.min), i(p.frozenAt?.max), "\(p.notFrozen)", f(p.valAccuracy.mean), f(p.valAccuracy.ciLow),
                             f(p.valAccuracy.ciHigh)] + difference(p.accuracyVsBaseline)
                    + [f(p.finalLoss.mean), f(p.finalLoss.ciLow), f(p.finalLoss.ciHigh)] + difference(p.lossVsBaseline)
                rows.append(cells.joined(separator: ","))
            }
        }
        return rows.joined(separator: "\n") + "\n"
    }

    /// The first line of `summary-freeze.csv`.
    public static let csvHeader = "curve,freeze_at,group_id,trials,ok,frozen_at_median,frozen_at_min,frozen_at_max,not_frozen,"
        + "val_accuracy_mean,val_accuracy_ci_low,val_accuracy_ci_high,"
        + "accuracy_vs_never_mean,accuracy_vs_never_ci_low,accuracy_vs_never_ci_high,accuracy_vs_never_range_low,"
        + "accuracy_vs_never_range_high,accuracy_vs_never_range_coverage,accuracy_lower_seeds,accuracy_higher_seeds,pairs,"
        + "final_loss_mean,final_loss_ci_low,final_loss_ci_high,"
        + "loss_vs_never_mean,loss_vs_never_ci_low,loss_vs_never_ci_high,loss_vs_never_range_low,loss_vs_never_range_high,"
        + "loss_vs_never_range_coverage,loss_lower_seeds,loss_higher_seeds,loss_pairs"

    /// The lines after the freeze-curve tables.
    public static let tableNote = "Freeze curves: mean [95% Student-t interval] over seeds (nominal coverage, exact for normal values); differences to the never-frozen group paired by seed, with the range of the differences, which covers the median difference with the stated exact probability 1 - 2^(1-n). final loss: the training loss of the last batch."
}
