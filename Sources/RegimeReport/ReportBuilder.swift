import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore

/// Formatting of the numbers the report prints (fixed precision: the same input gives the same
/// bytes). A missing value is never printed as a number.
enum ReportFormat {
    static func time(_ x: Double) -> String { abs(x) < 10 ? String(format: "%.1f", x) : String(format: "%.0f", x) }
    static func ratio(_ x: Double) -> String { String(format: "%.2f", x) }
    static func accuracy(_ x: Double) -> String { String(format: "%.4f", x) }
    static func seconds(_ x: Double) -> String { String(format: "%.1f s", x) }
    static func loss(_ x: Double) -> String { String(format: "%.4f", x) }

    /// The label of a measure key: `ε = 0.1` for a threshold, the key itself (area rule) else.
    static func measure(_ key: String) -> String { Double(key) != nil ? "\u{03B5} = \(key)" : "\(key) (area rule)" }
    static func measureShort(_ key: String) -> String { Double(key) != nil ? "\u{03B5}=\(key)" : key }
    /// The reference level in words.
    static func reference(_ normalization: DecayNormalization) -> String {
        switch normalization {
        case .earlyPeak(let window, let skip): return "maximum of the full-window smoothed curve over iterations \(skip + 1)–\(window)"
        case .valueAt(let iteration): return "smoothed value at iteration \(iteration)"
        case .fractionOfRun(let f): return "smoothed value at \(f) of the run"
        }
    }
}

/// Builds the report of a sweep directory: self-contained pages (inline SVG and CSS, no script, no
/// network). The first page (`report.html`) has the verdicts, an overview, and a section per group
/// (normalised curves with markers, ratio distribution, summary table, training curves, and
/// `R(eps)` when the summary has it); each trial's detail (its own curves and decay times) is a
/// page of its own in the folder beside it (`report/trials/<trial_id>.html`). A sweep of more
/// than ``inlineGroupLimit`` groups keeps the first page small: each group appears there as a
/// card with its verdict and its normalised curves, and its full section is a page of its own
/// (`report/groups/<group_id>.html`). See ``ReportPage``.
///
/// The y scale (linear or log) and the measure whose markers are drawn (a threshold or the area
/// rule; the middle threshold by default) are switched by CSS-only radio buttons: every plot is
/// rendered for both scales and every measure's markers are in the page, so all of it is visible
/// without JavaScript. The output depends only on the directory's files.
struct ReportBuilder {
    static let weightColor = "#0072B2"
    static let patternColor = "#D55E00"
    static let thresholdColor = "#666666"
    static let groupDecayWidth = 672.0
    static let groupRatioWidth = 440.0
    static let groupSmallWidth = 368.0
    static let groupCardWidth = 400.0
    /// Points per curve on a group card's plot.
    static let cardCurvePoints = 120
    static let trialWidth = 272.0
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933"]

    struct TrialView {
        var index: Int
        var spec: TrialSpec
        var trialID: String
        var entry: JournalEntry?
        var analysis: TrialAnalysis?
        var curve: NumericCSV?
        var curveError: String?
        var iterations: [Double] = []
        /// Normalised (smoothed / early peak) weight_update_rel and pattern_change; nil if the
        /// curve is missing or has no positive early peak.
        var normalizedW: [Double]?
        var normalizedA: [Double]?
        /// The distances to the final state (`curves/<trial_id>.settling.csv`), when the trial has them.
        var settling: SettlingCurve?

        var status: String { entry?.result.status.rawValue ?? "not run" }
        var isOK: Bool { entry?.result.status == .ok }
    }

    struct GroupView {
        var group: TrialGroup
        var summary: SweepSummary.Group?
        var trials: [TrialView]
        var shortLabel: String
        var okTrials: [TrialView] { trials.filter(\.isOK) }
    }

    let input: ReportInput
    /// Every measure key of the sweep: thresholds in numeric order, then area rules.
    let measureKeys: [String]
    /// Index into `measureKeys` of the measure selected when the page opens.
    let defaultMeasure: Int
    /// The groups with their trials' journal entries and analyses; curves are read per group,
    /// when its plots are drawn (``withCurves(_:)``).
    let groups: [GroupView]
    /// The first page's file name, and the folder beside it that holds the other pages.
    let pageName: String
    var folderName: String { (pageName as NSString).deletingPathExtension }

    /// Sweeps of up to this many groups have every group's full section on the first page (about
    /// 130 KB each); larger ones a card per group there and a page per group.
    static let inlineGroupLimit = 12
    var inlineGroups: Bool { groups.count <= Self.inlineGroupLimit }

