import Foundation

/// Escaping for text and attribute values placed into HTML or SVG (both parse it the same way).
enum Markup {
    /// Replaces `& < > " '` by entities; everything else is kept (UTF-8 is declared).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters other than tab/newline are not allowed in XML 1.0.
                if c.value < 0x20 && c != "\t" && c != "\n" && c != "\r" { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    /// A fixed-precision number for coordinates (deterministic, no exponent, no "-0.0").
    static func coordinate(_ x: Double) -> String {
        let s = String(format: "%.1f", x)
        return s == "-0.0" ? "0.0" : s
    }
}

/// Axis scale: linear, or base-10 logarithmic (values <= 0 are not drawn).
enum ScaleKind: Equatable {
    case linear
    case log
}

/// Tick positions and labels with "nice" round numbers.
enum NiceTicks {
    /// A round step near `range / (count - 1)`: 1, 2 or 5 times a power of ten.
    static func step(range: Double, count: Int) -> Double {
        let rough = range / Double(max(count - 1, 1))
        guard rough.isFinite, rough > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(rough)))
        let residual = rough / magnitude
        let nice: Double = residual < 1.5 ? 1 : residual < 3 ? 2 : residual < 7 ? 5 : 10
        return nice * magnitude
    }

    /// Linear ticks: the domain extended outwards to multiples of the step, and the ticks in it.
    static func linear(lo: Double, hi: Double, count: Int = 6) -> (lo: Double, hi: Double, ticks: [Double], step: Double) {
        var lo = lo, hi = hi
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if hi < lo { swap(&lo, &hi) }
        if hi == lo {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad; hi += pad
        }
        let step = step(range: hi - lo, count: count)
        let first = (lo / step).rounded(.down)
        let last = (hi / step).rounded(.up)
        var ticks: [Double] = []
        var k = first
        while k <= last + 0.5 && ticks.count < 100 {
            ticks.append(k * step)
            k += 1
        }
        return (first * step, last * step, ticks, step)
    }

    /// The largest of 1, 2, 5 times a power of ten that is <= x (x > 0).
    static func roundDown125(_ x: Double) -> Double {
        let magnitude = pow(10, floor(log10(x)))
        let r = x / magnitude
        return (r >= 5 ? 5 : r >= 2 ? 2 : 1) * magnitude
    }

    /// The smallest of 1, 2, 5 times a power of ten that is >= x (x > 0).
    static func roundUp125(_ x: Double) -> Double {
        let magnitude = pow(10, floor(log10(x)))
        let r = x / magnitude
        if r <= 1.000000001 { return magnitude }
        return (r <= 2 ? 2 : r <= 5 ? 5 : 10) * magnitude
    }

    /// Log ticks: domain rounded out to 1-2-5 values; ticks at the powers of ten inside it, plus
    /// 2 and 5 times them when the domain spans less than about two decades.
    static func log(lo: Double, hi: Double) -> (lo: Double, hi: Double, ticks: [Double]) {
        var lo = lo, hi = hi
        if !(lo.isFinite && lo > 0) { lo = 1e-3 }
        if !(hi.isFinite && hi > lo) { hi = lo * 10 }
        lo = roundDown125(lo)
        hi = roundUp125(hi)
        let firstDecade = Int(floor(log10(lo) + 1e-9))
        let lastDecade = Int(ceil(log10(hi) - 1e-9))
        let decades = log10(hi / lo)
        let multipliers: [Double] = decades < 2.2 ? [1, 2, 5] : [1]
        var ticks: [Double] = []
        for d in firstDecade...max(firstDecade, lastDecade) {
            for m in multipliers {
                let t = m * pow(10, Double(d))
                if t >= lo * 0.999999 && t <= hi * 1.000001 { ticks.append(t) }
            }
        }
        return (lo, hi, ticks)
    }

    /// A label for a linear tick: as many decimals as the step needs.
    static func label(_ value: Double, step: Double) -> String {
        let decimals = max(0, min(8, Int(-floor(log10(step) + 1e-9))))
        let s = String(format: "%.\(decimals)f", value)
        return s.hasPrefix("-") && Double(s) == 0 ? String(s.dropFirst()) : s
    }

    /// A label for a log tick: plain decimals from 0.001 to 10000, else 10 with a superscript.
    static func logLabel(_ value: Double) -> String {
        let e = log10(value)
        if value >= 1e-3 && value <= 1e4 {
            let decimals = max(0, Int(ceil(-e - 1e-9)))
            return String(format: "%.\(decimals)f", value)
        }
        let exponent = Int(floor(e + 1e-9))
        let mantissa = value / pow(10, Double(exponent))
        let superscripts: [Character: Character] = ["-": "\u{207B}", "0": "\u{2070}", "1": "\u{00B9}", "2": "\u{00B2}",
                                                    "3": "\u{00B3}", "4": "\u{2074}", "5": "\u{2075}", "6": "\u{2076}",
                                                    "7": "\u{2077}", "8": "\u{2078}", "9": "\u{2079}"]
        let power = "10" + String(String(exponent).map { superscripts[$0] ?? $0 })
        let m = mantissa.rounded()
        return m == 1 ? power : "\(Int(m))\u{00D7}" + power
    }
}

