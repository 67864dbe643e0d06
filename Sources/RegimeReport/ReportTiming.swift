import Foundation
import RegimeAnalysis
import RegimeCore

/// The robust-timing parts of the report (docs/decay-estimators.md): per group, `R(eps)` over the
/// epsilon grid and the scalar estimators (half-life, knee, time constant, area) as medians with
/// percentile-bootstrap intervals, from `timing` and `timing_lr_normalized` of the summary; per
/// trial, its own estimator times. A missing estimate is shown as its reason (censored, no decay,
/// not applicable), never as a number.
extension ReportBuilder {
    static let relativeColor = "#6a3d9a"
    static let lrNormalizedColor = "#1b9e77"

    func timingSection(relative: TimingGroupSummary?, lrNormalized: TimingGroupSummary?, groupID: String) -> String {
        let measures = [("weight_update_rel", "relative weight update", relative),
                        ("weight_update_rel / lr", "weight update per unit learning rate", lrNormalized)]
            .compactMap { name, text, t in t.map { (name, text, $0) } }
        guard let first = measures.first?.2 else { return "" }
        let level = String(format: "%.0f%%", 100 * first.level)
        var out = "<div class=\"timing\">\n<h4>R(\u{03B5}) and robust estimators</h4>\n<div class=\"figrow\">\n"
        out += "<figure style=\"width: \(Int(Self.groupDecayWidth))px\">\n" + ratioCurvePlot(relative: relative, lrNormalized: lrNormalized, groupID: groupID)
        out += "\n<figcaption>R(\u{03B5}) = t<sub>w</sub>(\u{03B5})/t<sub>a</sub>(\u{03B5}) across \(first.trials) seed\(first.trials == 1 ? "" : "s"): median and its \(Markup.escape(level)) percentile-bootstrap interval (\(first.resamples) resamples); seeds whose R is missing (censored or undefined) are counted in the table below, never imputed.</figcaption>\n</figure>\n</div>\n"
        for (name, text, timing) in measures {
            out += "<table class=\"timing-estimators\">\n<caption>t<sub>w</sub> from \(Markup.escape(text)) (<code>\(Markup.escape(name))</code>); median [\(Markup.escape(level)) bootstrap CI] over seeds</caption>\n"
            out += "<thead><tr><th>estimator</th><th>t<sub>a</sub> (patterns), steps</th><th>t<sub>w</sub> (weights), steps</th><th>ratio t<sub>w</sub>/t<sub>a</sub></th><th>t<sub>a</sub> first / decided</th></tr></thead>\n<tbody>\n"
            let rows: [(String, EstimatorGroupSummary)] = [("half-life (\u{03B5} = 0.5)", timing.halfLife), ("knee", timing.knee),
                                                           ("time constant \u{03C4}", timing.timeConstant), ("area", timing.area)]
            for (estimator, e) in rows {
                out += "<tr><td>\(Markup.escape(estimator))</td><td>\(bootstrapCell(e.tA, format: ReportFormat.time))</td>"
                out += "<td>\(bootstrapCell(e.tW, format: ReportFormat.time))</td><td>\(bootstrapCell(e.ratio, format: ReportFormat.ratio))</td>"
                out += "<td>\(orderCell(e.order))</td></tr>\n"
            }
            out += "</tbody>\n</table>\n"
            out += "<details><summary>R(\u{03B5}) table (\(Markup.escape(name)))</summary>\n<table class=\"timing-grid\">\n<thead><tr><th>\u{03B5}</th><th>R median [CI]</th><th>R mean [CI]</th><th>t<sub>a</sub> first / decided</th></tr></thead>\n<tbody>\n"
            for (k, eps) in timing.epsilon.enumerated() where k < timing.thresholdRatio.count {
                let r = timing.thresholdRatio[k]
                out += "<tr><td>\(Markup.escape(DecayRules.epsilonKey(eps)))</td><td>\(bootstrapCell(r, format: ReportFormat.ratio))</td>"
                out += "<td>\(bootstrapCell(r, format: ReportFormat.ratio, mean: true))</td>"
                out += "<td>\(k < timing.thresholdOrder.count ? orderCell(timing.thresholdOrder[k]) : "")</td></tr>\n"
            }
            out += "</tbody>\n</table>\n</details>\n"
        }
        out += "</div>\n"
        return out
    }

    func bootstrapCell(_ s: BootstrapSummary, format: (Double) -> String, mean: Bool = false) -> String {
        let centre = mean ? s.mean : s.median
        let lo = mean ? s.meanLow : s.medianLow
        let hi = mean ? s.meanHigh : s.medianHigh
        guard let centre else {
            return s.missing > 0 ? "<span class=\"censored\">missing</span> <span class=\"muted\">(\(s.missing) of \(s.missing + s.n))</span>"
                : "<span class=\"muted\">no data</span>"
        }
        var text = Markup.escape(format(centre))
        if let lo, let hi { text += " <span class=\"ci\">[\(Markup.escape(format(lo))), \(Markup.escape(format(hi)))]</span>" }
        text += " <span class=\"muted\">n=\(s.n)</span>"
        if s.missing > 0 { text += " <span class=\"censored\">+\(s.missing) missing</span>" }
        return text
    }

