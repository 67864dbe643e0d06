import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore

extension ReportBuilder {

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

    /// A group's full section (`view` with its curves), on a page at `location`.
    func groupSection(_ view: GroupView, number: Int, from location: PageLocation) -> String {
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
        out += "</figure>\n<figure style=\"width: \(Int(Self.groupRatioWidth))px\">\n" + groupRatioPlot(view) + "\n<figcaption>Per-seed ratio t<sub>w</sub>/t<sub>a</sub> for every measure (highlighted: selected); diamond and bar: median and its order-statistic interval (none below 6 seeds).</figcaption>\n</figure>\n</div>\n"
        out += groupTable(view)
        out += "<div class=\"figrow\">\n"
        out += "<figure style=\"width: \(Int(Self.groupSmallWidth))px\">\n" + [ScaleKind.linear, .log].map { groupRawPlot(view, column: "loss", smooth: true, scale: $0) }.joined(separator: "\n")
        out += "\n<figcaption>Training loss of the step's batch, smoothed over \(w) points; mean ± 1 sd over seeds.</figcaption>\n</figure>\n"
        out += "<figure style=\"width: \(Int(Self.groupSmallWidth))px\">\n" + groupAccuracyPlot(view)
        out += "\n<figcaption>Validation accuracy where measured (every \(group.spec.evalEvery) steps and at the end); mean ± 1 sd.</figcaption>\n</figure>\n"
        out += "<figure style=\"width: \(Int(Self.groupSmallWidth))px\">\n" + [ScaleKind.linear, .log].map { groupRawPlot(view, column: "pattern_change_init", smooth: false, scale: $0) }.joined(separator: "\n")
        out += "\n<figcaption>Pattern change against the initial parameters (raw); mean ± 1 sd.</figcaption>\n</figure>\n"
        out += "</div>\n"
        out += instrumentPanel(view)
        if let summary = view.summary, summary.timing != nil || summary.timingLRNormalized != nil {
            out += timingSection(relative: summary.timing, lrNormalized: summary.timingLRNormalized, groupID: group.id)
        }
        out += groupParameters(view)
        out += trialList(view, from: location)
        out += "</section>\n"
        return out
    }

    /// The links to a group's trial pages, with each trial's status.
    func trialList(_ view: GroupView, from location: PageLocation) -> String {
        "<p class=\"trials-list\">Trials: " + view.trials.map { t in
            "<a href=\"\(trialLink(t.trialID, from: location))\">seed \(t.spec.seed)</a><span class=\"status status-\(Markup.escape(t.status.replacingOccurrences(of: " ", with: "-")))\">\(Markup.escape(t.status))</span>"
        }.joined(separator: " ") + "</p>\n"
    }