    init(input: ReportInput, pageName: String = "report.html") {
        self.input = input
        self.pageName = pageName
        var keys = Set<String>()
        for g in input.summary.groups { keys.formUnion(g.decay.keys) }
        keys.formUnion(input.options.thresholds.map(DecayRules.epsilonKey))
        keys.insert(DecayRules.areaKey(input.options.areaFraction))
        let sorted = keys.sorted(by: SweepSummary.measureOrder)
        measureKeys = sorted
        let thresholds = input.options.thresholds
        let middle = thresholds.isEmpty ? nil : DecayRules.epsilonKey(thresholds[(thresholds.count - 1) / 2])
        defaultMeasure = middle.flatMap { sorted.firstIndex(of: $0) } ?? 0

        let labels = Self.distinguishingLabels(input.groups.map(\.label))
        var views: [GroupView] = []
        for (g, group) in input.groups.enumerated() {
            let trials = group.trialIndices.map { Self.trialView(index: $0, input: input, withCurve: false) }
            views.append(GroupView(group: group, summary: input.summary.groups.first { $0.groupID == group.id },
                                   trials: trials, shortLabel: labels[g]))
        }
        groups = views
    }

    /// The parts of each label that differ between groups (all of it for a single group).
    static func distinguishingLabels(_ labels: [String]) -> [String] {
        guard labels.count > 1 else { return labels }
        let tokens = labels.map { $0.split(separator: " ").map(String.init) }
        let common = tokens.dropFirst().reduce(Set(tokens[0])) { $0.intersection($1) }
        return zip(labels, tokens).map { label, t in
            let kept = t.filter { !common.contains($0) }
            return kept.isEmpty ? label : kept.joined(separator: " ")
        }
    }

    /// The curve of `values` as the decay estimators see it (``DecayEstimators``): points up to
    /// the reference's skip removed (NaN here, so the result stays aligned with `iterations`),
    /// trailing moving average over `smoothing`, divided by the reference; nil without a positive
    /// finite reference.
    static func normalize(_ values: [Double], iterations: [Int], options: AnalysisOptions) -> [Double]? {
        guard !values.isEmpty, values.count == iterations.count, options.smoothing >= 1 else { return nil }
        let (kept, s) = DecayEstimators.smoothedCurve(iterations: iterations, values: values, options: options)
        guard let r = DecayEstimators.reference(iterations: kept, smoothed: s, normalization: options.normalization,
                                                smoothing: options.smoothing) else {
            return nil
        }
        return [Double](repeating: .nan, count: iterations.count - kept.count) + s.map { $0 / r }
    }

    /// `group` with its trials' curves read and normalised.
    func withCurves(_ group: GroupView) -> GroupView {
        var loaded = group
        loaded.trials = group.trials.map { Self.trialView(index: $0.index, input: input, withCurve: true) }
        return loaded
    }

    static func trialView(index: Int, input: ReportInput, withCurve: Bool) -> TrialView {
        let spec = input.sweep.trials[index]
        var view = TrialView(index: index, spec: spec, trialID: spec.trialID, entry: input.entries[spec.trialID],
                             analysis: input.analyses[spec.trialID])
        guard withCurve else { return view }
        switch input.curve(spec.trialID) {
        case .success(let table)?:
            view.curve = table
            if let its = table.values("iteration") {
                let iterations = its.map { $0.isFinite ? Int($0) : 0 }
                view.iterations = its
                if let w = table.values("weight_update_rel") { view.normalizedW = normalize(w, iterations: iterations, options: input.options) }
                if let a = table.values("pattern_change") { view.normalizedA = normalize(a, iterations: iterations, options: input.options) }
            }
        case .failure(let error)?:
            view.curveError = error.description
        case nil:
            break
        }
        do { view.settling = try input.directory.readSettling(trialID: spec.trialID) } catch { view.curveError = "\(error)" }
        return view
    }

    /// Mean and sample standard deviation across curves at each index (finite values only;
    /// ``SampleMoments``), and how many values each index had.
    static func acrossSeeds(_ curves: [[Double]]) -> (mean: [Double], sd: [Double], n: [Int]) {
        let length = curves.map(\.count).min() ?? 0
        var mean = [Double](repeating: .nan, count: length)
        var sd = [Double](repeating: .nan, count: length)
        var count = [Int](repeating: 0, count: length)
        for i in 0..<length {
            let moments = SampleMoments(curves.map { $0[i] }.filter(\.isFinite))
            count[i] = moments.n
            guard let m = moments.mean else { continue }
            mean[i] = m
            sd[i] = moments.sd ?? 0
        }
        return (mean, sd, count)
    }

    /// A number of a ratio or time, nil when the estimate is a reason.
    static func value(_ estimate: TimeEstimate?) -> Double? { estimate?.value }

    func measureClass(_ k: Int) -> String { "mk mk-\(k)" }
}

