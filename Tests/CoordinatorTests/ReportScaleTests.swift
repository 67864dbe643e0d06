import Foundation
import RegimeCore
import XCTest
@testable import RegimeAnalysis
@testable import RegimeReport
@testable import SweepStore

/// A results directory of 1000 trials (200 groups x 5 seeds, 3000 iterations recorded every 10)
/// made from synthetic curves, without training: the journal, the curves, the manifest, and the
/// real analysis of them.
enum LargeSweepFixture {
    static let groups = 200
    static let seeds = 5
    static let iterations = 3000
    static let recordEvery = 10

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: URL?

    /// The directory, made once per test process.
    static func directory() throws -> URL {
        lock.lock(); defer { lock.unlock() }
        if let made { return made }
        let url = TestSupport.temporaryDirectory("report-1000-trials")
        let rates = (0..<groups).map { String(format: "{name: sgd, lr: %.4f, momentum: 0.9}", 0.01 + 0.0005 * Double($0)) }
        let text = """
        name: thousand
        dataset: {name: synthetic, probe_subset: 64, probe_seed: 3}
        iterations: \(iterations)
        record_every: \(recordEvery)
        batch_size: 16
        eval_every: 500
        schedule: {name: cosine}
        analysis: {smoothing: 10, thresholds: [0.05, 0.1, 0.2], reference: {mode: early_peak, window: 300, skip: 20}}
        grid:
          seed: [\((1...seeds).map(String.init).joined(separator: ", "))]
          arch: ["mlp:32-16-10"]
          optimizer: [\(rates.joined(separator: ", "))]
        """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("regime-tests-\(getpid())-thousand.yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let sweep = try SweepFile.load(path: file.path)
        let directory = try SweepDirectory.create(at: url, sweep: sweep, force: true)
        var records: [SweepDirectory.Record] = []
        for (index, spec) in sweep.trials.enumerated() {
            // Every 50th trial diverged at iteration 900, with a message and a partial curve.
            let diverged = index % 50 == 7
            let curve = Self.curve(spec, index: index, records: (diverged ? 900 : iterations) / recordEvery)
            let result = TrialResult(trialID: spec.trialID, params: spec, status: diverged ? .diverged : .ok, iterations: curve.count,
                                     finalLoss: diverged ? nil : curve.loss.last, finalValAccuracy: diverged ? nil : curve.valAccuracy.last ?? nil,
                                     wallSeconds: 12.5, error: diverged ? "loss became nan at step 900" : nil)
            records.append(SweepDirectory.Record(result: result, curveCSV: curve.csv(), rank: index % 64, host: "node\(index % 8)"))
            if records.count == 100 {
                try directory.record(records)
                records = []
            }
        }
        try directory.record(records)
        var manifest = Manifest(gitCommit: nil, buildFlags: nil, sweepName: sweep.name, sweepFile: file.path, trials: sweep.trials.count,
                                ranks: 64, hosts: (0..<8).map { "node\($0)" }, started: "2026-01-01T00:00:00Z")
        manifest.ended = "2026-01-01T01:00:00Z"
        try directory.writeManifest(manifest)
        try SweepAnalysis.run(directory, sweep: sweep, options: sweep.analysis)
        made = url
        return url
    }

    /// Patterns settle about three times earlier than weights (with seed jitter), as regime change
    /// says; two weight layers and one pattern layer, validation every 500 steps.
    static func curve(_ spec: TrialSpec, index: Int, records: Int) -> Curve {
        var rng = Xoshiro256(seed: UInt64(index + 1), stream: 5)
        var c = Curve(layerNames: ["fc1", "fc2"], patternLayerNames: ["fc1"])
        let tauA = 150 + 60 * rng.nextUnitDouble(), tauW = 3 * tauA * (0.8 + 0.4 * rng.nextUnitDouble())
        for r in 1...records {
            let i = r * recordEvery
            let t = Double(i)
            let w = 1e-2 * exp(-t / tauW) * (1 + 0.2 * rng.nextNormal()) + 1e-6
            let a = 0.05 * exp(-t / tauA) * (1 + 0.3 * rng.nextNormal()).magnitude + 1e-7
            c.iteration.append(i)
            c.loss.append(2.3 * exp(-t / 900) + 0.2 + 0.05 * rng.nextUnitDouble())
            c.lr.append(spec.optimizer.lr * 0.5 * (1 + cos(Double.pi * t / Double(spec.iterations))))
            c.weightUpdateAbs.append(10 * w)
            c.weightUpdateRel.append(w)
            c.patternChange.append(a)
            c.patternChangeInit.append(min(0.4, t / 6000))
            c.valAccuracy.append(i % 500 == 0 || i == spec.iterations ? 0.5 + 0.4 * (1 - exp(-t / 800)) : nil)
            c.layerWeightUpdateAbs[0].append(12 * w); c.layerWeightUpdateAbs[1].append(8 * w)
            c.layerWeightUpdateRel[0].append(1.2 * w); c.layerWeightUpdateRel[1].append(0.8 * w)
            c.layerPatternChange[0].append(a)
            c.layerPatternChangeInit[0].append(min(0.4, t / 6000))
        }
        return c
    }
}

/// The report of a 1000-trial sweep: the page a reader opens first (verdicts, overview, the
/// groups' plots) stays under 3 MB and renders in headless Chromium in under 10 s; each trial's
/// detail is a page of its own, linked from its group.
final class ReportScaleTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    func testThousandTrialReportStaysSmallAndRendersQuickly() throws {
        let dir = try LargeSweepFixture.directory()
        let sweep = try SweepFile.load(path: dir.appendingPathComponent("sweep.yaml").path)
        XCTAssertEqual(sweep.trials.count, 1000)
        let started = Date()
        let run = try TestSupport.run(TestSupport.regimeBinary.path, ["report", dir.path], timeout: 600)
        let writeSeconds = Date().timeIntervalSince(started)
        XCTAssertEqual(run.status, 0, run.stderr)
        let page = dir.appendingPathComponent("report.html")
        let html = try String(contentsOf: page, encoding: .utf8)
        let size = html.utf8.count
        XCTAssertLessThan(size, 3_000_000, "report.html is \(size) bytes")

