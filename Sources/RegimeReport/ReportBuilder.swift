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
        case .earlyPeak(let window, let skip): return "maximum of the smoothed curve over iterations \(skip + 1)–\(window)"
        case .valueAt(let iteration): return "smoothed value at iteration \(iteration)"
        }
    }
}

/// Builds `report.html` of a sweep directory: one self-contained page (inline SVG and CSS, no
/// script, no network) with an overview, a section per group (normalised curves with markers,
/// ratio distribution, summary table, training curves, and `R(eps)` when the summary has it)
/// and a section per trial (its own curves and decay times).
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
    let groups: [GroupView]

    init(input: ReportInput) {
        self.input = input
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
            let trials = group.trialIndices.map { Self.trialView(index: $0, input: input) }
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
        guard let r = DecayEstimators.reference(iterations: kept, smoothed: s, normalization: options.normalization) else {
            return nil
        }
        return [Double](repeating: .nan, count: iterations.count - kept.count) + s.map { $0 / r }
    }

    static func trialView(index: Int, input: ReportInput) -> TrialView {
        let spec = input.sweep.trials[index]
        var view = TrialView(index: index, spec: spec, trialID: spec.trialID, entry: input.entries[spec.trialID],
                             analysis: input.analyses[spec.trialID])
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

    // MARK: - Page

    func html() -> String {
        let name = input.summary.sweep.isEmpty ? input.sweep.name : input.summary.sweep
        var page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        page += "<title>regime report: \(Markup.escape(name))</title>\n<style>\n\(css())</style>\n</head>\n<body>\n"
        // The switches come first, as siblings of <main>, so CSS can select on their state.
        page += "<input type=\"radio\" name=\"yscale\" id=\"yscale-lin\" class=\"switch\"/>\n"
        page += "<input type=\"radio\" name=\"yscale\" id=\"yscale-log\" class=\"switch\" checked=\"checked\"/>\n"
        for k in measureKeys.indices {
            page += "<input type=\"radio\" name=\"measure\" id=\"measure-\(k)\" class=\"switch\"\(k == defaultMeasure ? " checked=\"checked\"" : "")/>\n"
        }
        page += "<main>\n"
        page += header(name)
        page += controls()
        page += overview()
        page += "<section id=\"groups\">\n<h2>Groups</h2>\n"
        for (g, group) in groups.enumerated() { page += groupSection(group, number: g + 1) }
        page += "</section>\n"
        page += "<section id=\"trials\">\n<h2>Trials</h2>\n"
        page += "<p class=\"lead\">Each trial's own curves, normalised as above, with its own t<sub>a</sub> and t<sub>w</sub> at the selected measure. Censored times are shown as <span class=\"censored\">censored</span>, never as a number.</p>\n"
        for (g, group) in groups.enumerated() {
            for trial in group.trials { page += trialSection(trial, group: group, groupNumber: g + 1) }
        }
        page += "</section>\n"
        page += footer()
        page += "</main>\n</body>\n</html>\n"
        return page
    }

    func css() -> String {
        var css = """
        body { margin: 0; font: 14px/1.45 Helvetica, Arial, sans-serif; color: #222; background: #f3f3f1; }
        main { max-width: 1180px; margin: 0 auto; padding: 0 12px 40px; }
        h1 { font-size: 24px; margin: 18px 0 4px; }
        h2 { font-size: 19px; margin: 22px 0 8px; border-bottom: 2px solid #ccc; padding-bottom: 3px; }
        h3 { font-size: 16px; margin: 4px 0 6px; }
        h4 { font-size: 14px; margin: 12px 0 4px; }
        a { color: #0a5ea8; }
        .switch { position: absolute; opacity: 0; pointer-events: none; }
        .controls { position: sticky; top: 0; z-index: 5; background: #ffffffee; border: 1px solid #ccc; border-radius: 4px; padding: 6px 10px; margin: 10px 0; }
        .controls .group { display: inline-block; margin-right: 22px; }
        .controls label { display: inline-block; padding: 1px 9px; margin: 1px 1px; border: 1px solid #999; border-radius: 3px; cursor: pointer; background: #fff; }
        .controls .hint { color: #666; font-size: 12px; }
        .meta { color: #444; margin: 0 0 6px; }
        .meta span { margin-right: 16px; white-space: nowrap; }
        section.card { background: #fff; border: 1px solid #d6d6d6; border-radius: 5px; padding: 10px 14px 12px; margin: 14px 0; }
        .figrow { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; margin: 6px 0; }
        figure { margin: 0; }
        figcaption { font-size: 12px; color: #555; margin: 2px 4px 0; }
        table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
        th, td { border-bottom: 1px solid #e2e2e2; padding: 3px 9px; text-align: right; vertical-align: top; }
        th { background: #f2f2f2; font-weight: 600; }
        th:first-child, td:first-child { text-align: left; }
        td.text, th.text { text-align: left; }
        .censored { color: #a23; font-style: italic; }
        caption { text-align: left; font-size: 12px; color: #555; padding: 2px 0; }
        details { margin: 6px 0; }
        summary { cursor: pointer; color: #333; }
        .muted { color: #777; }
        .lead { color: #444; margin: 4px 0 8px; }
        .status { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600; }
        .status-ok { background: #dff1df; color: #1b5e20; }
        .status-diverged, .status-failed, .status-timed_out { background: #fbe0e0; color: #8b1a1a; }
        .status-not-run { background: #eee; color: #555; }
        .error { color: #8b1a1a; font-family: monospace; white-space: pre-wrap; }
        dl.params { display: grid; grid-template-columns: max-content auto; gap: 0 12px; margin: 4px 0; font-size: 13px; }
        dl.params dt { color: #555; }
        dl.params dd { margin: 0; font-family: monospace; }
        .trials-list a { margin-right: 10px; white-space: nowrap; }
        .mk { display: none; }
        #yscale-log:checked ~ main .scale-lin { display: none; }
        #yscale-lin:checked ~ main .scale-log { display: none; }
        #yscale-log:checked ~ main label[for="yscale-log"], #yscale-lin:checked ~ main label[for="yscale-lin"] { background: #333; color: #fff; border-color: #333; }

        """
        for k in measureKeys.indices {
            css += "#measure-\(k):checked ~ main .mk-\(k) { display: inline; }\n"
            css += "#measure-\(k):checked ~ main tr.row-\(k) { background: #fff4c2; }\n"
            css += "#measure-\(k):checked ~ main label[for=\"measure-\(k)\"] { background: #333; color: #fff; border-color: #333; }\n"
        }
        css += "@media print { .controls { position: static; } }\n"
        return css
    }

    func header(_ name: String) -> String {
        let s = input.summary
        var out = "<header id=\"top\">\n<h1>regime report: sweep <q>\(Markup.escape(name))</q></h1>\n<p class=\"meta\">"
        out += "<span>\(s.finished)/\(s.trials) trials finished: \(s.ok) ok, \(s.diverged) diverged, \(s.failed) failed</span>"
        let seedCounts = Set(groups.map(\.trials.count))
        let seedText = seedCounts.count == 1 ? "\(seedCounts.first!) seeds each" : "seeds per group: " + groups.map { "\($0.trials.count)" }.joined(separator: "/")
        out += "<span>\(groups.count) group\(groups.count == 1 ? "" : "s") (configurations), \(Markup.escape(seedText))</span>"
        out += "</p>\n<p class=\"meta\">"
        if let m = input.manifest {
            out += "<span>started \(Markup.escape(m.started))</span>"
            out += "<span>ended \(Markup.escape(m.ended ?? "not yet (interrupted or running)"))</span>"
            out += "<span>\(m.ranks) rank\(m.ranks == 1 ? "" : "s") on \(Markup.escape(m.hosts.joined(separator: ", ")))</span>"
            out += "<span>regime \(Markup.escape(m.version))\(m.gitCommit.map { " @ " + Markup.escape(String($0.prefix(12))) } ?? "")</span>"
            out += "<span>sweep file \(Markup.escape(m.sweepFile))</span>"
            if let st = m.statistics {
                out += "<span>wall \(ReportFormat.seconds(st.wallSeconds)), scheduling efficiency \(String(format: "%.1f%%", 100 * st.efficiency))</span>"
            }
        } else {
            out += "<span class=\"muted\">no manifest.json</span>"
        }
        out += "</p>\n"
        if let damage = input.journalDamage {
            out += "<p class=\"error\">journal: \(Markup.escape(damage))</p>\n"
        }
        out += "<nav class=\"meta\"><a href=\"#overview\">Overview</a> · "
        out += groups.enumerated().map { "<a href=\"#group-\(Markup.escape($0.element.group.id))\">G\($0.offset + 1) \(Markup.escape($0.element.shortLabel))</a>" }
            .joined(separator: " · ")
        out += " · <a href=\"#trials\">Trials</a> · <a href=\"#notes\">Notes</a></nav>\n</header>\n"
        return out
    }

    func controls() -> String {
        var out = "<div class=\"controls\">\n<span class=\"group\">y axis: <label for=\"yscale-lin\">linear</label><label for=\"yscale-log\">log</label></span>\n"
        out += "<span class=\"group\">t<sub>a</sub>/t<sub>w</sub> markers at: "
        out += measureKeys.enumerated().map { "<label for=\"measure-\($0.offset)\">\(Markup.escape(ReportFormat.measureShort($0.element)))</label>" }.joined()
        out += "</span>\n<span class=\"hint\">(default \(Markup.escape(measureKeys.isEmpty ? "-" : ReportFormat.measure(measureKeys[defaultMeasure]))), the middle threshold; works without JavaScript)</span>\n</div>\n"
        return out
    }

    // MARK: - Overview

    func overview() -> String {
        var out = "<section id=\"overview\" class=\"card\">\n<h2>Overview</h2>\n"
        out += "<p class=\"lead\">t<sub>a</sub>: when the activation-pattern change (<code>pattern_change</code>) has decayed; t<sub>w</sub>: when the relative weight update (<code>weight_update_rel</code>) has decayed; ratio = t<sub>w</sub>/t<sub>a</sub> per seed (&gt; 1: the patterns settle before the weights). Times are optimizer steps; mean [95% Student-t CI] over seeds.</p>\n"
        out += "<div class=\"figrow\">\n<figure>\n" + forestPlot() + "\n<figcaption>Ratio t<sub>w</sub>/t<sub>a</sub> per group at the selected measure: dots are seeds, the diamond the mean, the bar its 95% CI. Dotted line: t<sub>w</sub> = t<sub>a</sub>.</figcaption>\n</figure>\n</div>\n"
        // Table: groups x measures.
        out += "<table class=\"overview\">\n<thead><tr><th>group</th><th>ok</th><th>final val accuracy</th>"
        for key in measureKeys { out += "<th>ratio \(Markup.escape(ReportFormat.measureShort(key)))</th>" }
        out += "</tr></thead>\n<tbody>\n"
        for (g, group) in groups.enumerated() {
            out += "<tr><td class=\"text\"><a href=\"#group-\(Markup.escape(group.group.id))\">G\(g + 1)</a> \(Markup.escape(group.shortLabel))</td>"
            out += "<td>\(group.summary?.ok ?? 0)/\(group.trials.count)</td>"
            out += "<td>\(group.summary.map { statCell($0.finalValAccuracy, format: ReportFormat.accuracy) } ?? "<span class=\"muted\">no data</span>")</td>"
            for key in measureKeys {
                if let m = group.summary?.decay[key] {
                    out += "<td>\(statCell(m.ratio, format: ReportFormat.ratio))<br/><span class=\"muted\">t<sub>a</sub>&lt;t<sub>w</sub> in \(m.ordering.taFirst)/\(m.ordering.decided)</span></td>"
                } else {
                    out += "<td><span class=\"muted\">-</span></td>"
                }
            }
            out += "</tr>\n"
        }
        out += "</tbody>\n</table>\n"
        // Ordering over the whole sweep.
        let s = input.summary
        out += "<p>Over all seeds, t<sub>a</sub> &lt; t<sub>w</sub> in: "
        out += measureKeys.map { key -> String in
            guard let o = s.taBeforeTw[key] else { return "" }
            return "<b>\(Markup.escape(ReportFormat.measureShort(key)))</b> \(o.taFirst)/\(o.decided) trials"
        }.filter { !$0.isEmpty }.joined(separator: "; ")
        out += " (a censored time counts as later)"
        out += ".</p>\n</section>\n"
        return out
    }

    /// Ratio per group (rows) at each measure (one layer per measure, shown by the switch).
    func forestPlot() -> String {
        var plot = SVGPlot(id: "overview-ratio", width: 1150, height: Double(max(groups.count, 1)) * 42 + 110)
        plot.title = "Ratio t_w / t_a by group"
        plot.xLabel = "ratio t_w / t_a (unitless; > 1: activation patterns settle first)"
        plot.yCategories = groups.enumerated().map { "G\($0.offset + 1) \($0.element.shortLabel)" }
        var allValues: [Double] = [1]
        for (k, key) in measureKeys.enumerated() {
            for (g, group) in groups.enumerated() {
                let ratios = group.okTrials.map { $0.analysis?.decay[key]?.ratio.value }
                let values = ratios.compactMap { $0 }.filter(\.isFinite)
                allValues += values
                addRatioRow(&plot, row: Double(g), values: ratios, seeds: group.okTrials.map(\.spec.seed),
                            summary: group.summary?.decay[key]?.ratio, cssClass: measureClass(k), allValues: &allValues)
            }
        }
        configureRatioAxis(&plot, values: allValues)
        plot.vLines = [SVGPlot.VLine(x: 1, label: "t_w = t_a")]
        plot.legend = [SVGPlot.LegendEntry(label: "seed", color: "#555555", kind: .point),
                       SVGPlot.LegendEntry(label: "mean", color: "#111111", kind: .diamond),
                       SVGPlot.LegendEntry(label: "95% CI of the mean", color: "#111111", kind: .segment)]
        plot.legendAlternatives = measureKeys.enumerated().map {
            SVGPlot.LegendEntry(label: "measure: \(ReportFormat.measure($0.element))", color: "#333333", kind: .text, cssClass: measureClass($0.offset))
        }
        plot.emptyMessage = "no finished trial"
        return plot.render()
    }

    /// Seeds as dots spread around `row`, the mean as a diamond and its CI as a bar; censored seeds counted at the right.
    func addRatioRow(_ plot: inout SVGPlot, row: Double, values: [Double?], seeds: [UInt64], summary: SampleSummary?,
                     cssClass: String, allValues: inout [Double]) {
        let m = values.count
        for (j, v) in values.enumerated() {
            guard let v, v.isFinite else { continue }
            let offset = m > 1 ? (Double(j) - Double(m - 1) / 2) / Double(m - 1) * 0.44 : 0
            plot.points.append(SVGPlot.Point(x: v, y: row + offset, color: "#555555", radius: 3.5,
                                             title: "seed \(j < seeds.count ? "\(seeds[j])" : "?"): ratio \(ReportFormat.ratio(v))",
                                             cssClass: cssClass))
        }
        if let s = summary {
            if let lo = s.ciLow, let hi = s.ciHigh {
                plot.segments.append(SVGPlot.Segment(x1: lo, y1: row, x2: hi, y2: row, color: "#111111", width: 2.5, cssClass: cssClass))
                allValues += [lo, hi]
            }
            if let mean = s.mean {
                plot.points.append(SVGPlot.Point(x: mean, y: row, color: "#111111", radius: 6, shape: .diamond,
                                                 title: "mean ratio \(ReportFormat.ratio(mean))", cssClass: cssClass))
            }
        }
        let censored = values.filter { $0 == nil || !($0!.isFinite) }.count
        if censored > 0 || m == 0 {
            plot.annotations.append(SVGPlot.Annotation(x: nil, y: row,
                                                       text: m == 0 ? "no finished seed" : "\(censored) of \(m) censored",
                                                       color: "#a02233", cssClass: cssClass))
        }
    }

    /// Linear x for ratios within a factor 5 of each other, log beyond; 1 is always in range.
    func configureRatioAxis(_ plot: inout SVGPlot, values: [Double]) {
        let finite = values.filter { $0.isFinite && $0 > 0 }
        let lo = finite.min() ?? 0.5, hi = finite.max() ?? 2
        if hi / lo > 5 {
            plot.xScale = .log
            plot.xDomain = (lo / 1.15, hi * 1.15)
        } else {
            let t = NiceTicks.linear(lo: lo - 0.05 * (hi - lo), hi: hi + 0.05 * (hi - lo), count: 8)
            plot.xDomain = (t.lo, t.hi)
        }
    }

    // MARK: - Group

    /// `StatCell`: mean [CI] (n) with censored counts; a censored statistic is the word "censored".
    func statCell(_ s: SampleSummary, format: (Double) -> String) -> String {
        guard let mean = s.mean else {
            if s.censored > 0 { return "<span class=\"censored\">censored</span> <span class=\"muted\">(\(s.censored) of \(s.censored + s.n))</span>" }
            return "<span class=\"muted\">no data</span>"
        }
        var text = Markup.escape(format(mean))
        if let lo = s.ciLow, let hi = s.ciHigh { text += " <span class=\"ci\">[\(Markup.escape(format(lo))), \(Markup.escape(format(hi)))]</span>" }
        text += " <span class=\"muted\">n=\(s.n)</span>"
        if s.censored > 0 { text += " <span class=\"censored\">+\(s.censored) censored</span>" }
        return text
    }

    func groupSection(_ view: GroupView, number: Int) -> String {
        let group = view.group
        let id = Markup.escape(group.id)
        var out = "<section class=\"card group\" id=\"group-\(id)\">\n"
        out += "<h3>G\(number): \(Markup.escape(view.shortLabel))</h3>\n"
        out += "<p class=\"meta\"><span>\(Markup.escape(group.label))</span><span>group \(id)</span>"
        if let s = view.summary {
            out += "<span>\(s.ok)/\(s.trials) ok\(s.diverged > 0 ? ", \(s.diverged) diverged" : "")\(s.failed > 0 ? ", \(s.failed) failed" : "")</span>"
            out += "<span>final val accuracy \(statCell(s.finalValAccuracy, format: ReportFormat.accuracy))</span>"
        }
        out += "</p>\n"
        let ok = view.okTrials
        let w = input.options.smoothing
        out += "<div class=\"figrow\">\n<figure style=\"width: \(Int(Self.groupDecayWidth))px\">\n"
        for scale in [ScaleKind.linear, .log] { out += groupDecayPlot(view, scale: scale) + "\n" }
        out += "<figcaption>Mean over the \(ok.count) ok seed\(ok.count == 1 ? "" : "s") (line) ± 1 sd (band) of each seed's curve normalised as the decay detector does: trailing moving average over \(w) recorded point\(w == 1 ? "" : "s"), divided by its reference (\(Markup.escape(ReportFormat.reference(input.options.normalization))), shaded). Dashed: mean t<sub>a</sub> and t<sub>w</sub> over seeds at the selected measure, shaded: their 95% CI; dotted: the threshold ε.</figcaption>\n"
        out += "</figure>\n<figure style=\"width: \(Int(Self.groupRatioWidth))px\">\n" + groupRatioPlot(view) + "\n<figcaption>Per-seed ratio t<sub>w</sub>/t<sub>a</sub> for every measure (highlighted: selected); diamond and bar: mean and 95% CI.</figcaption>\n</figure>\n</div>\n"
        out += groupTable(view)
        out += "<div class=\"figrow\">\n"
        out += "<figure style=\"width: \(Int(Self.groupSmallWidth))px\">\n" + [ScaleKind.linear, .log].map { groupRawPlot(view, column: "loss", smooth: true, scale: $0) }.joined(separator: "\n")
        out += "\n<figcaption>Training loss of the step's batch, smoothed over \(w) points; mean ± 1 sd over seeds.</figcaption>\n</figure>\n"
        out += "<figure style=\"width: \(Int(Self.groupSmallWidth))px\">\n" + groupAccuracyPlot(view)
        out += "\n<figcaption>Validation accuracy where measured (every \(group.spec.evalEvery) steps and at the end); mean ± 1 sd.</figcaption>\n</figure>\n"
        out += "<figure style=\"width: \(Int(Self.groupSmallWidth))px\">\n" + [ScaleKind.linear, .log].map { groupRawPlot(view, column: "pattern_change_init", smooth: false, scale: $0) }.joined(separator: "\n")
        out += "\n<figcaption>Pattern change against the initial parameters (raw); mean ± 1 sd.</figcaption>\n</figure>\n"
        out += "</div>\n"
        if let summary = view.summary, summary.timing != nil || summary.timingLRNormalized != nil {
            out += timingSection(relative: summary.timing, lrNormalized: summary.timingLRNormalized, groupID: group.id)
        }
        out += groupParameters(view)
        out += "<p class=\"trials-list\">Trials: "
        out += view.trials.map { t in
            "<a href=\"#trial-\(Markup.escape(t.trialID))\">seed \(t.spec.seed)</a><span class=\"status status-\(Markup.escape(t.status.replacingOccurrences(of: " ", with: "-")))\">\(Markup.escape(t.status))</span>"
        }.joined(separator: " ")
        out += "</p>\n</section>\n"
        return out
    }

    func groupParameters(_ view: GroupView) -> String {
        let s = view.group.spec
        var rows: [(String, String)] = [
            ("arch", s.arch),
            ("dataset", canonical(s.dataset)),
            ("optimizer", canonical(s.optimizer)),
            ("schedule", canonical(s.schedule)),
            ("batch size, iterations", "\(s.batchSize), \(s.iterations) (recorded every \(s.recordEvery))"),
            ("analysis", canonical(input.options)),
            ("seeds", view.trials.map { "\($0.spec.seed)" }.joined(separator: ", ")),
        ]
        rows = rows.filter { !$0.1.isEmpty }
        return "<details><summary>Parameters</summary>\n<dl class=\"params\">" + rows.map {
            "<dt>\(Markup.escape($0.0))</dt><dd>\(Markup.escape($0.1))</dd>"
        }.joined() + "</dl>\n</details>\n"
    }

    func canonical<T: Encodable>(_ value: T) -> String {
        guard let data = try? JSONCoding.encoder().encode(value) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    func groupTable(_ view: GroupView) -> String {
        var out = "<table class=\"summary\">\n<thead><tr><th>measure</th><th>t<sub>a</sub> (patterns), steps</th><th>t<sub>w</sub> (weights), steps</th><th>ratio t<sub>w</sub>/t<sub>a</sub></th><th>t<sub>a</sub> &lt; t<sub>w</sub></th></tr></thead>\n<tbody>\n"
        for (k, key) in measureKeys.enumerated() {
            guard let m = view.summary?.decay[key] else { continue }
            out += "<tr class=\"row-\(k)\"><td>\(Markup.escape(ReportFormat.measure(key)))</td>"
            out += "<td>\(statCell(m.tA, format: ReportFormat.time))</td>"
            out += "<td>\(statCell(m.tW, format: ReportFormat.time))</td>"
            out += "<td>\(statCell(m.ratio, format: ReportFormat.ratio))</td>"
            out += "<td>\(m.ordering.decided > 0 ? "\(m.ordering.taFirst)/\(m.ordering.decided)" : "<span class=\"muted\">-</span>")</td></tr>\n"
        }
        out += "</tbody>\n</table>\n"
        out += "<p class=\"muted\">mean [95% Student-t CI] over seeds, n = seeds measured; censored seeds (the curve never stayed below the threshold within the run) are counted, never averaged in.</p>\n"
        return out
    }

    /// Normalised weight-update and pattern-change curves of a group with its markers.
    func groupDecayPlot(_ view: GroupView, scale: ScaleKind) -> String {
        let ok = view.okTrials
        let iterations = ok.first(where: { $0.curve != nil })?.iterations ?? view.group.iterations.map(Double.init)
        let w = Self.acrossSeeds(ok.compactMap(\.normalizedW))
        let a = Self.acrossSeeds(ok.compactMap(\.normalizedA))
        var plot = SVGPlot(id: "group-\(view.group.id)-decay-\(scale == .log ? "log" : "lin")", width: Self.groupDecayWidth, height: 390)
        plot.cssClass = scale == .log ? "scale-log" : "scale-lin"
        plot.title = "Normalised curves (\(ok.count) seed\(ok.count == 1 ? "" : "s"))\(scale == .log ? ", log y" : "")"
        plot.xLabel = "iteration (optimizer steps)"
        plot.yLabel = "smoothed / early peak (unitless)"
        plot.yScale = scale
        plot.emptyMessage = "no finished trial with curves"
        addDecayCurves(&plot, iterations: iterations, w: w.mean, wsd: w.sd, a: a.mean, asd: a.sd, width: 2)
        plot.xDomain = (0, Double(view.group.spec.iterations))
        addDecayDecorations(&plot, spec: view.group.spec, legend: true)
        plot.legendAlternatives = measureKeys.enumerated().map {
            SVGPlot.LegendEntry(label: "markers: \(ReportFormat.measure($0.element))", color: "#333333", kind: .text, cssClass: measureClass($0.offset))
        }
        // Markers: mean over seeds at each measure.
        for (k, key) in measureKeys.enumerated() {
            guard let m = view.summary?.decay[key] else { continue }
            addMarkers(&plot, tA: m.tA, tW: m.tW, k: k, key: key)
        }
        if let knee = view.summary?.timing?.knee { addKneeMarkers(&plot, knee) }
        return plot.render()
    }

    /// Both knees (the end of each curve's fast phase, docs/decay-estimators.md): dotted markers at
    /// the median over seeds, shown whatever measure is selected; when a knee does not apply for
    /// any seed, a note says why instead.
    func addKneeMarkers(_ plot: inout SVGPlot, _ knee: EstimatorGroupSummary) {
        for (b, symbol, color, row) in [(knee.tA, "knee_a", Self.patternColor, 2), (knee.tW, "knee_w", Self.weightColor, 3)] {
            if let median = b.median {
                var label = "\(symbol) = \(ReportFormat.time(median)) (median)"
                if b.missing > 0 { label += ", \(b.missing) without a knee" }
                plot.markers.append(SVGPlot.VMarker(x: median, label: label, color: color, dash: "1 3", span: nil, row: row))
            } else {
                plot.notes.append(SVGPlot.Note(text: "\(symbol): no knee in any seed (censored or no decay)", color: color, row: row))
            }
        }
    }

    func addDecayCurves(_ plot: inout SVGPlot, iterations: [Double], w: [Double], wsd: [Double]?, a: [Double], asd: [Double]?, width: Double) {
        if let wsd, !w.isEmpty {
            plot.bands.append(SVGPlot.Band(color: Self.weightColor, x: iterations, lower: zip(w, wsd).map { $0 - $1 }, upper: zip(w, wsd).map { $0 + $1 }))
        }
        if let asd, !a.isEmpty {
            plot.bands.append(SVGPlot.Band(color: Self.patternColor, x: iterations, lower: zip(a, asd).map { $0 - $1 }, upper: zip(a, asd).map { $0 + $1 }))
        }
        if !w.isEmpty { plot.lines.append(SVGPlot.Line(label: "weight_update_rel", color: Self.weightColor, x: iterations, y: w, width: width)) }
        if !a.isEmpty { plot.lines.append(SVGPlot.Line(label: "pattern_change", color: Self.patternColor, x: iterations, y: a, width: width)) }
        let bandText = wsd != nil ? " ± 1 sd" : ""
        plot.legend = [SVGPlot.LegendEntry(label: "weight update (rel.)\(bandText)", color: Self.weightColor, kind: wsd != nil ? .band : .line),
                       SVGPlot.LegendEntry(label: "pattern change\(bandText)", color: Self.patternColor, kind: asd != nil ? .band : .line),
                       SVGPlot.LegendEntry(label: "t_w", color: Self.weightColor, kind: .dashedLine),
                       SVGPlot.LegendEntry(label: "t_a", color: Self.patternColor, kind: .dashedLine)]
        // y range: the curves (not the bands, whose lower edge may be <= 0), at least up to 1.
        let values = (w + a).filter { $0.isFinite }
        if plot.yScale == .log {
            let positive = values.filter { $0 > 0 }
            let lo = max(positive.min() ?? 1e-3, 1e-4)
            let hi = max((zip(w, wsd ?? w.map { _ in 0 }).map { $0 + $1 } + zip(a, asd ?? a.map { _ in 0 }).map { $0 + $1 })
                            .filter(\.isFinite).max() ?? 1, 1)
            plot.yDomain = (lo, hi)
        } else {
            let hi = max((zip(w, wsd ?? w.map { _ in 0 }).map { $0 + $1 } + zip(a, asd ?? a.map { _ in 0 }).map { $0 + $1 })
                            .filter(\.isFinite).max() ?? 1, 1)
            let t = NiceTicks.linear(lo: 0, hi: hi, count: 6)
            plot.yDomain = (0, t.hi)
        }
    }

    /// Peak window, threshold lines (one per threshold measure, shown when selected).
    func addDecayDecorations(_ plot: inout SVGPlot, spec: TrialSpec, legend: Bool) {
        switch input.options.normalization {
        case .earlyPeak(let window, let skip):
            plot.spans.append(SVGPlot.VSpan(x1: Double(skip), x2: Double(window), label: "early-peak window"))
            if legend { plot.legend.append(SVGPlot.LegendEntry(label: "early-peak window", color: "#000000", kind: .shade)) }
        case .valueAt(let iteration):
            plot.vLines.append(SVGPlot.VLine(x: Double(iteration), label: "reference"))
        }
        for (k, key) in measureKeys.enumerated() {
            guard let eps = Double(key) else { continue }
            plot.hLines.append(SVGPlot.HLine(y: eps, label: "\u{03B5} = \(key)", color: Self.thresholdColor, cssClass: measureClass(k)))
        }
    }

    /// t_a and t_w markers of measure `k` (mean and CI, or one trial's values); censored ones as text.
    func addMarkers(_ plot: inout SVGPlot, tA: SampleSummary, tW: SampleSummary, k: Int, key: String, compact: Bool = false) {
        let cls = measureClass(k)
        let name = ReportFormat.measureShort(key)
        for (s, symbol, color, row) in [(tA, "t_a", Self.patternColor, 0), (tW, "t_w", Self.weightColor, 1)] {
            if let mean = s.mean {
                var label = compact ? "\(symbol) = \(ReportFormat.time(mean))" : "\(symbol)(\(name)) = \(ReportFormat.time(mean))"
                if s.censored > 0 { label += " (\(s.censored) censored)" }
                let span = s.ciLow.flatMap { lo in s.ciHigh.map { (lo, $0) } }
                plot.markers.append(SVGPlot.VMarker(x: mean, label: label, color: color, span: span, row: row, cssClass: cls))
            } else {
                let text: String
                if compact {
                    text = s.censored > 0 ? "\(symbol) censored" : "\(symbol): no data"
                } else {
                    text = s.censored > 0 ? "\(symbol)(\(name)) censored (\(s.censored) of \(s.censored + s.n))" : "\(symbol)(\(name)): no data"
                }
                plot.notes.append(SVGPlot.Note(text: text, color: color, row: row, cssClass: cls))
            }
        }
    }

    func groupRatioPlot(_ view: GroupView) -> String {
        var plot = SVGPlot(id: "group-\(view.group.id)-ratio", width: Self.groupRatioWidth, height: 390)
        plot.title = "Ratio t_w / t_a per seed"
        plot.xLabel = "ratio t_w / t_a (unitless)"
        plot.yCategories = measureKeys.map(ReportFormat.measureShort)
        var all: [Double] = [1]
        let ok = view.okTrials
        for (k, key) in measureKeys.enumerated() {
            let ratios = ok.map { $0.analysis?.decay[key]?.ratio.value }
            all += ratios.compactMap { $0 }
            addRatioRow(&plot, row: Double(k), values: ratios, seeds: ok.map(\.spec.seed), summary: view.summary?.decay[key]?.ratio,
                        cssClass: "", allValues: &all)
        }
        configureRatioAxis(&plot, values: all)
        // Highlight of the selected measure's row.
        plot.hBands = measureKeys.indices.map {
            SVGPlot.HBand(y1: Double($0) - 0.42, y2: Double($0) + 0.42, color: "#fff3b8", cssClass: measureClass($0))
        }
        plot.vLines = [SVGPlot.VLine(x: 1, label: "t_w = t_a")]
        plot.legend = [SVGPlot.LegendEntry(label: "seed", color: "#555555", kind: .point),
                       SVGPlot.LegendEntry(label: "mean", color: "#111111", kind: .diamond),
                       SVGPlot.LegendEntry(label: "95% CI", color: "#111111", kind: .segment)]
        plot.emptyMessage = "no ratio measured"
        return plot.render()
    }

    /// Mean ± sd over ok seeds of a raw column (optionally smoothed like the decay detector).
    func groupRawPlot(_ view: GroupView, column: String, smooth: Bool, scale: ScaleKind) -> String {
        let ok = view.okTrials
        let w = input.options.smoothing
        let curves = ok.compactMap { t -> [Double]? in
            guard let c = t.curve?.values(column) else { return nil }
            return smooth ? DecayRules.smooth(c, window: w) : c
        }
        let stats = Self.acrossSeeds(curves)
        let iterations = ok.first(where: { $0.curve != nil })?.iterations ?? []
        var plot = SVGPlot(id: "group-\(view.group.id)-\(column)-\(scale == .log ? "log" : "lin")", width: Self.groupSmallWidth, height: 250)
        plot.cssClass = scale == .log ? "scale-log" : "scale-lin"
        let names = ["loss": ("Training loss", "cross-entropy (nats)"),
                     "pattern_change_init": ("Pattern change since init", "fraction of bits flipped")]
        plot.title = names[column]?.0 ?? column
        plot.yLabel = names[column]?.1 ?? column
        plot.xLabel = "iteration"
        plot.yScale = scale
        plot.xDomain = (0, Double(view.group.spec.iterations))
        plot.bands = [SVGPlot.Band(color: Self.palette[2], x: iterations, lower: zip(stats.mean, stats.sd).map { $0 - $1 },
                                   upper: zip(stats.mean, stats.sd).map { $0 + $1 })]
        plot.lines = [SVGPlot.Line(label: column, color: Self.palette[2], x: iterations, y: stats.mean)]
        plot.legend = [SVGPlot.LegendEntry(label: "mean ± 1 sd", color: Self.palette[2], kind: .band)]
        setRawYDomain(&plot, values: stats.mean, upper: zip(stats.mean, stats.sd).map { $0 + $1 })
        plot.emptyMessage = "no finished trial with curves"
        return plot.render()
    }

    func setRawYDomain(_ plot: inout SVGPlot, values: [Double], upper: [Double]) {
        let finite = values.filter(\.isFinite)
        let hi = (upper + values).filter(\.isFinite).max()
        if plot.yScale == .log {
            let positive = finite.filter { $0 > 0 }
            if let lo = positive.min(), let hi = hi { plot.yDomain = (lo, max(hi, lo * 1.01)) }
        } else if let hi {
            plot.yDomain = (min(0, finite.min() ?? 0), hi)
            plot.snapY = true
        }
    }

    /// Always on a linear axis from 0 to 1 (a log scale says nothing about an accuracy).
    func groupAccuracyPlot(_ view: GroupView) -> String {
        let scale = ScaleKind.linear
        let ok = view.okTrials
        var plot = SVGPlot(id: "group-\(view.group.id)-accuracy", width: Self.groupSmallWidth, height: 250)
        plot.title = "Validation accuracy (linear y)"
        plot.yLabel = "accuracy (fraction correct)"
        plot.xLabel = "iteration"
        plot.yScale = scale
        plot.xDomain = (0, Double(view.group.spec.iterations))
        let curves = ok.compactMap { $0.curve?.values("val_accuracy") }
        let stats = Self.acrossSeeds(curves)
        let iterations = ok.first(where: { $0.curve != nil })?.iterations ?? []
        let measured = stats.mean.indices.filter { stats.mean[$0].isFinite && $0 < iterations.count }
        let xs = measured.map { iterations[$0] }, ys = measured.map { stats.mean[$0] }, sds = measured.map { stats.sd[$0] }
        plot.bands = [SVGPlot.Band(color: Self.palette[4], x: xs, lower: zip(ys, sds).map { $0 - $1 }, upper: zip(ys, sds).map { $0 + $1 })]
        plot.lines = [SVGPlot.Line(label: "val accuracy", color: Self.palette[4], x: xs, y: ys)]
        plot.points = zip(xs, ys).map { SVGPlot.Point(x: $0, y: $1, color: Self.palette[4], radius: 3, title: "iteration \(Int($0)): \(ReportFormat.accuracy($1))") }
        plot.legend = [SVGPlot.LegendEntry(label: "mean ± 1 sd", color: Self.palette[4], kind: .band)]
        if scale == .linear {
            plot.yDomain = (0, 1)
        } else if let lo = ys.filter({ $0 > 0 }).min() {
            plot.yDomain = (lo, 1)
        }
        plot.emptyMessage = "not measured"
        return plot.render()
    }

    // MARK: - Trial

    func trialSection(_ t: TrialView, group: GroupView, groupNumber: Int) -> String {
        let id = Markup.escape(t.trialID)
        let statusClass = "status-" + t.status.replacingOccurrences(of: " ", with: "-")
        var out = "<section class=\"card trial\" id=\"trial-\(id)\">\n"
        out += "<h3>Trial \(id) · seed \(t.spec.seed) · <a href=\"#group-\(Markup.escape(group.group.id))\">G\(groupNumber)</a> \(Markup.escape(group.shortLabel)) <span class=\"status \(Markup.escape(statusClass))\">\(Markup.escape(t.status))</span></h3>\n"
        out += "<p class=\"meta\">"
        if let r = t.entry?.result {
            out += "<span>final val accuracy \(r.finalValAccuracy.map { Markup.escape(ReportFormat.accuracy($0)) } ?? "<span class=\"muted\">not measured</span>")</span>"
            out += "<span>final loss \(r.finalLoss.map { Markup.escape(ReportFormat.loss($0)) } ?? "<span class=\"muted\">none</span>")</span>"
            out += "<span>\(r.iterations)/\(t.spec.iterations) iterations</span>"
            out += "<span>wall \(Markup.escape(ReportFormat.seconds(r.wallSeconds)))</span>"
            out += "<span>rank \(t.entry!.rank) on \(Markup.escape(t.entry!.host))</span>"
        } else {
            out += "<span class=\"muted\">not in the journal: this trial has not finished</span>"
        }
        out += "</p>\n"
        if let error = t.entry?.result.error {
            out += "<p class=\"error\">\(Markup.escape(error))</p>\n"
        }
        if let error = t.curveError {
            out += "<p class=\"error\">\(Markup.escape(error))</p>\n"
        }
        if let decay = t.analysis?.decay {
            out += "<table class=\"decay\">\n<thead><tr><th>measure</th><th>t<sub>a</sub>, steps</th><th>t<sub>w</sub>, steps</th><th>ratio t<sub>w</sub>/t<sub>a</sub></th></tr></thead>\n<tbody>\n"
            for (k, key) in measureKeys.enumerated() {
                guard let c = decay[key] else { continue }
                out += "<tr class=\"row-\(k)\"><td>\(Markup.escape(ReportFormat.measure(key)))</td>"
                out += "<td>\(timeCell(c.tA))</td><td>\(timeCell(c.tW))</td>"
                out += "<td>\(estimateCell(c.ratio, format: ReportFormat.ratio))</td></tr>\n"
            }
            out += "</tbody>\n</table>\n"
        }
        if let analysis = t.analysis { out += trialTimingTable(analysis) }
        if t.curve != nil {
            out += "<div class=\"figrow\">\n"
            for scale in [ScaleKind.linear, .log] {
                out += trialDecayPlot(t, scale: scale) + "\n"
            }
            for scale in [ScaleKind.linear, .log] { out += trialRawPlot(t, column: "loss", layers: false, scale: scale) + "\n" }
            for scale in [ScaleKind.linear, .log] { out += trialRawPlot(t, column: "pattern_change", layers: true, scale: scale) + "\n" }
            for scale in [ScaleKind.linear, .log] { out += trialRawPlot(t, column: "weight_update_rel", layers: true, scale: scale) + "\n" }
            out += "</div>\n<p class=\"muted\">Left: normalised like the decay estimators (moving average over \(input.options.smoothing) points / reference) with this trial's t<sub>a</sub>, t<sub>w</sub>. Others: raw values smoothed over \(input.options.smoothing) points; per layer where recorded.</p>\n"
        } else if t.entry != nil {
            out += "<p class=\"muted\">No curve file (the trial stopped before recording).</p>\n"
        }
        out += "</section>\n"
        return out
    }

    func timeCell(_ t: TimeEstimate) -> String { estimateCell(t, format: { "\(Int($0))" }) }

    func trialDecayPlot(_ t: TrialView, scale: ScaleKind) -> String {
        var plot = SVGPlot(id: "trial-\(t.trialID)-decay-\(scale == .log ? "log" : "lin")", width: Self.trialWidth, height: 230)
        plot.cssClass = scale == .log ? "scale-log" : "scale-lin"
        plot.title = "Normalised curves"
        plot.xLabel = "iteration"
        plot.yLabel = "smoothed / early peak"
        plot.yScale = scale
        plot.xTickCount = 4
        plot.xDomain = (0, Double(t.spec.iterations))
        addDecayCurves(&plot, iterations: t.iterations, w: t.normalizedW ?? [], wsd: nil, a: t.normalizedA ?? [], asd: nil, width: 1.4)
        plot.legend = [SVGPlot.LegendEntry(label: "weight upd.", color: Self.weightColor, kind: .line),
                       SVGPlot.LegendEntry(label: "pattern ch.", color: Self.patternColor, kind: .line)]
        addDecayDecorations(&plot, spec: t.spec, legend: false)
        if t.normalizedW == nil || t.normalizedA == nil {
            plot.notes.append(SVGPlot.Note(text: "no positive early peak: not normalised", color: "#a02233", row: 2, cssClass: nil))
        }
        if let decay = t.analysis?.decay {
            for (k, key) in measureKeys.enumerated() {
                guard let c = decay[key] else { continue }
                addMarkers(&plot, tA: SampleSummary([c.tA.value]), tW: SampleSummary([c.tW.value]), k: k, key: key, compact: true)
            }
        }
        plot.emptyMessage = "no curve"
        return plot.render()
    }

    func trialRawPlot(_ t: TrialView, column: String, layers: Bool, scale: ScaleKind) -> String {
        var plot = SVGPlot(id: "trial-\(t.trialID)-\(column)-\(scale == .log ? "log" : "lin")", width: Self.trialWidth, height: 230)
        plot.cssClass = scale == .log ? "scale-log" : "scale-lin"
        let names = ["loss": ("Training loss", "nats"),
                     "pattern_change": ("Pattern change per layer", "fraction of bits flipped"),
                     "weight_update_rel": ("Weight update per layer", "\u{2016}\u{0394}\u{03B8}\u{2016} / \u{2016}\u{03B8}\u{2016}")]
        plot.title = names[column]?.0 ?? column
        plot.yLabel = names[column]?.1 ?? ""
        plot.xLabel = "iteration"
        plot.yScale = scale
        plot.xTickCount = 4
        plot.xDomain = (0, Double(t.spec.iterations))
        guard let table = t.curve else { return plot.render() }
        let w = input.options.smoothing
        var series: [(String, [Double])] = []
        if let all = table.values(column) { series.append((layers ? "all layers" : column, all)) }
        if layers {
            for name in table.header where name.hasPrefix(column + ".") {
                series.append((String(name.dropFirst(column.count + 1)), table.values(name)!))
            }
        }
        var values: [Double] = []
        for (n, (name, raw)) in series.enumerated() {
            let s = DecayRules.smooth(raw, window: w)
            values += s
            let color = n == 0 && layers ? "#222222" : Self.palette[(n + (layers ? 1 : 2)) % Self.palette.count]
            plot.lines.append(SVGPlot.Line(label: name, color: color, x: t.iterations, y: s, width: n == 0 ? 1.6 : 1.1, dash: nil))
            if layers || series.count > 1 {
                plot.legend.append(SVGPlot.LegendEntry(label: name, color: color, kind: .line))
            }
        }
        setRawYDomain(&plot, values: values, upper: values)
        return plot.render()
    }

    func footer() -> String {
        var out = "<section id=\"notes\" class=\"card\">\n<h2>Notes</h2>\n<ul>\n"
        out += "<li>Decay detection (docs/numerics.md): the curve is smoothed with a trailing moving average over the sweep's <code>decay.smoothing</code> recorded points and divided by its early peak, the maximum over iterations <code>peak_skip</code>..<code>peak_window</code>; t(ε) is the first recorded iteration from which it stays below ε to the end of the run. The area rule (auc) is the first iteration at which the smoothed curve has accumulated its fraction of the total area.</li>\n"
        for note in input.summary.notes { out += "<li>\(Markup.escape(note))</li>\n" }
        out += "<li>Summary source: \(Markup.escape(input.summarySource)). Files: sweep.yaml, manifest.json, trials.jsonl, curves/&lt;trial_id&gt;.csv, groups/&lt;group_id&gt;.csv, summary.json, summary.csv.</li>\n"
        out += "</ul>\n<p class=\"muted\">Written by <code>regime report</code>; the same directory gives the same bytes.</p>\n</section>\n"
        return out
    }
}

/// The report of a results directory, as `regime report` writes it.
public enum ReportPage {
    /// The page's HTML (deterministic: the same directory gives the same bytes).
    public static func html(directory: URL) throws -> String {
        ReportBuilder(input: try ReportInput.load(directory)).html()
    }
}