/// A mapped axis: domain, scale, ticks and the pixel interval it spans.
struct PlotAxis {
    var kind: ScaleKind
    var lo: Double
    var hi: Double
    var ticks: [Double]
    var labels: [String]
    /// Pixel positions of `lo` and `hi` (for y, `lo` maps to the bottom).
    var pixelLo: Double
    var pixelHi: Double

    func transform(_ v: Double) -> Double { kind == .log ? log10(v) : v }

    /// The pixel position of `v`, nil if `v` cannot be shown (non-finite, or <= 0 on a log axis).
    func pixel(_ v: Double) -> Double? {
        guard v.isFinite, kind == .linear || v > 0 else { return nil }
        let a = transform(lo), b = transform(hi)
        guard b != a else { return (pixelLo + pixelHi) / 2 }
        return pixelLo + (transform(v) - a) / (b - a) * (pixelHi - pixelLo)
    }

    /// Like `pixel`, but values outside the domain (or <= 0 on a log axis) are pinned to its ends.
    func clampedPixel(_ v: Double) -> Double? {
        guard !v.isNaN else { return nil }
        if kind == .log && v <= 0 { return pixelLo }
        if v == .infinity { return pixelHi }
        if v == -.infinity { return pixelLo }
        let c = Swift.min(Swift.max(v, Swift.min(lo, hi)), Swift.max(lo, hi))
        return pixel(c)
    }

    static func make(kind: ScaleKind, dataLo: Double, dataHi: Double, pixelLo: Double, pixelHi: Double,
                     tickCount: Int, snap: Bool) -> PlotAxis {
        switch kind {
        case .linear:
            let t = NiceTicks.linear(lo: dataLo, hi: dataHi, count: tickCount)
            let lo = snap ? t.lo : (dataLo.isFinite && dataHi > dataLo ? dataLo : t.lo)
            let hi = snap ? t.hi : (dataHi.isFinite && dataHi > dataLo ? dataHi : t.hi)
            let ticks = t.ticks.filter { $0 >= lo - 1e-9 * abs(t.step) && $0 <= hi + 1e-9 * abs(t.step) }
            return PlotAxis(kind: kind, lo: lo, hi: hi, ticks: ticks, labels: ticks.map { NiceTicks.label($0, step: t.step) },
                            pixelLo: pixelLo, pixelHi: pixelHi)
        case .log:
            let t = NiceTicks.log(lo: dataLo, hi: dataHi)
            return PlotAxis(kind: kind, lo: t.lo, hi: t.hi, ticks: t.ticks, labels: t.ticks.map(NiceTicks.logLabel),
                            pixelLo: pixelLo, pixelHi: pixelHi)
        }
    }
}

