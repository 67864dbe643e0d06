import Foundation
import RegimeAnalysis
import RegimeCore

/// A trial's own instruments of the hypothesis, on its page (the group panel of
/// ReportBuilder+Instruments.swift for one seed, with the layers apart): the stability margins,
/// flip sensitivity and excess flips, global and per layer, from its curve file; its settling
/// times per fraction q and its distances to the final state. Each part appears only when the
/// trial has its columns or its settling curve (read by column names, like the group panel).
extension ReportBuilder {
    func trialInstruments(_ t: TrialView) -> String {
        var plots: [String] = []
        let header = t.curve?.header ?? []
        let scales = [ScaleKind.linear, .log]
        for column in Self.marginColumns(header) {
            let delta = column.dropFirst(Self.marginPrefix.count)
            plots += scales.map {
                trialRawPlot(t, column: column, layers: true, scale: $0, title: ("Stability margin δ = \(delta)", "fraction with |z| < δ·rms"))
            }
        }
        if header.contains("flip_sensitivity") {
            plots += scales.map {
                trialRawPlot(t, column: "flip_sensitivity", layers: true, scale: $0, title: ("Flip sensitivity", "pattern change / relative update"))
            }
        }
        if header.contains("excess_flips") {
            plots += scales.map {
                trialRawPlot(t, column: "excess_flips", layers: true, scale: $0, title: ("Excess flips over the null model", "pattern change / null"),
                             sparse: true)
            }
        }
        let settling = trialSettling(t)
        guard !plots.isEmpty || !settling.isEmpty else { return "" }
        var out = "<h4>Instruments of the hypothesis</h4>\n"
        if !plots.isEmpty {
            out += "<div class=\"figrow\">\n" + plots.joined(separator: "\n") + "\n</div>\n"
            out += "<p class=\"muted\">All layers and each pattern layer (docs/numerics.md, \"Geometric instruments\"). Margins: fraction of probe (example, unit) pairs with |z| below δ times the layer's root-mean-square pre-activation. Flip sensitivity: pattern change over the relative update of the parameters feeding the layer. Both smoothed over \(input.options.smoothing) points. Excess flips: pattern change over that of an isotropic update of the same per-layer norm, at the null model's iterations (unsmoothed; 1 is chance).</p>\n"
        }
        return out + settling
    }

    /// The settling times per fraction q (`settling` of the trial's analysis, as in its
    /// `result.json`) and the distance-to-final curves of `settling.csv`, each divided by its
    /// value at initialisation, with the fractions as levels and the times as markers; "" without
    /// a settling curve.
    func trialSettling(_ t: TrialView) -> String {
        guard let curve = t.settling, !curve.iteration.isEmpty else { return "" }
        var plot = SVGPlot(id: "trial-\(t.trialID)-settling", width: 2 * Self.trialWidth, height: 250)
        plot.title = "Distance to the final state, log y"
        plot.xLabel = "iteration"
        plot.yLabel = "distance / distance at init"
        plot.yScale = .log
        plot.xTickCount = 4
        plot.xDomain = (0, Double(t.spec.iterations))
        let x = curve.iteration.map(Double.init)
        let weights = Self.normalisedToInit(curve.weightDistance), patterns = Self.normalisedToInit(curve.patternDistance)
        plot.lines = [SVGPlot.Line(label: "weights", color: Self.weightColor, x: x, y: weights),
                      SVGPlot.Line(label: "patterns", color: Self.patternColor, x: x, y: patterns)]
        plot.legend = [SVGPlot.LegendEntry(label: "weights ||θ_s − θ_T||", color: Self.weightColor, kind: .line),
                       SVGPlot.LegendEntry(label: "patterns (Hamming)", color: Self.patternColor, kind: .line)]
        setRawYDomain(&plot, values: weights + patterns, upper: [])
        if let lo = plot.yDomain?.0 { plot.yDomain = (max(lo, 1e-4), 1) }
        let times = input.options.settling.compactMap { q in t.analysis?.settling?[SettlingTimes.key(q)].map { (q, $0) } }
        for (q, c) in times {
            plot.hLines.append(SVGPlot.HLine(y: q, label: "q = \(SettlingTimes.key(q))", color: Self.thresholdColor))
            for (time, symbol, color, lane) in [(c.tA, "t_a", Self.patternColor, 0), (c.tW, "t_w", Self.weightColor, 1)] {
                guard let value = time.value else { continue }
                plot.markers.append(SVGPlot.VMarker(x: value, label: "\(symbol)(\(SettlingTimes.key(q))) = \(ReportFormat.time(value))",
                                                    color: color, row: lane))
            }
        }
        var out = "<div class=\"figrow\">\n" + plot.render() + "\n</div>\n"
        out += "<p class=\"muted\">Settling to the final state (docs/numerics.md): the probe patterns' Hamming distance and the parameters' distance to their values at the end of the run, each over its value at initialisation, at \(curve.count) snapshot iterations. t(q): the first snapshot after which the curve stays at or below q.</p>\n"
        guard !times.isEmpty else { return out }
        out += "<table class=\"decay\">\n<thead><tr><th>settling q</th><th>t<sub>a</sub>, steps (patterns)</th><th>t<sub>w</sub>, steps (weights)</th><th>ratio t<sub>w</sub>/t<sub>a</sub></th></tr></thead>\n<tbody>\n"
        for (q, c) in times {
            out += "<tr><td>\(Markup.escape(SettlingTimes.key(q)))</td><td>\(timeCell(c.tA))</td><td>\(timeCell(c.tW))</td>"
            out += "<td>\(estimateCell(c.ratio, format: ReportFormat.ratio))</td></tr>\n"
        }
        return out + "</tbody>\n</table>\n"
    }
}
