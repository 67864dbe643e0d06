import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore

extension ReportBuilder {

    /// The first screen: one plain line per group, whether patterns settle before weights
    /// (``Verdict``), then every definition's call.
    func verdicts() -> String {
        var out = "<section id=\"verdict\" class=\"card\">\n<h2>Do activation patterns settle before weight updates?</h2>\n<ul class=\"verdicts\">\n"
        for (g, group) in groups.enumerated() {
            guard let summary = group.summary else { continue }
            let call = summary.verdict.call.rawValue
            out += "<li><a href=\"#group-\(Markup.escape(group.group.id))\">G\(g + 1)</a> \(Markup.escape(group.shortLabel)): "
            out += "<b class=\"verdict verdict-\(call)\">\(Markup.escape(call))</b> \(Markup.escape(String(summary.verdict.line.dropFirst(call.count + 1))))</li>\n"
        }
        out += "</ul>\n<table class=\"definitions\">\n<thead><tr><th>group</th>"
        let names = groups.first?.summary?.definitions.map(\.definition) ?? []
        for name in names { out += "<th>\(Markup.escape(name))</th>" }
        out += "</tr></thead>\n<tbody>\n"
        for (g, group) in groups.enumerated() {
            guard let summary = group.summary else { continue }
            out += "<tr><td class=\"text\">G\(g + 1)</td>"
            for d in summary.definitions {
                let call = d.transient ? "transient" : d.call.rawValue
                out += "<td><span class=\"verdict verdict-\(call)\">\(call)</span><br/>\(ratioCell(d.ratio))</td>"
            }
            out += "</tr>\n"
        }
        out += "</tbody>\n</table>\n<p class=\"muted\">Per definition: yes when the geometric-mean interval of t<sub>w</sub>/t<sub>a</sub> and the censoring-aware median bound lie above 1 and the exact sign test gives p &lt; 0.05; no when the interval lies below \(Verdict.noSeparation); otherwise undecided. A group says yes or no when two thirds of its definitions agree and none disagrees. Ratios: median with its order-statistic interval and real coverage.</p>\n</section>\n"
        return out
    }

    func overview() -> String {
        var out = "<section id=\"overview\" class=\"card\">\n<h2>Overview</h2>\n"
        out += "<p class=\"lead\">t<sub>a</sub>: when the activation-pattern change (<code>pattern_change</code>) has decayed; t<sub>w</sub>: when the relative weight update (<code>weight_update_rel</code>) has decayed; ratio = t<sub>w</sub>/t<sub>a</sub> per seed (&gt; 1: the patterns settle before the weights). Times are optimizer steps; ratios: median over seeds with its exact order-statistic interval and coverage.</p>\n"
        out += "<div class=\"figrow\">\n<figure>\n" + forestPlot() + "\n<figcaption>Ratio t<sub>w</sub>/t<sub>a</sub> per group at the selected measure: dots are seeds, the diamond the median, the bar its order-statistic interval (none below 6 seeds). Dotted line: t<sub>w</sub> = t<sub>a</sub>.</figcaption>\n</figure>\n</div>\n"
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
                    out += "<td>\(ratioCell(group.summary?.definition(forDecayKey: key)?.ratio))<br/><span class=\"muted\">t<sub>a</sub>&lt;t<sub>w</sub> in \(m.ordering.taFirst)/\(m.ordering.decided)</span></td>"
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
                            summary: group.summary?.definition(forDecayKey: key)?.ratio.median, cssClass: measureClass(k), allValues: &allValues)
            }
        }
        configureRatioAxis(&plot, values: allValues)
        plot.vLines = [SVGPlot.VLine(x: 1, label: "t_w = t_a")]
        plot.legend = [SVGPlot.LegendEntry(label: "seed", color: "#555555", kind: .point),
                       SVGPlot.LegendEntry(label: "median", color: "#111111", kind: .diamond),
                       SVGPlot.LegendEntry(label: "order-statistic CI of the median", color: "#111111", kind: .segment)]
        plot.legendAlternatives = measureKeys.enumerated().map {
            SVGPlot.LegendEntry(label: "measure: \(ReportFormat.measure($0.element))", color: "#333333", kind: .text, cssClass: measureClass($0.offset))
        }
        plot.emptyMessage = "no finished trial"
        return plot.render()
    }

    /// A ratio's median with its interval and real coverage, and the censoring counts.
    func ratioCell(_ r: RatioSummary?) -> String {
        guard let r else { return "<span class=\"muted\">no data</span>" }
        var text = Markup.escape(Verdict.describe(r.median))
        let censored = r.twCensored + r.taCensored + r.bothCensored
        if censored > 0 { text += " <span class=\"censored\">+\(censored) censored</span>" }
        return text
    }

    /// Seeds as dots spread around `row`, the median as a diamond and its order-statistic
    /// interval as a bar (when one exists); censored seeds counted at the right.
    func addRatioRow(_ plot: inout SVGPlot, row: Double, values: [Double?], seeds: [UInt64], summary: MedianSummary?,
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
            if let lo = s.interval.low, let hi = s.interval.high {
                plot.segments.append(SVGPlot.Segment(x1: lo, y1: row, x2: hi, y2: row, color: "#111111", width: 2.5, cssClass: cssClass))
                allValues += [lo, hi]
            }
            if let median = s.median {
                plot.points.append(SVGPlot.Point(x: median, y: row, color: "#111111", radius: 6, shape: .diamond,
                                                 title: "median ratio \(ReportFormat.ratio(median))", cssClass: cssClass))
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
}