/// A small, dependency-free SVG chart: lines, bands, points, interval segments, reference lines
/// and vertical markers on linear or log axes, with ticks, axis labels, a legend and a title.
///
/// Every element may carry a CSS class, so that a page can show or hide parts of a plot with
/// plain CSS (e.g. the markers of one threshold). Output is deterministic: coordinates are
/// written with one decimal, and dense lines are thinned per pixel column (keeping each
/// column's extremes, so spikes survive).
struct SVGPlot {
    struct Line {
        var label: String
        var color: String
        var x: [Double]
        var y: [Double]
        var width: Double = 1.6
        var dash: String? = nil
        var cssClass: String? = nil
    }

    /// A shaded region between `lower` and `upper` at the points `x` (e.g. mean ± sd).
    struct Band {
        var color: String
        var x: [Double]
        var lower: [Double]
        var upper: [Double]
        var opacity: Double = 0.2
        var cssClass: String? = nil
    }

    enum Shape { case circle, diamond }

    struct Point {
        var x: Double
        var y: Double
        var color: String
        var radius: Double = 3.5
        var shape: Shape = .circle
        var hollow: Bool = false
        /// Tooltip.
        var title: String? = nil
        var cssClass: String? = nil
    }

    /// A straight segment in data coordinates (e.g. a confidence interval).
    struct Segment {
        var x1: Double, y1: Double, x2: Double, y2: Double
        var color: String
        var width: Double = 2
        var dash: String? = nil
        var cssClass: String? = nil
    }

    /// A vertical line at `x` across the plot, with an optional shaded span (e.g. a 95% CI) and
    /// a label written near the top; `row` staggers labels of nearby markers.
    struct VMarker {
        var x: Double
        var label: String
        var color: String
        var dash: String? = "5 3"
        var span: (Double, Double)? = nil
        var row: Int = 0
        var cssClass: String? = nil
    }

    /// A horizontal reference line at `y` with a label at its right end.
    struct HLine {
        var y: Double
        var label: String
        var color: String = "#555555"
        var dash: String? = "2 3"
        var cssClass: String? = nil
    }

    /// A vertical reference line at `x` with a label at its top (not staggered, thin).
    struct VLine {
        var x: Double
        var label: String
        var color: String = "#555555"
        var dash: String? = "2 3"
        var cssClass: String? = nil
    }

    /// A shaded x interval without a line (e.g. the peak window).
    struct VSpan {
        var x1: Double
        var x2: Double
        var label: String
        var color: String = "#000000"
        var opacity: Double = 0.05
        var cssClass: String? = nil
    }

    /// A horizontal stripe from y1 to y2 (data units) across the whole plot width (e.g. to
    /// highlight a category row).
    struct HBand {
        var y1: Double
        var y2: Double
        var color: String
        var cssClass: String? = nil
    }

    /// Free text at a data y and either a data x or the right edge of the plot area.
    struct Annotation {
        var x: Double?
        var y: Double
        var text: String
        var color: String = "#333333"
        var anchor: String = "end"
        var cssClass: String? = nil
    }

    /// Text in the top-right corner of the plot area, on line `row` (e.g. "t_w censored").
    struct Note {
        var text: String
        var color: String
        var row: Int
        var cssClass: String? = nil
    }

    enum LegendKind { case line, band, shade, dashedLine, point, diamond, segment, text }

    struct LegendEntry {
        var label: String
        var color: String
        var kind: LegendKind
        var cssClass: String? = nil
    }

    var id: String
    var width: Double = 560
    var height: Double = 320
    var title: String = ""
    var xLabel: String = ""
    var yLabel: String = ""
    var xScale: ScaleKind = .linear
    var yScale: ScaleKind = .linear
    /// Fixed domains; when nil, taken from the data (lines, bands, points, segments, markers).
    var xDomain: (Double, Double)? = nil
    var yDomain: (Double, Double)? = nil
    /// Round a linear domain out to tick multiples (x: only a data-derived one; y: also a given one).
    var snapX = false
    var snapY = true
    var xTickCount = 7
    var yTickCount = 6
    /// Category names for a categorical y axis: category k sits at y = k, the first at the top.
    var yCategories: [String]? = nil
    var lines: [Line] = []
    var bands: [Band] = []
    var points: [Point] = []
    var segments: [Segment] = []
    var markers: [VMarker] = []
    var hLines: [HLine] = []
    var vLines: [VLine] = []
    var spans: [VSpan] = []
    var hBands: [HBand] = []
    var annotations: [Annotation] = []
    var notes: [Note] = []
    var legend: [LegendEntry] = []
    /// Legend entries drawn in one shared slot after `legend`, for CSS to show one at a time
    /// (e.g. which measure the markers belong to).
    var legendAlternatives: [LegendEntry] = []
    var cssClass: String? = nil
    /// Text shown inside an empty plot (no data at all).
    var emptyMessage = "no data"