        // Everything a reader needs first is on it: every group's verdict, overview row and plot.
        let groups = TrialGroup.make(sweep.trials)
        XCTAssertEqual(groups.count, LargeSweepFixture.groups)
        for id in ["verdict", "overview", "groups", "notes"] { XCTAssertTrue(html.contains("id=\"\(id)\""), id) }
        for group in groups {
            XCTAssertTrue(html.contains("id=\"group-\(group.id)\""), group.id)
            XCTAssertTrue(html.contains("id=\"group-\(group.id)-decay-log\""), "the group's plot is on the first page")
        }
        XCTAssertEqual(ReportFixture.count("<li><a href=\"#group-", in: html), groups.count, "one verdict line per group")
        XCTAssertFalse(html.contains("<section class=\"card trial\""), "trial detail lives in its own pages")
        for svg in ReportFixture.svgElements(html).prefix(20) { XCTAssertNil(ReportFixture.xmlError(svg)) }

        // Every link from the first page leads to a page that exists and holds what it names.
        let links = Self.hrefs(html).filter { !$0.hasPrefix("#") }
        XCTAssertEqual(Set(links.filter { $0.contains("/trials/") }).count, 1000, "a link to every trial's page")
        for link in Set(links) {
            let target = dir.appendingPathComponent(String(link.split(separator: "#")[0]))
            XCTAssertTrue(FileManager.default.fileExists(atPath: target.path), "broken link \(link)")
        }
        let trialPage = try String(contentsOf: dir.appendingPathComponent("report/trials/\(sweep.trials[7].trialID).html"), encoding: .utf8)
        XCTAssertTrue(trialPage.contains("<section class=\"card trial\" id=\"trial-\(sweep.trials[7].trialID)\">"))
        XCTAssertTrue(trialPage.contains("status-diverged"))
        XCTAssertTrue(trialPage.contains("<style>"), "a trial page is self-contained")
        XCTAssertFalse(trialPage.contains(" src=") || trialPage.lowercased().contains("<script"))

        // Headless Chromium: load, lay out and paint the whole page (a full-height screenshot).
        guard let chromium = BrowserRenderTests.chromium() else {
            XCTFail("chromium not found on PATH; \(BrowserRenderTests.installHint)")
            return
        }
        let work = TestSupport.temporaryDirectory("report-1000-browser")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let renderStart = Date()
        let shot = try TestSupport.run(chromium, ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
                                                  "--user-data-dir=\(work.appendingPathComponent("profile").path)",
                                                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=1000",
                                                  "--screenshot=\(work.appendingPathComponent("page.png").path)",
                                                  "--window-size=1200,4000", page.absoluteString], timeout: 120)
        let renderSeconds = Date().timeIntervalSince(renderStart)
        XCTAssertEqual(shot.status, 0, shot.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("page.png").path), shot.stderr)
        XCTAssertEqual(BrowserRenderTests.pageErrors(shot.stderr), [], "the page logged errors")
        XCTAssertLessThan(renderSeconds, 10, "headless Chromium took \(renderSeconds) s")
        print(String(format: "report of 1000 trials: report.html %d bytes, %d SVG plots, written (with its %d linked pages) in %.1f s, rendered by headless Chromium in %.2f s",
                     size, ReportFixture.svgElements(html).count, Set(links).count, writeSeconds, renderSeconds))
    }

    /// Every `href="..."` of a page, unescaped.
    static func hrefs(_ html: String) -> [String] {
        html.components(separatedBy: "href=\"").dropFirst().map { String($0.prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&") }
    }
}
