import Foundation
import RegimeAnalysis
import RegimeCore

extension ReportBuilder {
    /// The freeze curves of the summary (``FreezeCurve``): per set of groups that differ only in
    /// `freeze_at`, a plot of final validation accuracy against the freeze point (log x) and a
    /// table with the paired differences to the never-frozen group. Empty without freeze curves.
    func freezeSection() -> String {
        guard let curves = input.summary.freezeCurves else { return "" }
        var out = "<section id=\"freeze\" class=\"card\">\n<h2>Freeze curves: what freezing the gates costs</h2>\n"
        out += "<p class=\"lead\">Gates frozen after N optimizer steps, when the online regime detector fired (auto), or never. Final validation accuracy: mean over the ok seeds with its 95% Student-t interval (nominal coverage, exact for normal values). Differences to the never-frozen group are paired by seed: mean with a 95% paired t interval, and the range of the differences, which covers the median difference with the exact probability shown (1 − 2<sup>1−n</sup>). Final loss: the training loss of the last batch.</p>\n"
        for (c, curve) in curves.enumerated() {
            out += "<h3>\(Markup.escape(curve.label))</h3>\n<div class=\"figrow\">\n<figure>\n" + freezePlot(curve, number: c)
            out += "\n<figcaption>Circles: frozen after N steps (bars: 95% t interval); diamond: auto, at the median iteration the detector froze (horizontal bar: its range); line and shading: never frozen (mean, 95% t interval). Freeze point 0 is drawn at 0.5.</figcaption>\n</figure>\n</div>\n"
            out += freezeTable(curve)
            var notes: [String] = []
            if let a = curve.auto {
                notes.append("auto froze at " + spread(a.frozenAt) + " in \(a.frozenAt?.n ?? 0) of \(a.ok) ok trials")
            }
            if let d = curve.detectedUnfrozen { notes.append("in the never-frozen group the detector fires at " + spread(d) + " (\(d.n) trials)") }
            if !notes.isEmpty { out += "<p>Online detector: \(Markup.escape(notes.joined(separator: "; "))).</p>\n" }
        }
        return out + "</section>\n"
    }

    private func spread(_ s: FreezeCurve.Spread?) -> String {
        guard let s else { return "-" }
        return s.min == s.max ? "\(s.min)" : String(format: "median %.0f (range %d–%d)", s.median, s.min, s.max)
    }

    private func freezeTable(_ curve: FreezeCurve) -> String {
        func mean(_ s: SampleSummary, _ f: (Double) -> String) -> String {
            guard let m = s.mean else { return "<span class=\"muted\">n/a</span>" }
            var text = f(m)
            if let lo = s.ciLow, let hi = s.ciHigh { text += " [\(f(lo)), \(f(hi))]" }
            return text + " <span class=\"muted\">n=\(s.n)</span>"
        }
        func difference(_ d: FreezeCurve.Difference?) -> String {
            guard let d else { return "<span class=\"muted\">baseline</span>" }
            let f = { (x: Double) in String(format: "%+.4f", x) }
            var text = d.mean.mean.map(f) ?? "n/a"
            if let lo = d.mean.ciLow, let hi = d.mean.ciHigh { text += " [\(f(lo)), \(f(hi))]" }
            if let lo = d.range.low, let hi = d.range.high, let c = d.range.coverage {
                text += String(format: "<br/><span class=\"muted\">range [%@, %@] (%.2f%%); lower in %d, higher in %d of %d</span>",
                               f(lo), f(hi), 100 * c, d.below, d.above, d.pairs)
            }
            return text
        }
        var out = "<table class=\"freeze\">\n<thead><tr><th>freeze_at</th><th>frozen at</th><th>ok</th><th>final val accuracy [95% t CI]</th>"
        out += "<th>accuracy − never, paired [95% t CI]</th><th>final loss [95% t CI]</th><th>loss − never, paired</th></tr></thead>\n<tbody>\n"
        for p in curve.points {
            var frozen = spread(p.frozenAt)
            if p.notFrozen > 0, p.freezeAt != "never" { frozen += "; \(p.notFrozen) never froze" }
            out += "<tr><td class=\"text\"><a href=\"#group-\(Markup.escape(p.groupID))\">\(Markup.escape(p.freezeAt))</a></td>"
            out += "<td class=\"text\">\(Markup.escape(frozen))</td><td>\(p.ok)/\(p.trials)</td>"
            out += "<td>\(mean(p.valAccuracy, ReportFormat.accuracy))</td><td>\(difference(p.accuracyVsBaseline))</td>"
            out += "<td>\(mean(p.finalLoss, ReportFormat.loss))</td><td>\(difference(p.lossVsBaseline))</td></tr>\n"
        }
        return out + "</tbody>\n</table>\n"
    }