    static let fontSize = 11.0
    /// A white outline behind text drawn over data, so it stays legible.
    static let halo = "paint-order=\"stroke\" stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\""
    static func textWidth(_ s: String, size: Double = fontSize) -> Double { Double(s.count) * size * 0.56 }

    private func classAttribute(_ c: String?) -> String {
        guard let c, !c.isEmpty else { return "" }
        return " class=\"\(Markup.escape(c))\""
    }

    private func f(_ x: Double) -> String { Markup.coordinate(x) }

    /// Data extent along x of everything drawn.
    private func dataXRange() -> (Double, Double)? {
        var xs: [Double] = []
        for l in lines { xs += l.x }
        for b in bands { xs += b.x }
        for p in points { xs.append(p.x) }
        for s in segments { xs += [s.x1, s.x2] }
        for m in markers { xs.append(m.x); if let s = m.span { xs += [s.0, s.1] } }
        for v in vLines { xs.append(v.x) }
        let ok = xs.filter { $0.isFinite && (xScale == .linear || $0 > 0) }
        guard let lo = ok.min(), let hi = ok.max() else { return nil }
        return (lo, hi)
    }

    private func dataYRange() -> (Double, Double)? {
        var ys: [Double] = []
        for l in lines { ys += l.y }
        for b in bands { ys += b.upper; if yScale == .linear { ys += b.lower } }
        for p in points { ys.append(p.y) }
        for s in segments { ys += [s.y1, s.y2] }
        for h in hLines { ys.append(h.y) }
        let ok = ys.filter { $0.isFinite && (yScale == .linear || $0 > 0) }
        guard let lo = ok.min(), let hi = ok.max() else { return nil }
        return (lo, hi)
    }

    /// Legend rows: entries laid out left to right, wrapped at `available` pixels.
    private func legendRows(available: Double) -> [[(LegendEntry, Double)]] {
        var rows: [[(LegendEntry, Double)]] = []
        var current: [(LegendEntry, Double)] = []
        var used = 0.0
        func width(_ entry: LegendEntry) -> Double { (entry.kind == .text ? 0 : 26) + Self.textWidth(entry.label) + 14 }
        for entry in legend {
            let w = width(entry)
            if !current.isEmpty && used + w > available {
                rows.append(current); current = []; used = 0
            }
            current.append((entry, used))
            used += w
        }
        // Alternatives share one slot (CSS shows one of them).
        if let w = legendAlternatives.map(width).max() {
            if !current.isEmpty && used + w > available {
                rows.append(current); current = []; used = 0
            }
            for entry in legendAlternatives { current.append((entry, used)) }
        }
        if !current.isEmpty { rows.append(current) }
        return rows
    }

