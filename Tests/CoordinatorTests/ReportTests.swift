import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import RegimeCore
import XCTest
@testable import Coordinator
@testable import RegimeReport
@testable import RegimeAnalysis
@testable import SweepStore
@testable import RegimeMPI
@testable import Worker

/// Sweep directories for the report tests, made once per test process by the real binary.
enum ReportFixture {
    private static let lock = NSLock()
    private static var tiny: URL?
    private static var edited: URL?

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// A finished run of `Fixtures/tiny.yaml` (synthetic data, 2 groups x 3 seeds).
    static func tinySweep() throws -> URL {
        lock.lock(); defer { lock.unlock() }
        if let tiny { return tiny }
        let out = TestSupport.temporaryDirectory("report-tiny")
        let run = try TestSupport.run(TestSupport.regimeBinary.path,
                                      ["sweep", TestSupport.fixtures.appendingPathComponent("tiny.yaml").path, "--out", out.path],
                                      timeout: 600)
        guard run.status == 0 else { throw Failure(description: "regime sweep failed (\(run.status)): \(run.stderr)") }
        tiny = out
        atexit { ReportFixture.removeAll() }
        return out
    }

    /// The tiny sweep edited into the awkward cases: in the first trial t_w never decays below
    /// any threshold (censored), in every trial of the second group t_a(0.1) is censored, the last
    /// trial diverged, hostile text in the sweep name, a host name and an error message, and no
    /// summary.json (so the report computes it from the journal).
    static let hostileName = "tiny <b>&amp; \"quoted\" 'x'</b>"
    static let hostileHost = "<img src=x onerror=alert(1)>"
    static let hostileError = "loss became nan at step 50 <script>alert('x')</script> & more"

    static func editedSweep() throws -> URL {
        let source = try tinySweep()
        lock.lock(); defer { lock.unlock() }
        if let edited { return edited }
        let out = TestSupport.temporaryDirectory("report-edited")
        try FileManager.default.copyItem(at: source, to: out)
        try? FileManager.default.removeItem(at: out.appendingPathComponent("summary.json"))
        try? FileManager.default.removeItem(at: out.appendingPathComponent("report.html"))
        let sweepURL = out.appendingPathComponent("sweep.yaml")
        var yaml = try String(contentsOf: sweepURL, encoding: .utf8)
        let escapedName = hostileName.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        yaml = yaml.replacingOccurrences(of: "name: tiny\n", with: "name: \"\(escapedName)\"\n")
        try yaml.write(to: sweepURL, atomically: true, encoding: .utf8)

        let sweep = try SweepFile.load(path: sweepURL.path)
        let groups = TrialGroup.make(sweep.trials)
        let secondGroup = Set(groups[1].trialIndices.map { sweep.trials[$0].trialID })
        let firstTrial = sweep.trials[groups[0].trialIndices[0]].trialID
        let lastTrial = sweep.trials[groups[1].trialIndices.last!].trialID

        let journal = out.appendingPathComponent("trials.jsonl")
        var lines: [String] = []
        for line in try String(contentsOf: journal, encoding: .utf8).split(separator: "\n") {
            var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let id = object["trial_id"] as! String
            if id == firstTrial { object["host"] = hostileHost }
            if id == lastTrial {
                object["status"] = "diverged"
                object["final_val_accuracy"] = NSNull()
                object["error"] = hostileError
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            lines.append(String(decoding: data, as: UTF8.self))
        }
        try (lines.joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)

        // Censor times in the analysis (timing.jsonl), drop the diverged trial's, and summarise that.
        let directory = try SweepDirectory(existing: out)
        var analyses = try SweepAnalysis.readTiming(directory)
        analyses[lastTrial] = nil
        for (id, var analysis) in analyses {
            if id == firstTrial {
                for key in ["0.1", "0.2", "0.5"] {
                    analysis.decay[key] = TimingComparison(tW: .unavailable(.censored), tA: analysis.decay[key]!.tA)
                }
            }
            if secondGroup.contains(id) {
                analysis.decay["0.1"] = TimingComparison(tW: analysis.decay["0.1"]!.tW, tA: .unavailable(.censored))
            }
            analyses[id] = analysis
        }
        var timing = Data()
        for spec in sweep.trials { if let a = analyses[spec.trialID] { timing.append(try JSONFormat.line(a)); timing.append(0x0A) } }
        try timing.write(to: directory.timingURL)
        let results = try directory.readJournal().entries.reduce(into: [String: TrialResult]()) { $0[$1.result.trialID] = $1.result }
        let summary = SweepSummary.make(name: sweep.name, trials: sweep.trials, groups: groups,
                                        results: sweep.trials.map { results[$0.trialID] },
                                        analyses: sweep.trials.map { analyses[$0.trialID] }, options: sweep.analysis)
        try JSONFormat.pretty(summary).write(to: directory.summaryJSONURL)
        edited = out
        return out
    }

    /// Removes the fixture directories (at the end of the test process).
    static func removeAll() {
        for url in [tiny, edited].compactMap({ $0 }) { try? FileManager.default.removeItem(at: url) }
    }

    /// Every `<svg ...>...</svg>` element of a page.
    static func svgElements(_ html: String) -> [String] {
        var out: [String] = []
        var rest = html[...]
        while let start = rest.range(of: "<svg "), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
            out.append(String(rest[start.lowerBound..<end.upperBound]))
            rest = rest[end.upperBound...]
        }
        return out
    }

