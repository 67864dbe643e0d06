import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore

extension ReportBuilder {

    /// Where a page lies: the first page, or one in the folder beside it (`report/trials/`,
    /// `report/groups/`), from which links go up two levels.
    enum PageLocation { case first, inFolder }

    /// A trial's page, from a page at `location`.
    func trialLink(_ trialID: String, from location: PageLocation) -> String {
        let file = "trials/\(Markup.escape(trialID)).html"
        return location == .first ? "\(Markup.escape(folderName))/\(file)" : "../\(file)"
    }

    /// A group's full section: on the first page when groups are inline, else its own page.
    func groupLink(_ groupID: String, from location: PageLocation) -> String {
        let id = Markup.escape(groupID)
        if inlineGroups { return location == .first ? "#group-\(id)" : "../../\(Markup.escape(pageName))#group-\(id)" }
        return location == .first ? "\(Markup.escape(folderName))/groups/\(id).html" : "../groups/\(id).html"
    }

    /// An anchor of the first page, from a page at `location`.
    func firstPageLink(_ anchor: String, from location: PageLocation) -> String {
        location == .first ? "#\(anchor)" : "../../\(Markup.escape(pageName))#\(anchor)"
    }

    var sweepName: String { input.summary.sweep.isEmpty ? input.sweep.name : input.summary.sweep }

    /// A self-contained page: the style, the switches (radio inputs that CSS reads; siblings of
    /// `<main>`), then `content` in `<main>`.
    func document(title: String, content: String) -> String {
        var page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        page += "<title>\(Markup.escape(title))</title>\n<style>\n\(css())</style>\n</head>\n<body>\n"
        page += "<input type=\"radio\" name=\"yscale\" id=\"yscale-lin\" class=\"switch\"/>\n"
        page += "<input type=\"radio\" name=\"yscale\" id=\"yscale-log\" class=\"switch\" checked=\"checked\"/>\n"
        for k in measureKeys.indices {
            page += "<input type=\"radio\" name=\"measure\" id=\"measure-\(k)\" class=\"switch\"\(k == defaultMeasure ? " checked=\"checked\"" : "")/>\n"
        }
        page += "<main>\n" + content + "</main>\n</body>\n</html>\n"
        return page
    }

    /// The first page: verdicts, overview, and the groups (full sections, or cards of a large sweep).
    func html() -> String { firstPage(emitting: false) { _, _ in } }

    /// The first page; `linkedPages` receives the other pages (``linkedPages(of:number:_:)``) as
    /// each group is drawn, so a group's curves are read once for all of its pages.
    func html(linkedPages: (_ path: String, _ html: String) throws -> Void) rethrows -> String {
        try firstPage(emitting: true, linkedPages)
    }

    private func firstPage(emitting: Bool, _ linkedPages: (_ path: String, _ html: String) throws -> Void) rethrows -> String {
        var content = header(sweepName)
        content += verdicts()
        content += controls()
        content += overview()
        content += freezeSection()
        content += "<section id=\"groups\">\n<h2>Groups</h2>\n"
        if !inlineGroups {
            content += "<p class=\"lead\">\(groups.count) groups, each with its verdict and its normalised curves (log y): mean over the ok seeds of the weight update (<span style=\"color: \(Self.weightColor)\">blue</span>) and the pattern change (<span style=\"color: \(Self.patternColor)\">orange</span>), dashed: t<sub>w</sub> and t<sub>a</sub> at the selected measure. All of a group's plots and tables are on its own page (linked), each trial's on the trial's page.</p>\n"
        }
        for (g, group) in groups.enumerated() {
            let loaded = withCurves(group)
            content += inlineGroups ? groupSection(loaded, number: g + 1, from: .first) : groupCard(loaded, number: g + 1)
            if emitting { try self.linkedPages(of: loaded, number: g + 1, linkedPages) }
        }
        content += "</section>\n"
        content += footer()
        return document(title: "regime report: \(sweepName)", content: content)
    }

    /// A group's page (sweeps of more than ``inlineGroupLimit`` groups; `view` with its curves).
    func groupPage(_ view: GroupView, number: Int) -> String {
        var content = "<header><p class=\"meta\"><a href=\"\(firstPageLink("group-\(Markup.escape(view.group.id))", from: .inFolder))\">regime report: sweep <q>\(Markup.escape(sweepName))</q></a></p></header>\n"
        content += controls()
        content += groupSection(view, number: number, from: .inFolder)
        return document(title: "regime report: \(sweepName): G\(number) \(view.shortLabel)", content: content)
    }

    /// A trial's page: its curves, times and estimators.
    func trialPage(_ trial: TrialView, group: GroupView, groupNumber: Int) -> String {
        var content = "<header><p class=\"meta\"><a href=\"\(firstPageLink("top", from: .inFolder))\">regime report: sweep <q>\(Markup.escape(sweepName))</q></a></p></header>\n"
        content += controls()
        content += "<p class=\"lead\">The trial's own curves, normalised like the decay estimators, with its own t<sub>a</sub> and t<sub>w</sub> at the selected measure. Censored times are shown as <span class=\"censored\">censored</span>, never as a number.</p>\n"
        content += trialSection(trial, group: group, groupNumber: groupNumber)
        return document(title: "regime report: \(sweepName): trial \(trial.trialID)", content: content)
    }

    func css() -> String {
        var css = """
        body { margin: 0; font: 14px/1.45 Helvetica, Arial, sans-serif; color: #222; background: #f3f3f1; }
        main { max-width: 1180px; margin: 0 auto; padding: 0 12px 40px; }
        .verdict { font-weight: bold; } .verdict-yes { color: #1a7f37; } .verdict-no { color: #a02233; } .verdict-undecided, .verdict-transient { color: #8a6d00; }
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
        if input.summary.freezeCurves != nil { out += " · <a href=\"#freeze\">Freeze curves</a>" }
        out += " · <a href=\"#notes\">Notes</a></nav>\n</header>\n"
        return out
    }

    func controls() -> String {
        var out = "<div class=\"controls\">\n<span class=\"group\">y axis: <label for=\"yscale-lin\">linear</label><label for=\"yscale-log\">log</label></span>\n"
        out += "<span class=\"group\">t<sub>a</sub>/t<sub>w</sub> markers at: "
        out += measureKeys.enumerated().map { "<label for=\"measure-\($0.offset)\">\(Markup.escape(ReportFormat.measureShort($0.element)))</label>" }.joined()
        out += "</span>\n<span class=\"hint\">(default \(Markup.escape(measureKeys.isEmpty ? "-" : ReportFormat.measure(measureKeys[defaultMeasure]))), the middle threshold; works without JavaScript)</span>\n</div>\n"
        return out
    }
}