    func render() -> String {
        let titleHeight = title.isEmpty ? 6.0 : 20.0
        var left = 14.0 + (yLabel.isEmpty ? 0 : 14)
        let right = 14.0
        let bottom = 34.0 + (xLabel.isEmpty ? 0 : 12)
        let legendRowHeight = 16.0

        // y axis first (its labels decide the left margin).
        let categorical = yCategories != nil
        var yAxis: PlotAxis
        if let categories = yCategories {
            let n = Double(max(categories.count, 1))
            yAxis = PlotAxis(kind: .linear, lo: n - 0.5, hi: -0.5, ticks: categories.indices.map(Double.init),
                             labels: categories, pixelLo: 0, pixelHi: 0)
        } else {
            let range = yDomain ?? dataYRange() ?? (yScale == .log ? (0.1, 1) : (0, 1))
            yAxis = PlotAxis.make(kind: yScale, dataLo: range.0, dataHi: range.1, pixelLo: 0, pixelHi: 0,
                                  tickCount: yTickCount, snap: snapY)
        }
        let widestY = yAxis.labels.map { Self.textWidth($0) }.max() ?? 0
        left += widestY + 8
        let plotWidth = max(width - left - right, 40)
        let rows = legendRows(available: plotWidth + left - 10)
        let top = titleHeight + Double(rows.count) * legendRowHeight + 8
        let plotHeight = max(height - top - bottom, 40)
        yAxis.pixelLo = top + plotHeight
        yAxis.pixelHi = top

        let xRange = xDomain ?? dataXRange() ?? (0, 1)
        let xAxis = PlotAxis.make(kind: xScale, dataLo: xRange.0, dataHi: xRange.1, pixelLo: left, pixelHi: left + plotWidth,
                                  tickCount: xTickCount, snap: xDomain == nil ? snapX : false)

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(Markup.escape(id))\"\(classAttribute(cssClass)) "
        svg += "width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" "
        svg += "aria-label=\"\(Markup.escape(title.isEmpty ? "plot" : title))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"\(f(Self.fontSize))\">"
        svg += "<title>\(Markup.escape(title.isEmpty ? "plot" : title))</title>"
        let clip = "\(id)-clip"
        svg += "<defs><clipPath id=\"\(Markup.escape(clip))\"><rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\"/></clipPath></defs>"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"#ffffff\"/>"
        if !title.isEmpty {
            svg += "<text x=\"\(f(8))\" y=\"\(f(15))\" font-size=\"12.5\" font-weight=\"bold\" fill=\"#222222\">\(Markup.escape(title))</text>"
        }

        // Legend.
        for (r, row) in rows.enumerated() {
            let y = titleHeight + Double(r) * legendRowHeight + 10
            for (entry, offset) in row {
                let x = 10 + offset
                svg += "<g\(classAttribute(entry.cssClass))>"
                switch entry.kind {
                case .line, .dashedLine:
                    let dash = entry.kind == .dashedLine ? " stroke-dasharray=\"5 3\"" : ""
                    svg += "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 20))\" y2=\"\(f(y))\" stroke=\"\(entry.color)\" stroke-width=\"2\"\(dash)/>"
                case .band:
                    svg += "<rect x=\"\(f(x))\" y=\"\(f(y - 5))\" width=\"20\" height=\"10\" fill=\"\(entry.color)\" fill-opacity=\"0.25\"/>"
                    svg += "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 20))\" y2=\"\(f(y))\" stroke=\"\(entry.color)\" stroke-width=\"2\"/>"
                case .shade:
                    svg += "<rect x=\"\(f(x))\" y=\"\(f(y - 5))\" width=\"20\" height=\"10\" fill=\"\(entry.color)\" fill-opacity=\"0.1\" stroke=\"#cccccc\"/>"
                case .point:
                    svg += "<circle cx=\"\(f(x + 10))\" cy=\"\(f(y))\" r=\"3.5\" fill=\"\(entry.color)\" fill-opacity=\"0.75\"/>"
                case .diamond:
                    svg += diamond(cx: x + 10, cy: y, r: 5, color: entry.color, hollow: false)
                case .segment:
                    svg += "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 20))\" y2=\"\(f(y))\" stroke=\"\(entry.color)\" stroke-width=\"3\"/>"
                case .text:
                    break
                }
                let textX = entry.kind == .text ? x : x + 25
                let weight = entry.kind == .text ? " font-weight=\"bold\"" : ""
                svg += "<text x=\"\(f(textX))\" y=\"\(f(y + 4))\" fill=\"\(entry.kind == .text ? entry.color : "#222222")\"\(weight)>\(Markup.escape(entry.label))</text></g>"
            }
        }

        // Frame, grid and ticks.
        svg += "<g class=\"axes\">"
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"#fcfcfc\" stroke=\"#bbbbbb\"/>"
        for (t, label) in zip(yAxis.ticks, yAxis.labels) {
            guard let py = yAxis.pixel(t) else { continue }
            if !categorical {
                svg += "<line x1=\"\(f(left))\" y1=\"\(f(py))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py))\" stroke=\"#e6e6e6\"/>"
            }
            svg += "<line x1=\"\(f(left - 4))\" y1=\"\(f(py))\" x2=\"\(f(left))\" y2=\"\(f(py))\" stroke=\"#666666\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py + 4))\" text-anchor=\"end\" fill=\"#333333\">\(Markup.escape(label))</text>"
        }
        for (t, label) in zip(xAxis.ticks, xAxis.labels) {
            guard let px = xAxis.pixel(t) else { continue }
            svg += "<line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight))\" stroke=\"#eeeeee\"/>"
            svg += "<line x1=\"\(f(px))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight + 4))\" stroke=\"#666666\"/>"
            svg += "<text x=\"\(f(px))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\" fill=\"#333333\">\(Markup.escape(label))</text>"
        }
        if !xLabel.isEmpty {
            svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\" fill=\"#222222\">\(Markup.escape(xLabel))</text>"
        }
        if !yLabel.isEmpty {
            let cx = 12.0, cy = top + plotHeight / 2
            svg += "<text x=\"\(f(cx))\" y=\"\(f(cy))\" text-anchor=\"middle\" fill=\"#222222\" transform=\"rotate(-90 \(f(cx)) \(f(cy)))\">\(Markup.escape(yLabel))</text>"
        }
        svg += "</g>"

        let hasData = !lines.allSatisfy { $0.x.isEmpty } || !points.isEmpty || !bands.allSatisfy { $0.x.isEmpty } || !segments.isEmpty
        svg += "<g clip-path=\"url(#\(Markup.escape(clip)))\">"
        for s in spans {
            guard let a = xAxis.clampedPixel(s.x1), let b = xAxis.clampedPixel(s.x2) else { continue }
            svg += "<rect\(classAttribute(s.cssClass)) x=\"\(f(min(a, b)))\" y=\"\(f(top))\" width=\"\(f(abs(b - a)))\" height=\"\(f(plotHeight))\" fill=\"\(s.color)\" fill-opacity=\"\(s.opacity)\"><title>\(Markup.escape(s.label))</title></rect>"
        }
        for b in hBands {
            guard let a = yAxis.clampedPixel(b.y1), let c = yAxis.clampedPixel(b.y2) else { continue }
            svg += "<rect\(classAttribute(b.cssClass)) x=\"\(f(left))\" y=\"\(f(min(a, c)))\" width=\"\(f(plotWidth))\" height=\"\(f(abs(c - a)))\" fill=\"\(b.color)\"/>"
        }
        for band in bands { svg += renderBand(band, xAxis, yAxis) }
        for h in hLines {
            guard let py = yAxis.pixel(h.y) else { continue }
            svg += "<g\(classAttribute(h.cssClass))><line x1=\"\(f(left))\" y1=\"\(f(py))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py))\" stroke=\"\(h.color)\" stroke-width=\"1\"\(dashAttribute(h.dash))/>"
            let below = py + 12 <= top + plotHeight - 2
            svg += "<text x=\"\(f(left + 4))\" y=\"\(f(below ? py + 12 : py - 3))\" fill=\"\(h.color)\" \(Self.halo)>\(Markup.escape(h.label))</text></g>"
        }
        for v in vLines {
            guard let px = xAxis.pixel(v.x) else { continue }
            svg += "<g\(classAttribute(v.cssClass))><line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight))\" stroke=\"\(v.color)\" stroke-width=\"1\"\(dashAttribute(v.dash))/>"
            svg += "<text x=\"\(f(px + 3))\" y=\"\(f(top + plotHeight - 5))\" fill=\"\(v.color)\" \(Self.halo)>\(Markup.escape(v.label))</text></g>"
        }
        for m in markers {
            guard let px = xAxis.pixel(m.x) else { continue }
            svg += "<g\(classAttribute(m.cssClass))>"
            if let span = m.span, let a = xAxis.clampedPixel(span.0), let b = xAxis.clampedPixel(span.1) {
                svg += "<rect x=\"\(f(min(a, b)))\" y=\"\(f(top))\" width=\"\(f(max(abs(b - a), 0.5)))\" height=\"\(f(plotHeight))\" fill=\"\(m.color)\" fill-opacity=\"0.12\"/>"
            }
            svg += "<line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(top + plotHeight))\" stroke=\"\(m.color)\" stroke-width=\"1.6\"\(dashAttribute(m.dash))/>"
            let rightHalf = px > left + plotWidth * 0.6
            let tx = rightHalf ? px - 4 : px + 4
            let ty = top + 13 + Double(m.row) * 14
            svg += "<text x=\"\(f(tx))\" y=\"\(f(ty))\" text-anchor=\"\(rightHalf ? "end" : "start")\" fill=\"\(m.color)\" font-weight=\"bold\" \(Self.halo)>\(Markup.escape(m.label))</text>"
            svg += "</g>"
        }
        for line in lines { svg += renderLine(line, xAxis, yAxis) }
        for s in segments {
            guard let x1 = xAxis.clampedPixel(s.x1), let x2 = xAxis.clampedPixel(s.x2),
                  let y1 = yAxis.clampedPixel(s.y1), let y2 = yAxis.clampedPixel(s.y2) else { continue }
            svg += "<line\(classAttribute(s.cssClass)) x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(s.color)\" stroke-width=\"\(f(s.width))\" stroke-linecap=\"round\"\(dashAttribute(s.dash))/>"
        }
        for p in points {
            guard let px = xAxis.pixel(p.x), let py = yAxis.pixel(p.y) else { continue }
            let tooltip = p.title.map { "<title>\(Markup.escape($0))</title>" } ?? ""
            switch p.shape {
            case .circle:
                let fill = p.hollow ? "fill=\"#ffffff\" stroke=\"\(p.color)\" stroke-width=\"1.5\"" : "fill=\"\(p.color)\" fill-opacity=\"0.75\" stroke=\"#ffffff\" stroke-width=\"0.8\""
                svg += "<circle\(classAttribute(p.cssClass)) cx=\"\(f(px))\" cy=\"\(f(py))\" r=\"\(f(p.radius))\" \(fill)>\(tooltip)</circle>"
            case .diamond:
                svg += "<g\(classAttribute(p.cssClass))>" + diamond(cx: px, cy: py, r: p.radius, color: p.color, hollow: p.hollow) + tooltip + "</g>"
            }
        }
        svg += "</g>"
        for a in annotations {
            guard let py = yAxis.pixel(a.y) else { continue }
            let px = a.x.flatMap { xAxis.pixel($0) } ?? (left + plotWidth - 4)
            svg += "<text class=\"\(Markup.escape((["note"] + (a.cssClass.map { [$0] } ?? [])).joined(separator: " ")))\" x=\"\(f(px))\" y=\"\(f(py + 4))\" text-anchor=\"\(a.anchor)\" fill=\"\(a.color)\" font-style=\"italic\" \(Self.halo)>\(Markup.escape(a.text))</text>"
        }
        for n in notes {
            let y = top + 13 + Double(n.row) * 14
            svg += "<text\(classAttribute(n.cssClass)) x=\"\(f(left + plotWidth - 4))\" y=\"\(f(y))\" text-anchor=\"end\" fill=\"\(n.color)\" font-style=\"italic\" \(Self.halo)>\(Markup.escape(n.text))</text>"
        }
        if !hasData {
            svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\" fill=\"#888888\" font-size=\"13\">\(Markup.escape(emptyMessage))</text>"
        }
        svg += "</svg>"
        return svg
    }