    /// A group on the first page of a large sweep: its verdict, counts and normalised curves, with
    /// links to its page and its trials' pages.
    func groupCard(_ view: GroupView, number: Int) -> String {
        let id = Markup.escape(view.group.id)
        var out = "<section class=\"card group\" id=\"group-\(id)\">\n"
        out += "<h3>G\(number): \(Markup.escape(view.shortLabel))</h3>\n<p class=\"meta\">"
        if let s = view.summary {
            let call = s.verdict.call.rawValue
            out += "<span><b class=\"verdict verdict-\(call)\">\(Markup.escape(call))</b></span>"
            out += "<span>\(s.ok)/\(s.trials) ok\(s.diverged > 0 ? ", \(s.diverged) diverged" : "")\(s.failed > 0 ? ", \(s.failed) failed" : "")</span>"
            out += "<span>final val accuracy \(statCell(s.finalValAccuracy, format: ReportFormat.accuracy))</span>"
        }
        out += "<span><a href=\"\(groupLink(view.group.id, from: .first))\">all plots and tables of G\(number)</a></span></p>\n"
        out += groupDecayPlot(view, scale: .log, compact: true) + "\n"
        out += trialList(view, from: .first)
        out += "</section>\n"
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
            out += "<td>\(ratioCell(view.summary?.definition(forDecayKey: key)?.ratio))</td>"
            out += "<td>\(m.ordering.decided > 0 ? "\(m.ordering.taFirst)/\(m.ordering.decided)" : "<span class=\"muted\">-</span>")</td></tr>\n"
        }
        out += "</tbody>\n</table>\n"
        out += "<p class=\"muted\">times: mean [95% Student-t CI] over seeds, n = seeds measured; ratio: median [order-statistic interval] with its coverage; censored seeds (the curve never stayed below the threshold within the run) are counted, never averaged in.</p>\n"
        return out
    }

    /// Normalised weight-update and pattern-change curves of a group with its markers; `compact`:
    /// the first page's card of a large sweep (about 6 KB: smaller, log y only, the mean curves
    /// without their sd band at every k-th recorded point (at most ``cardCurvePoints``; the curves
    /// are moving averages already), no threshold lines, no legend: the section's lead names the
    /// colours). The markers are the summary's times either way.
    func groupDecayPlot(_ view: GroupView, scale: ScaleKind, compact: Bool = false) -> String {
        let ok = view.okTrials
        var iterations = ok.first(where: { $0.curve != nil })?.iterations ?? view.group.iterations.map(Double.init)
        var w = Self.acrossSeeds(ok.compactMap(\.normalizedW))
        var a = Self.acrossSeeds(ok.compactMap(\.normalizedA))
        if compact {
            let every = max(1, (iterations.count + Self.cardCurvePoints - 1) / Self.cardCurvePoints)
            var indices = Array(stride(from: 0, to: iterations.count, by: every))
            if let last = indices.last, last != iterations.count - 1 { indices.append(iterations.count - 1) }
            func sample(_ values: [Double]) -> [Double] { indices.filter { $0 < values.count }.map { values[$0] } }
            iterations = sample(iterations)
            w.mean = sample(w.mean)
            a.mean = sample(a.mean)
        }
        var plot = SVGPlot(id: "group-\(view.group.id)-decay-\(scale == .log ? "log" : "lin")",
                           width: compact ? Self.groupCardWidth : Self.groupDecayWidth, height: compact ? 190 : 390)
        plot.cssClass = compact ? nil : scale == .log ? "scale-log" : "scale-lin"
        plot.title = "Normalised curves (\(ok.count) seed\(ok.count == 1 ? "" : "s"))\(scale == .log ? ", log y" : "")"
        plot.xLabel = compact ? "" : "iteration (optimizer steps)"
        plot.yLabel = compact ? "" : "smoothed / early peak (unitless)"
        if compact {
            plot.xTickCount = 5
            plot.yTickCount = 4
        }
        plot.yScale = scale
        plot.emptyMessage = "no finished trial with curves"
        addDecayCurves(&plot, iterations: iterations, w: w.mean, wsd: compact ? nil : w.sd, a: a.mean, asd: compact ? nil : a.sd,
                       width: compact ? 1.6 : 2)
        plot.xDomain = (0, Double(view.group.spec.iterations))
        addDecayDecorations(&plot, spec: view.group.spec, legend: !compact)
        if compact {
            plot.legend = []
            plot.hLines = []
        } else {
            plot.legendAlternatives = measureKeys.enumerated().map {
                SVGPlot.LegendEntry(label: "markers: \(ReportFormat.measure($0.element))", color: "#333333", kind: .text, cssClass: measureClass($0.offset))
            }
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
        case .fractionOfRun(let f):
            plot.vLines.append(SVGPlot.VLine(x: f * Double(spec.iterations), label: "reference"))
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
            addRatioRow(&plot, row: Double(k), values: ratios, seeds: ok.map(\.spec.seed), summary: view.summary?.definition(forDecayKey: key)?.ratio.median,
                        cssClass: "", allValues: &all)
        }
        configureRatioAxis(&plot, values: all)
        // Highlight of the selected measure's row.
        plot.hBands = measureKeys.indices.map {
            SVGPlot.HBand(y1: Double($0) - 0.42, y2: Double($0) + 0.42, color: "#fff3b8", cssClass: measureClass($0))
        }
        plot.vLines = [SVGPlot.VLine(x: 1, label: "t_w = t_a")]
        plot.legend = [SVGPlot.LegendEntry(label: "seed", color: "#555555", kind: .point),
                       SVGPlot.LegendEntry(label: "median", color: "#111111", kind: .diamond),
                       SVGPlot.LegendEntry(label: "order-statistic CI", color: "#111111", kind: .segment)]
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
}
