import Foundation
import RegimeAnalysis
import RegimeCore

/// A group's panel of the instruments that test the hypothesis directly (issue 14): stability
/// margins, flip sensitivity, excess flips over the null model, lag ratios (drift against jitter)
/// and settling to the final state. Each plot is the mean ± 1 sd over the group's ok seeds of a
/// per-trial series, and appears only when the trials' curve files have its columns (the
/// instruments are read by their column names; sweeps recorded before them show none).
extension ReportBuilder {
    /// Margin columns `margin_<δ>` (global) and the lag columns, by the names of the curve files.
    static let marginPrefix = "margin_"
    static let lagColumns: [(base: String, lags: [Int])] = [("pattern_change", [10, 100]), ("weight_update_abs", [10, 100])]

    /// One series of a panel plot: its label and colour and each ok seed's values.
    struct SeedSeries {
        var label: String
        var color: String
        var perSeed: [[Double]]
    }

    /// The panel ("" when no trial of the group has any of its columns or a settling curve).
    func instrumentPanel(_ view: GroupView) -> String {
        let ok = view.okTrials.filter { $0.curve != nil }
        guard let header = ok.first?.curve?.header else { return settlingPanel(view) }
        var figures: [String] = []
        let iterations = ok.first?.iterations ?? []
        let id = view.group.id
        let w = input.options.smoothing

        let margins = Self.marginColumns(header)
        if !margins.isEmpty {
            let series = margins.enumerated().map { k, column in
                SeedSeries(label: "δ = \(column.dropFirst(Self.marginPrefix.count))", color: Self.palette[k % Self.palette.count],
                           perSeed: ok.compactMap { $0.curve?.values(column) })
            }
            figures.append(figure(seriesPlot(id: "group-\(id)-margins", title: "Stability margin", yLabel: "fraction of pairs with |z| < δ·rms",
                                             iterations: iterations, series: series, scale: .linear, spec: view.group.spec).render(),
                                  caption: "Fraction of probe (example, unit) pairs whose pre-activation lies within δ times its layer's root-mean-square of 0 (all pattern layers); the theorem predicts it falls as patterns stabilise."))
        }
        if header.contains("flip_sensitivity") {
            let series = [SeedSeries(label: "flip sensitivity", color: Self.palette[2],
                                     perSeed: ok.compactMap { $0.curve?.values("flip_sensitivity").map { DecayRules.smooth($0, window: w) } })]
            figures.append(figure(seriesPlot(id: "group-\(id)-flip-sensitivity", title: "Flip sensitivity", yLabel: "pattern change / relative update",
                                             iterations: iterations, series: series, scale: .log, spec: view.group.spec).render(),
                                  caption: "Pattern change divided by the relative update of the parameters feeding the layers (global), smoothed over \(w) points. Constant: patterns flip in proportion to how far the weights move."))
        }
        if header.contains("excess_flips") {
            var plot = seriesPlotBase(id: "group-\(id)-excess-flips", title: "Excess flips over the null model", yLabel: "pattern change / null", scale: .log,
                                      spec: view.group.spec)
            let perSeed = ok.compactMap { $0.curve?.values("excess_flips") }
            let stats = Self.acrossSeeds(perSeed)
            let measured = stats.mean.indices.filter { stats.mean[$0].isFinite && $0 < iterations.count }
            let xs = measured.map { iterations[$0] }, ys = measured.map { stats.mean[$0] }, sds = measured.map { stats.sd[$0] }
            plot.bands = [SVGPlot.Band(color: Self.palette[3], x: xs, lower: zip(ys, sds).map { $0 - $1 }, upper: zip(ys, sds).map { $0 + $1 })]
            plot.lines = [SVGPlot.Line(label: "excess flips", color: Self.palette[3], x: xs, y: ys)]
            plot.points = zip(xs, ys).map { SVGPlot.Point(x: $0, y: $1, color: Self.palette[3], radius: 2.5, title: "iteration \(Int($0)): \(String(format: "%.3g", $1))") }
            plot.hLines = [SVGPlot.HLine(y: 1, label: "chance (1)")]
            plot.legend = [SVGPlot.LegendEntry(label: "mean ± 1 sd", color: Self.palette[3], kind: .band)]
            setRawYDomain(&plot, values: ys + [1], upper: zip(ys, sds).map { $0 + $1 })
            figures.append(figure(plot.render(), caption: "Pattern change of the real update over that of an isotropic update of the same per-layer norm, at the null model's iterations; 1: the update flips patterns as a random direction would."))
        }
        let recordEvery = view.group.spec.recordEvery
        var lagSeries: [SeedSeries] = []
        for (base, lags) in Self.lagColumns where header.contains(base) {
            for k in lags where header.contains("\(base)_lag\(k)") && k % recordEvery == 0 {
                lagSeries.append(SeedSeries(label: "\(base) lag \(k)", color: Self.palette[lagSeries.count % Self.palette.count],
                                            perSeed: ok.compactMap { t in
                                                guard let lag = t.curve?.values("\(base)_lag\(k)"), let one = t.curve?.values(base) else { return nil }
                                                return Self.lagRatio(lag: lag, base: one, lag: k, recordEvery: recordEvery, smoothing: w)
                                            }))
            }
        }
        if !lagSeries.isEmpty {
            var plot = seriesPlot(id: "group-\(id)-lag-ratios", title: "Lag ratios: drift (1) against jitter (0)", yLabel: "lag-k distance / (k × one-step)",
                                  iterations: iterations, series: lagSeries, scale: .log, spec: view.group.spec)
            plot.hLines = [SVGPlot.HLine(y: 1, label: "drift (1)")]
            figures.append(figure(plot.render(), caption: "Distance between the states at t and t−k over k times the one-step distance (both smoothed over \(w) points\(recordEvery > 1 ? "; one step = the recorded \(recordEvery)-step distance / \(recordEvery)" : "")): 1 when every step moves the same way, small when steps undo each other."))
        }
        let settling = settlingPanel(view)
        guard !figures.isEmpty || !settling.isEmpty else { return "" }
        var out = "<h4>Instruments of the hypothesis</h4>\n"
        if !figures.isEmpty { out += "<div class=\"figrow\">\n" + figures.joined() + "</div>\n" }
        return out + settling
    }