    func orderCell(_ o: OrderingFraction) -> String {
        o.decided > 0 ? "\(o.taFirst)/\(o.decided)\(o.undecided > 0 ? " <span class=\"muted\">(\(o.undecided) undecided)</span>" : "")"
            : "<span class=\"muted\">-</span>"
    }

    func ratioCurvePlot(relative: TimingGroupSummary?, lrNormalized: TimingGroupSummary?, groupID: String) -> String {
        var plot = SVGPlot(id: "group-\(groupID)-reps", width: Self.groupDecayWidth, height: 300)
        plot.title = "R(\u{03B5}) = t_w(\u{03B5}) / t_a(\u{03B5}), median over seeds"
        plot.xLabel = "threshold \u{03B5} on the normalised curve (log scale)"
        plot.yLabel = "ratio t_w / t_a (unitless)"
        plot.xScale = .log
        var values: [Double] = [1]
        var grid: [Double] = []
        for (timing, color, label) in [(relative, Self.relativeColor, "weight_update_rel"),
                                       (lrNormalized, Self.lrNormalizedColor, "weight_update_rel / lr")] {
            guard let timing else { continue }
            let n = min(timing.epsilon.count, timing.thresholdRatio.count)
            let eps = Array(timing.epsilon.prefix(n))
            let r = Array(timing.thresholdRatio.prefix(n))
            grid += eps
            let median = r.map { $0.median ?? .nan }
            let low = r.map { $0.medianLow ?? .nan }, high = r.map { $0.medianHigh ?? .nan }
            plot.bands.append(SVGPlot.Band(color: color, x: eps, lower: low, upper: high, opacity: 0.15))
            plot.lines.append(SVGPlot.Line(label: label, color: color, x: eps, y: median, width: 2))
            for (e, s) in zip(eps, r) {
                if let m = s.median {
                    plot.points.append(SVGPlot.Point(x: e, y: m, color: color, radius: 3,
                                                     title: "\(label), \u{03B5} = \(DecayRules.epsilonKey(e)): median \(ReportFormat.ratio(m)), n=\(s.n), missing \(s.missing)"))
                }
            }
            values += (median + low + high).filter(\.isFinite)
            plot.legend.append(SVGPlot.LegendEntry(label: "t_w from \(label): median, bootstrap CI", color: color, kind: .band))
        }
        plot.hLines = [SVGPlot.HLine(y: 1, label: "t_w = t_a")]
        if let lo = values.min(), let hi = values.max() { plot.yDomain = (min(lo, 1), max(hi, 1)) }
        let positive = grid.filter { $0 > 0 }
        if let lo = positive.min(), let hi = positive.max(), hi > lo { plot.xDomain = (lo, hi) }
        plot.emptyMessage = "no epsilon grid"
        return plot.render()
    }

    /// A trial's robust estimator times (both weight-update measures when recorded).
    func trialTimingTable(_ analysis: TrialAnalysis) -> String {
        let measures = [("weight_update_rel", analysis.timing), ("weight_update_rel / lr", analysis.timingLRNormalized)]
        var out = "<details><summary>Robust estimators</summary>\n<table class=\"trial-timing\">\n<thead><tr><th>t<sub>w</sub> from</th><th>estimator</th><th>t<sub>a</sub>, steps</th><th>t<sub>w</sub>, steps</th><th>ratio</th></tr></thead>\n<tbody>\n"
        for (name, t) in measures {
            for (estimator, c) in [("half-life", t.halfLife), ("knee", t.knee), ("time constant", t.timeConstant), ("area", t.area)] {
                out += "<tr><td><code>\(Markup.escape(name))</code></td><td>\(Markup.escape(estimator))</td>"
                out += "<td>\(estimateCell(c.tA, format: ReportFormat.time))</td><td>\(estimateCell(c.tW, format: ReportFormat.time))</td>"
                out += "<td>\(estimateCell(c.ratio, format: ReportFormat.ratio))</td></tr>\n"
            }
        }
        out += "</tbody>\n</table>\n</details>\n"
        return out
    }

    func estimateCell(_ e: TimeEstimate, format: (Double) -> String) -> String {
        switch e {
        case .time(let t): return Markup.escape(format(t))
        case .unavailable(let reason):
            let word: String
            switch reason {
            case .censored: word = "censored"
            case .noDecay: word = "no decay"
            case .notApplicable: word = "not applicable"
            }
            return "<span class=\"censored\">\(word)</span>"
        }
    }
}