    private func freezePlot(_ curve: FreezeCurve, number: Int) -> String {
        var plot = SVGPlot(id: "freeze-\(number)", width: 672, height: 320)
        plot.title = "Final validation accuracy against the freeze point"
        plot.xLabel = "optimizer steps before the gates froze (log)"
        plot.yLabel = "final val accuracy"
        plot.xScale = .log
        let color = Self.palette[0], autoColor = Self.palette[1], neverColor = Self.palette[6]
        var ys: [Double] = []
        var xs: [Double] = []
        for p in curve.points {
            guard let m = p.valAccuracy.mean else { continue }
            ys.append(contentsOf: [m, p.valAccuracy.ciLow ?? m, p.valAccuracy.ciHigh ?? m])
            let title = "freeze_at \(p.freezeAt): \(ReportFormat.accuracy(m))"
            switch p.freezeAt {
            case "never":
                plot.hLines.append(SVGPlot.HLine(y: m, label: "never", color: neverColor, dash: nil))
                if let lo = p.valAccuracy.ciLow, let hi = p.valAccuracy.ciHigh {
                    plot.hBands.append(SVGPlot.HBand(y1: lo, y2: hi, color: "#e4e4e4"))
                }
            case "auto":
                guard let at = p.frozenAt else { continue }
                let x = max(at.median, 0.5)
                xs.append(contentsOf: [max(Double(at.min), 0.5), max(Double(at.max), 0.5)])
                plot.points.append(SVGPlot.Point(x: x, y: m, color: autoColor, radius: 5, shape: .diamond, title: title))
                plot.segments.append(SVGPlot.Segment(x1: max(Double(at.min), 0.5), y1: m, x2: max(Double(at.max), 0.5), y2: m, color: autoColor))
                if let lo = p.valAccuracy.ciLow, let hi = p.valAccuracy.ciHigh {
                    plot.segments.append(SVGPlot.Segment(x1: x, y1: lo, x2: x, y2: hi, color: autoColor))
                }
            default:
                guard let n = Int(p.freezeAt) else { continue }
                let x = max(Double(n), 0.5)
                xs.append(x)
                plot.points.append(SVGPlot.Point(x: x, y: m, color: color, title: title))
                if let lo = p.valAccuracy.ciLow, let hi = p.valAccuracy.ciHigh {
                    plot.segments.append(SVGPlot.Segment(x1: x, y1: lo, x2: x, y2: hi, color: color))
                }
            }
        }
        if let lo = xs.min(), let hi = xs.max() { plot.xDomain = (lo / 2, hi * 2) }
        if let lo = ys.min(), let hi = ys.max() { plot.yDomain = (lo - 0.01, hi + 0.01) }
        plot.legend = [SVGPlot.LegendEntry(label: "frozen after N steps", color: color, kind: .point),
                       SVGPlot.LegendEntry(label: "auto (detector)", color: autoColor, kind: .diamond),
                       SVGPlot.LegendEntry(label: "never frozen", color: neverColor, kind: .line)]
        plot.emptyMessage = "no finished trials"
        return plot.render()
    }
}
