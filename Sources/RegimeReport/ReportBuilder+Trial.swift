import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore

extension ReportBuilder {

    func trialSection(_ t: TrialView, group: GroupView, groupNumber: Int) -> String {
        let id = Markup.escape(t.trialID)
        let statusClass = "status-" + t.status.replacingOccurrences(of: " ", with: "-")
        var out = "<section class=\"card trial\" id=\"trial-\(id)\">\n"
        out += "<h3>Trial \(id) · seed \(t.spec.seed) · <a href=\"\(groupLink(group.group.id, from: .inFolder))\">G\(groupNumber)</a> \(Markup.escape(group.shortLabel)) <span class=\"status \(Markup.escape(statusClass))\">\(Markup.escape(t.status))</span></h3>\n"
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
        out += trialInstruments(t)
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

    /// The column (and with `layers` its per-layer columns `<column>.<layer>`) smoothed over the
    /// analysis window; `sparse`: unsmoothed, only the rows that have a value, as points joined by
    /// lines (a column measured at a few iterations, like `excess_flips`). `title`: title and y
    /// label, for a column without its own below.
    func trialRawPlot(_ t: TrialView, column: String, layers: Bool, scale: ScaleKind, title: (String, String)? = nil,
                      sparse: Bool = false) -> String {
        var plot = SVGPlot(id: "trial-\(t.trialID)-\(column)-\(scale == .log ? "log" : "lin")", width: Self.trialWidth, height: 230)
        plot.cssClass = scale == .log ? "scale-log" : "scale-lin"
        let names = ["loss": ("Training loss", "nats"),
                     "pattern_change": ("Pattern change per layer", "fraction of bits flipped"),
                     "weight_update_rel": ("Weight update per layer", "\u{2016}\u{0394}\u{03B8}\u{2016} / \u{2016}\u{03B8}\u{2016}")]
        plot.title = title?.0 ?? names[column]?.0 ?? column
        plot.yLabel = title?.1 ?? names[column]?.1 ?? ""
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
            let s = sparse ? raw : DecayRules.smooth(raw, window: w)
            values += s
            let color = n == 0 && layers ? "#222222" : Self.palette[(n + (layers ? 1 : 2)) % Self.palette.count]
            let kept = sparse ? s.indices.filter { s[$0].isFinite && $0 < t.iterations.count } : nil
            let x = kept?.map { t.iterations[$0] } ?? t.iterations, y = kept?.map { s[$0] } ?? s
            plot.lines.append(SVGPlot.Line(label: name, color: color, x: x, y: y, width: n == 0 ? 1.6 : 1.1, dash: nil))
            if sparse { plot.points += zip(x, y).map { SVGPlot.Point(x: $0, y: $1, color: color, radius: 2) } }
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