    /// Parses `text` as XML; returns the parser's error, nil if well-formed.
    static func xmlError(_ text: String) -> String? {
        let parser = XMLParser(data: Data(text.utf8))
        return parser.parse() ? nil : "\(parser.parserError.map { "\($0)" } ?? "unknown error") at line \(parser.lineNumber), column \(parser.columnNumber)"
    }

    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    /// The report's pages besides the first, by path relative to `report/`.
    static func linkedPages(_ directory: URL) throws -> [String: String] {
        var pages: [String: String] = [:]
        try ReportPage.forEachLinkedPage(directory: directory) { pages[$0] = $1 }
        return pages
    }
}

/// Structure of `report.html`: well-formed SVG, the expected sections, labels and markers,
/// censored values as words, escaping, self-containment and byte-for-byte determinism.
final class ReportTests: XCTestCase {
    func report(_ directory: URL) throws -> String {
        try Report.build(directory: directory)
    }

    func testReportCommandWritesTheFileDeterministically() throws {
        let dir = try ReportFixture.tinySweep()
        let target = dir.appendingPathComponent("report.html")
        try? FileManager.default.removeItem(at: target)
        let run = try TestSupport.run(TestSupport.regimeBinary.path, ["report", dir.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains(target.path), run.stdout)
        let first = try Data(contentsOf: target)
        let folder = dir.appendingPathComponent("report")
        let pages = try TestSupport.snapshot(folder)
        XCTAssertEqual(pages.keys.sorted(), try SweepFile.load(path: dir.appendingPathComponent("sweep.yaml").path).trials
            .map { "trials/\($0.trialID).html" }.sorted(), "a page per trial (and none per group in a small sweep)")
        let again = try TestSupport.run(TestSupport.regimeBinary.path, ["report", dir.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try Data(contentsOf: target), first, "the same directory must give the same bytes")
        XCTAssertEqual(try TestSupport.snapshot(folder), pages, "the same directory must give the same pages")
        XCTAssertEqual(try report(dir), String(decoding: first, as: UTF8.self))
        XCTAssertEqual(try ReportFixture.linkedPages(dir).mapValues { Data($0.utf8) }, pages)

        let elsewhere = TestSupport.temporaryDirectory("report-output.html")
        let elsewhereFolder = TestSupport.temporaryDirectory("report-output")
        let other = try TestSupport.run(TestSupport.regimeBinary.path, ["report", dir.path, "--output", elsewhere.path])
        XCTAssertEqual(other.status, 0, other.stderr)
        XCTAssertEqual(String(decoding: try Data(contentsOf: elsewhere), as: UTF8.self),
                       String(decoding: first, as: UTF8.self).replacingOccurrences(of: "href=\"report/", with: "href=\"regime-tests-\(getpid())-report-output/"),
                       "the same page, its links into the folder beside it")
        XCTAssertEqual(try TestSupport.snapshot(elsewhereFolder).count, pages.count)
        try? FileManager.default.removeItem(at: elsewhere)
        try? FileManager.default.removeItem(at: elsewhereFolder)

        let missing = try TestSupport.run(TestSupport.regimeBinary.path, ["report", "/nonexistent/sweep"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("not a sweep directory"), missing.stderr)
    }

    func testEverySVGAndThePageAreWellFormedXML() throws {
        for dir in [try ReportFixture.tinySweep(), try ReportFixture.editedSweep()] {
            // The first page: overview 1; per group: decay lin+log, ratio, loss lin+log, accuracy,
            // pattern_change_init lin+log = 8, plus R(eps) when the summary has timing, plus the
            // settling plot when the trials have settling curves, plus the instrument panel. Each trial's page (with a curve):
            // 4 plots x 2 scales, and its instruments: margins at 3 δ, flip sensitivity and excess flips x 2 scales, and
            // its distance to the final state.
            let input = try ReportInput.load(dir)
            let timed = input.summary.groups.filter { $0.timing != nil || $0.timingLRNormalized != nil }.count
                + input.summary.groups.filter { $0.definitions.contains { $0.definition.hasPrefix("settling ") } }.count
            let first = try report(dir)
            let pages = try ReportFixture.linkedPages(dir)
            XCTAssertEqual(pages.count, 6)
            for (name, html) in [("report.html", first)] + pages.sorted(by: { $0.key < $1.key }) {
                let svgs = ReportFixture.svgElements(html)
                // Per group also the instrument panel's 4 plots (margins, flip sensitivity, excess
                // flips, lag ratios): the tiny sweep's curves carry their columns.
                let panels = 4 * input.summary.groups.count
                XCTAssertEqual(svgs.count, name == "report.html" ? 1 + 2 * 8 + timed + panels : 8 + 5 * 2 + 1, "\(dir.lastPathComponent) \(name)")
                for svg in svgs {
                    XCTAssertNil(ReportFixture.xmlError(svg), String(svg.prefix(200)))
                    XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
                    XCTAssertTrue(svg.contains("<title>"), "every plot has a title")
                }
                // Ids are unique (clip paths and anchors depend on it).
                let ids = html.components(separatedBy: " id=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
                XCTAssertEqual(ids.count, Set(ids).count, "\(name): duplicate ids: \(Dictionary(grouping: ids, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted())")
                // The whole page is XHTML-clean too.
                let body = html.replacingOccurrences(of: "<!DOCTYPE html>", with: "")
                XCTAssertNil(ReportFixture.xmlError(body), name)
            }
        }
    }

    func testSectionsLabelsAndMarkers() throws {
        let dir = try ReportFixture.tinySweep()
        let html = try report(dir)
        let sweep = try SweepFile.load(path: dir.appendingPathComponent("sweep.yaml").path)
        let groups = TrialGroup.make(sweep.trials)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        for id in ["verdict", "overview", "groups", "notes"] { XCTAssertTrue(html.contains("id=\"\(id)\""), id) }
        for group in groups {
            XCTAssertTrue(html.contains("<section class=\"card group\" id=\"group-\(group.id)\">"), group.id)
            XCTAssertTrue(html.contains("id=\"group-\(group.id)-decay-log\""))
            XCTAssertTrue(html.contains("id=\"group-\(group.id)-decay-lin\""))
            XCTAssertTrue(html.contains("id=\"group-\(group.id)-ratio\""))
        }
        // Both knees appear on each group's decay plots (log and linear): a marker or a note saying why not.
        let input = try ReportInput.load(dir)
        for symbol in ["knee_a", "knee_w"] {
            XCTAssertEqual(html.components(separatedBy: ">\(symbol)").count - 1,
                           2 * input.summary.groups.filter { $0.timing != nil }.count, symbol)
        }
        // Each trial's detail is its own page, linked from its group; its link back leads to the group.
        let pages = try ReportFixture.linkedPages(dir)
        XCTAssertFalse(html.contains("<section class=\"card trial\""))
        for trial in sweep.trials {
            XCTAssertTrue(html.contains("<a href=\"report/trials/\(trial.trialID).html\">seed \(trial.seed)</a>"), trial.trialID)
            let page = try XCTUnwrap(pages["trials/\(trial.trialID).html"])
            XCTAssertTrue(page.contains("<section class=\"card trial\" id=\"trial-\(trial.trialID)\">"), trial.trialID)
            let group = try XCTUnwrap(groups.first { $0.trialIndices.contains { sweep.trials[$0].trialID == trial.trialID } })
            XCTAssertTrue(page.contains("<a href=\"../../report.html#group-\(group.id)\">"), trial.trialID)
            XCTAssertTrue(page.contains("<style>") && page.contains("id=\"measure-1\" class=\"switch\" checked=\"checked\""), "self-contained, with its switches")
        }
        // Axis labels, units, legends, caption naming the normalisation with the sweep's numbers.
        for text in ["iteration (optimizer steps)", "smoothed / early peak (unitless)", "ratio t_w / t_a (unitless)",
                     "cross-entropy (nats)", "weight update (rel.) ± 1 sd", "pattern change ± 1 sd", "early-peak window",
                     "trailing moving average over 5 recorded points", "iterations 1–20",
                     "mean [95% Student-t CI]", "t_w = t_a"] {
            XCTAssertTrue(html.contains(Markup.escape(text)), text)
        }
        // Log and linear versions of the curve plots; the switches need no script.
        XCTAssertEqual(ReportFixture.count("class=\"scale-log\"", in: html), ReportFixture.count("class=\"scale-lin\"", in: html))
        XCTAssertTrue(html.contains("<input type=\"radio\" name=\"yscale\" id=\"yscale-log\" class=\"switch\" checked=\"checked\"/>"))
        // Thresholds [0.1, 0.2, 0.5] + auc90; the middle threshold is selected by default.
        XCTAssertTrue(html.contains("<input type=\"radio\" name=\"measure\" id=\"measure-1\" class=\"switch\" checked=\"checked\"/>"))
        XCTAssertEqual(ReportFixture.count("name=\"measure\"", in: html), 4)
        XCTAssertEqual(ReportFixture.count("checked=\"checked\"", in: html), 2)
        XCTAssertTrue(html.contains("(default \u{03B5} = 0.2, the middle threshold"))

        // Group markers at the mean times of summary.json, one set per measure.
        let summary = try JSONCoding.decoder().decode(SweepSummary.self, from: Data(contentsOf: dir.appendingPathComponent("summary.json")))
        for g in summary.groups {
            let m = g.decay["0.2"]!
            let label = "t_a(\u{03B5}=0.2) = \(ReportFormat.time(m.tA.mean!))"
            XCTAssertTrue(html.contains(">\(Markup.escape(label))</text>"), label)
            XCTAssertTrue(html.contains(">\(Markup.escape("t_w(\u{03B5}=0.2) = \(ReportFormat.time(m.tW.mean!))"))</text>"))
            XCTAssertTrue(html.contains(">\(Markup.escape("t_a(auc90) = \(ReportFormat.time(g.decay["auc90"]!.tA.mean!))"))</text>"))
            // The summary table row: the ratio's median with its interval or the reason there is none.
            let ratio = try XCTUnwrap(g.definition(forDecayKey: "0.2")?.ratio)
            XCTAssertTrue(html.contains(Markup.escape(Verdict.describe(ratio.median))), Verdict.describe(ratio.median))
        }
        XCTAssertTrue(html.contains("mk mk-1"))
        XCTAssertTrue(html.contains("#measure-1:checked ~ main .mk-1 { display: inline; }"))
        // Timestamps only from the manifest.
        let manifest = try JSONCoding.decoder().decode(Manifest.self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        XCTAssertTrue(html.contains("started \(manifest.started)"))
    }

    func testSelfContainedWithoutScript() throws {
        let dir = try ReportFixture.tinySweep()
        for html in [try report(dir)] + Array(try ReportFixture.linkedPages(dir).values) { try assertSelfContained(html) }
    }

    func assertSelfContained(_ html: String) throws {
        XCTAssertFalse(html.lowercased().contains("<script"))
        XCTAssertFalse(html.contains("<link"))
        XCTAssertFalse(html.contains(" src="))
        XCTAssertFalse(html.contains("@import"))
        let withoutNamespace = html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
        XCTAssertFalse(withoutNamespace.contains("http://"))
        XCTAssertFalse(withoutNamespace.contains("https://"))
        XCTAssertFalse(withoutNamespace.contains("url(http"))
    }

    func testCensoredDivergedAndEscapedText() throws {
        let dir = try ReportFixture.editedSweep()
        let pages = try ReportFixture.linkedPages(dir)
        let html = try report(dir) + pages.keys.sorted().map { pages[$0]! }.joined()
        let sweep = try SweepFile.load(path: dir.appendingPathComponent("sweep.yaml").path)
        let groups = TrialGroup.make(sweep.trials)
        let first = sweep.trials[groups[0].trialIndices[0]].trialID
        let last = sweep.trials[groups[1].trialIndices.last!].trialID

        // Hostile text appears only escaped.
        XCTAssertFalse(html.contains("<b>&amp;"))
        XCTAssertFalse(html.contains("<img"))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertTrue(html.contains(Markup.escape(ReportFixture.hostileName)))
        XCTAssertTrue(html.contains(Markup.escape(ReportFixture.hostileHost)))
        XCTAssertTrue(html.contains(Markup.escape(ReportFixture.hostileError)))
        XCTAssertTrue(html.contains("summary.json"), "the footer names the summary's source")

        // The first trial: t_w censored at every threshold, as the word in its table and plot.
        let trialSection = try XCTUnwrap(section(html, id: "trial-\(first)"))
        let rows = trialSection.components(separatedBy: "<tr class=\"row-").dropFirst()
        XCTAssertEqual(rows.count, 4)
        for row in rows.prefix(3) {
            XCTAssertEqual(ReportFixture.count("<span class=\"censored\">censored</span>", in: row), 2, row)  // t_w and ratio
        }
        XCTAssertTrue(trialSection.contains(">t_w censored</text>"))

        // Group 2: t_a(0.1) censored in all seeds -> no number, the word and the count.
        let groupSection = try XCTUnwrap(section(html, id: "group-\(groups[1].id)"))
        let row01 = try XCTUnwrap(groupSection.components(separatedBy: "<tr class=\"row-0\">").dropFirst().first)
        let cells = row01.components(separatedBy: "</tr>")[0]
        XCTAssertTrue(cells.contains("<span class=\"censored\">censored</span> <span class=\"muted\">(2 of 2)</span>"), cells)
        XCTAssertTrue(groupSection.contains(Markup.escape("t_a(\u{03B5}=0.1) censored (2 of 2)")))
        // Group 1 at 0.1: one seed censored for t_w, counted beside the mean of the others.
        let group1 = try XCTUnwrap(section(html, id: "group-\(groups[0].id)"))
        XCTAssertTrue(group1.contains("n=2</span> <span class=\"censored\">+1 censored</span>"))
        XCTAssertTrue(group1.contains("1 of 3 censored"))

        // The diverged trial: status, escaped error, no decay table.
        let diverged = try XCTUnwrap(section(html, id: "trial-\(last)"))
        XCTAssertTrue(diverged.contains("<span class=\"status status-diverged\">diverged</span>"))
        XCTAssertFalse(diverged.contains("<table class=\"decay\">"))

        // Never a made-up number for a missing value.
        for bad in [">nan<", ">null<", "NaN", ">inf<", "nil"] { XCTAssertFalse(html.contains(bad), bad) }
    }

    /// A trial that has not run yet is listed as such (a partial sweep still gets a report).
    func testPartialSweepListsTrialsNotRun() throws {
        let source = try ReportFixture.tinySweep()
        let dir = TestSupport.temporaryDirectory("report-partial")
        try FileManager.default.copyItem(at: source, to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("summary.json"))
        let journal = dir.appendingPathComponent("trials.jsonl")
        let lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n")
        try (lines.prefix(2).joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)
        // An interrupted sweep has no summary: the report says to analyse it, and then works.
        XCTAssertThrowsError(try report(dir)) { XCTAssertTrue("\($0)".contains("regime analyze"), "\($0)") }
        try SweepAnalysis.reanalyse(try SweepDirectory(existing: dir), analysisFile: nil)
        let html = try report(dir)
        let pages = try ReportFixture.linkedPages(dir)
        XCTAssertEqual(ReportFixture.count("<span class=\"status status-not-run\">not run</span>", in: html), 4, "the group lists")
        XCTAssertEqual(pages.values.filter { $0.contains("<span class=\"status status-not-run\">not run</span>") }.count, 4, "trial pages")
        XCTAssertTrue(html.contains("2/6 trials finished"))
        for svg in ReportFixture.svgElements(html) { XCTAssertNil(ReportFixture.xmlError(svg)) }
    }

    /// The markers are the decay detector's times: re-deriving them from the normalised curves the
    /// report draws gives the journal's values.
    func testNormalisedCurvesGiveTheJournalsTimes() throws {
        let dir = try ReportFixture.tinySweep()
        let input = try ReportInput.load(dir)
        let builder = ReportBuilder(input: input)
        for group in builder.groups.map(builder.withCurves) {
            for trial in group.trials {
                let decay = try XCTUnwrap(trial.analysis?.decay)
                let its = trial.iterations.map { Int($0) }
                let w = try XCTUnwrap(trial.normalizedW), a = try XCTUnwrap(trial.normalizedA)
                for eps in input.options.thresholds {
                    let c = try XCTUnwrap(decay[DecayRules.epsilonKey(eps)])
                    XCTAssertEqual(DecayRules.thresholdTime(iterations: its, normalized: w, epsilon: eps).map(Double.init), c.tW.value)
                    XCTAssertEqual(DecayRules.thresholdTime(iterations: its, normalized: a, epsilon: eps).map(Double.init), c.tA.value)
                }
            }
        }
    }

    /// The robust timing of the summary (R(eps) and the estimators, for both weight-update
    /// measures) is drawn per group, and each trial's estimator times are listed.
    func testTimingInSummaryIsRendered() throws {
        let source = try ReportFixture.tinySweep()
        let dir = TestSupport.temporaryDirectory("report-timing")
        try FileManager.default.copyItem(at: source, to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try ReportInput.load(dir)
        let timed = input.summary.groups.filter { $0.timing != nil }
        XCTAssertEqual(timed.count, input.groups.count, "the sweep writes timing into summary.json")
        var html = try report(dir)
        for group in timed {
            XCTAssertTrue(html.contains("id=\"group-\(group.groupID)-reps\""))
        }
        XCTAssertTrue(html.contains("R(\u{03B5}) and robust estimators"))
        XCTAssertEqual(ReportFixture.count("<table class=\"timing-estimators\">", in: html),
                       timed.count + input.summary.groups.filter { $0.timingLRNormalized != nil }.count)
        XCTAssertEqual(try ReportFixture.linkedPages(dir).values.filter { $0.contains("<table class=\"trial-timing\">") }.count, 6)
        for svg in ReportFixture.svgElements(html) { XCTAssertNil(ReportFixture.xmlError(svg)) }

        // Without timing in summary.json there is no such section (and nothing breaks).
        let summaryURL = dir.appendingPathComponent("summary.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: summaryURL)) as! [String: Any]
        var groupObjects = object["groups"] as! [[String: Any]]
        for g in groupObjects.indices {
            groupObjects[g].removeValue(forKey: "timing")
            groupObjects[g].removeValue(forKey: "timing_lr_normalized")
        }
        object["groups"] = groupObjects
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: summaryURL)
        html = try report(dir)
        XCTAssertFalse(html.contains("-reps\""))
        XCTAssertFalse(html.contains("timing-estimators"))

        // An unreadable summary.json is an error that names it and says how to rewrite it.
        groupObjects[0]["timing"] = ["epsilon": "bad"]
        object["groups"] = groupObjects
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: summaryURL)
        XCTAssertThrowsError(try report(dir)) { error in
            XCTAssertTrue("\(error)".contains("summary.json") && "\(error)".contains("regime analyze"), "\(error)")
        }
    }

    func testNiceTicksAndEscaping() {
        let t = NiceTicks.linear(lo: 0, hi: 120, count: 7)
        XCTAssertEqual(t.ticks, [0, 20, 40, 60, 80, 100, 120])
        let u = NiceTicks.linear(lo: 0.93, hi: 1.64, count: 8)
        XCTAssertEqual(u.step, 0.1, accuracy: 1e-12)
        XCTAssertEqual(u.lo, 0.9, accuracy: 1e-12)
        XCTAssertEqual(u.hi, 1.7, accuracy: 1e-12)
        XCTAssertEqual(NiceTicks.label(u.ticks[2], step: u.step), "1.1")
        XCTAssertEqual(NiceTicks.label(-0.0, step: 1), "0")
        let l = NiceTicks.log(lo: 0.0013, hi: 1.3)
        XCTAssertEqual(l.lo, 0.001, accuracy: 1e-15)
        XCTAssertEqual(l.hi, 2, accuracy: 1e-12)
        XCTAssertEqual(l.ticks.map(NiceTicks.logLabel), ["0.001", "0.01", "0.1", "1"])
        XCTAssertEqual(NiceTicks.logLabel(1e-5), "10\u{207B}\u{2075}")
        XCTAssertEqual(NiceTicks.log(lo: 0.3, hi: 1.2).ticks.map(NiceTicks.logLabel), ["0.2", "0.5", "1", "2"])
        XCTAssertEqual(Markup.escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;")
        // Thinning keeps each pixel column's extremes, in order.
        var run: [(Double, Double)] = []
        for i in 0..<100 {
            let y: Double = i == 37 ? 500 : Double(i % 7)
            run.append((Double(i) / 50, y))
        }
        let thin = SVGPlot.thin(run)
        XCTAssertLessThan(thin.count, run.count)
        XCTAssertTrue(thin.contains { $0.1 == 500 })
        let xs: [Double] = thin.map { $0.0 }
        XCTAssertEqual(xs, xs.sorted())
    }

    func testEmptyPlotSaysSo() {
        var plot = SVGPlot(id: "empty")
        plot.title = "Nothing"
        plot.emptyMessage = "no finished trial"
        let svg = plot.render()
        XCTAssertNil(ReportFixture.xmlError(svg))
        XCTAssertTrue(svg.contains(">no finished trial</text>"))
    }

    /// The text of the element `<section ... id="ID">` up to the next section of the same kind.
    func section(_ html: String, id: String) -> String? {
        guard let start = html.range(of: "id=\"\(id)\">") else { return nil }
        let rest = html[start.upperBound...]
        let end = rest.range(of: "<section class=\"card")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }
}