    private func dashAttribute(_ dash: String?) -> String {
        guard let dash else { return "" }
        return " stroke-dasharray=\"\(Markup.escape(dash))\""
    }

    private func diamond(cx: Double, cy: Double, r: Double, color: String, hollow: Bool) -> String {
        let pts = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)].map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ")
        let fill = hollow ? "#ffffff" : color
        return "<polygon points=\"\(pts)\" fill=\"\(fill)\" stroke=\"\(hollow ? color : "#ffffff")\" stroke-width=\"1\"/>"
    }

    /// Pixel points of a line, split where a value cannot be drawn, thinned per pixel column.
    private func pixelRuns(_ x: [Double], _ y: [Double], _ xAxis: PlotAxis, _ yAxis: PlotAxis) -> [[(Double, Double)]] {
        var runs: [[(Double, Double)]] = []
        var current: [(Double, Double)] = []
        for i in 0..<min(x.count, y.count) {
            guard let px = xAxis.pixel(x[i]), let py = yAxis.pixel(y[i]) else {
                if !current.isEmpty { runs.append(current); current = [] }
                continue
            }
            current.append((px, py))
        }
        if !current.isEmpty { runs.append(current) }
        return runs.map(Self.thin)
    }

    /// Keeps, per pixel column, the first, lowest, highest and last point (in their order).
    static func thin(_ run: [(Double, Double)]) -> [(Double, Double)] {
        guard run.count > 4 else { return run }
        var out: [(Double, Double)] = []
        var start = 0
        while start < run.count {
            let column = floor(run[start].0)
            var end = start
            while end + 1 < run.count && floor(run[end + 1].0) == column { end += 1 }
            if end - start < 4 {
                out += run[start...end]
            } else {
                var lo = start, hi = start
                for k in start...end {
                    if run[k].1 < run[lo].1 { lo = k }
                    if run[k].1 > run[hi].1 { hi = k }
                }
                for k in Array(Set([start, lo, hi, end])).sorted() { out.append(run[k]) }
            }
            start = end + 1
        }
        return out
    }

    private func renderLine(_ line: Line, _ xAxis: PlotAxis, _ yAxis: PlotAxis) -> String {
        var out = "<g\(classAttribute(line.cssClass))>"
        for run in pixelRuns(line.x, line.y, xAxis, yAxis) {
            let pts = run.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ")
            if run.count == 1 {
                out += "<circle cx=\"\(f(run[0].0))\" cy=\"\(f(run[0].1))\" r=\"1.5\" fill=\"\(line.color)\"/>"
            } else {
                out += "<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"\(f(line.width))\" stroke-linejoin=\"round\"\(dashAttribute(line.dash))/>"
            }
        }
        return out + "</g>"
    }

    /// The band as polygons (one per run of drawable upper values); on a log axis a lower edge
    /// <= 0 is drawn at the bottom of the plot.
    private func renderBand(_ band: Band, _ xAxis: PlotAxis, _ yAxis: PlotAxis) -> String {
        var out = "<g\(classAttribute(band.cssClass))>"
        var runs: [[(Double, Double, Double)]] = []
        var current: [(Double, Double, Double)] = []
        let n = min(band.x.count, band.lower.count, band.upper.count)
        for i in 0..<n {
            guard let px = xAxis.pixel(band.x[i]), let up = yAxis.clampedPixel(band.upper[i]),
                  let lo = yAxis.clampedPixel(band.lower[i]), band.upper[i].isFinite, band.lower[i].isFinite else {
                if !current.isEmpty { runs.append(current); current = [] }
                continue
            }
            current.append((px, up, lo))
        }
        if !current.isEmpty { runs.append(current) }
        for run in runs where run.count > 1 {
            // Thin per column: the widest extent of the band in each pixel column.
            var columns: [(Double, Double, Double)] = []
            var start = 0
            while start < run.count {
                let column = floor(run[start].0)
                var end = start
                var up = run[start].1, lo = run[start].2, xs = 0.0
                while end + 1 < run.count && floor(run[end + 1].0) == column { end += 1 }
                for k in start...end { up = min(up, run[k].1); lo = max(lo, run[k].2); xs += run[k].0 }
                columns.append((end == start ? run[start].0 : xs / Double(end - start + 1), up, lo))
                start = end + 1
            }
            let upper = columns.map { "\(f($0.0)),\(f($0.1))" }
            let lower = columns.reversed().map { "\(f($0.0)),\(f($0.2))" }
            out += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(band.color)\" fill-opacity=\"\(band.opacity)\" stroke=\"none\"/>"
        }
        return out + "</g>"
    }
}