    /// The global margin columns `margin_<δ>` of `header` by increasing δ (per-layer ones,
    /// `margin_<δ>.<layer>`, have no number after the prefix).
    static func marginColumns(_ header: [String]) -> [String] {
        func delta(_ name: String) -> Double? { name.hasPrefix(marginPrefix) ? Double(name.dropFirst(marginPrefix.count)) : nil }
        return header.filter { delta($0) != nil }.sorted { delta($0)! < delta($1)! }
    }

    /// A distance-to-final curve over its value at initialisation (its first snapshot); NaN when that is 0.
    static func normalisedToInit(_ d: [Double]) -> [Double] { d.map { d[0] > 0 ? $0 / d[0] : .nan } }

    /// `lag / ((k / r) × base)` after smoothing both over `smoothing` recorded points: with
    /// `record_every` r the base column is an r-step distance, so k steps are k / r of them.
    static func lagRatio(lag: [Double], base: [Double], lag k: Int, recordEvery r: Int, smoothing: Int) -> [Double] {
        let l = DecayRules.smooth(lag.map { $0.isFinite ? $0 : .nan }, window: smoothing)
        let b = DecayRules.smooth(base, window: smoothing)
        let steps = Double(k) / Double(r)
        return zip(l, b).map { $0 / (steps * $1) }.map { $0.isFinite ? $0 : .nan }
    }

    func figure(_ svg: String, caption: String) -> String {
        "<figure style=\"width: \(Int(Self.groupSmallWidth))px\">\n\(svg)\n<figcaption>\(caption)</figcaption>\n</figure>\n"
    }

    func seriesPlotBase(id: String, title: String, yLabel: String, scale: ScaleKind, spec: TrialSpec) -> SVGPlot {
        var plot = SVGPlot(id: id, width: Self.groupSmallWidth, height: 250)
        plot.title = title + (scale == .log ? ", log y" : "")
        plot.yLabel = yLabel
        plot.xLabel = "iteration"
        plot.yScale = scale
        plot.xDomain = (0, Double(spec.iterations))
        plot.emptyMessage = "no finished trial with this column"
        return plot
    }

    /// Mean ± 1 sd over seeds of each series, on one plot.
    func seriesPlot(id: String, title: String, yLabel: String, iterations: [Double], series: [SeedSeries], scale: ScaleKind,
                    spec: TrialSpec) -> SVGPlot {
        var plot = seriesPlotBase(id: id, title: title, yLabel: yLabel, scale: scale, spec: spec)
        var means: [Double] = [], uppers: [Double] = []
        for s in series {
            let stats = Self.acrossSeeds(s.perSeed)
            let n = min(stats.mean.count, iterations.count)
            let x = Array(iterations.prefix(n)), m = Array(stats.mean.prefix(n)), sd = Array(stats.sd.prefix(n))
            plot.bands.append(SVGPlot.Band(color: s.color, x: x, lower: zip(m, sd).map { $0 - $1 }, upper: zip(m, sd).map { $0 + $1 }))
            plot.lines.append(SVGPlot.Line(label: s.label, color: s.color, x: x, y: m))
            plot.legend.append(SVGPlot.LegendEntry(label: "\(s.label) ± 1 sd", color: s.color, kind: .band))
            means += m
            uppers += zip(m, sd).map { $0 + $1 }
        }
        setRawYDomain(&plot, values: means, upper: uppers)
        return plot
    }

    // MARK: Settling to the final state

    /// The distance-to-final curves (normalised by their value at initialisation), mean ± 1 sd
    /// over seeds, with the settling fractions q as levels and the median times as markers, and
    /// the settling rows of the definition table; "" when no trial has a settling curve.
    func settlingPanel(_ view: GroupView) -> String {
        let curves = view.okTrials.compactMap(\.settling)
        guard let first = curves.first else { return "" }
        let iterations = first.iteration.map(Double.init)
        var plot = seriesPlot(id: "group-\(view.group.id)-settling", title: "Distance to the final state", yLabel: "distance / distance at init",
                              iterations: iterations,
                              series: [SeedSeries(label: "weights ||θ_s − θ_T||", color: Self.weightColor, perSeed: curves.map { Self.normalisedToInit($0.weightDistance) }),
                                       SeedSeries(label: "patterns (Hamming)", color: Self.patternColor, perSeed: curves.map { Self.normalisedToInit($0.patternDistance) })],
                              scale: .log, spec: view.group.spec)
        plot.width = Self.groupDecayWidth
        plot.height = 320
        let rows = input.options.settling.compactMap { q in
            view.summary?.definitions.first { $0.definition == SettlingTimes.definitionName(q) }.map { (q, $0) }
        }
        for (q, row) in rows {
            plot.hLines.append(SVGPlot.HLine(y: q, label: "q = \(SettlingTimes.key(q))", color: Self.thresholdColor))
            for (time, symbol, color, lane) in [(row.ratio.tA, "t_a", Self.patternColor, 0), (row.ratio.tW, "t_w", Self.weightColor, 1)] {
                guard let median = time.median.median else { continue }
                plot.markers.append(SVGPlot.VMarker(x: median, label: "\(symbol)(\(SettlingTimes.key(q))) = \(ReportFormat.time(median))", color: color, row: lane))
            }
        }
        if let lo = plot.yDomain?.0 { plot.yDomain = (max(lo, 1e-4), 1) }
        var out = "<figure style=\"width: \(Int(Self.groupDecayWidth))px\">\n" + plot.render()
        out += "\n<figcaption>Settling to the final state (docs/numerics.md): per seed, the probe patterns' Hamming distance and the parameters' distance to their values at the end of the run, each divided by its value at initialisation, at \(first.count) snapshot iterations; mean ± 1 sd over \(curves.count) seed\(curves.count == 1 ? "" : "s"). t(q): the first snapshot after which the curve stays at or below q; markers: medians over seeds.</figcaption>\n</figure>\n"
        guard !rows.isEmpty else { return out }
        out += "<table class=\"summary\">\n<thead><tr><th>settling q</th><th>t<sub>a</sub> median (patterns)</th><th>t<sub>w</sub> median (weights)</th><th>ratio t<sub>w</sub>/t<sub>a</sub></th><th>geometric mean</th><th>sign p</th><th>call</th></tr></thead>\n<tbody>\n"
        for (q, row) in rows {
            let g = row.ratio.geometricMean
            var geo = g.geometricMean.map { String(format: "%.2f", $0) } ?? "n/a"
            if let lo = g.interval.low, let hi = g.interval.high { geo += String(format: " [%.2f, %.2f]", lo, hi) }
            func time(_ t: TimeSummary) -> String {
                var text = t.median.median.map(ReportFormat.time) ?? "n/a"
                if t.censored + t.noDecay > 0 { text += " +\(t.censored + t.noDecay) censored" }
                return Markup.escape(text)
            }
            out += "<tr><td>\(Markup.escape(SettlingTimes.key(q)))</td><td>\(time(row.ratio.tA))</td><td>\(time(row.ratio.tW))</td>"
            out += "<td>\(ratioCell(row.ratio))</td><td>\(Markup.escape(geo))</td><td>\(String(format: "%.3g", row.ratio.signTest.pValue))</td>"
            out += "<td>\(Markup.escape(row.call.rawValue))</td></tr>\n"
        }
        out += "</tbody>\n</table>\n"
        return out
    }
}
