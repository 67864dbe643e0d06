import Foundation
import RegimeCore
import XCTest
@testable import Coordinator
@testable import RegimeAnalysis
@testable import RegimeReport
@testable import SweepStore

/// The report's instrument panel per group: each plot appears exactly when the trials' curve
/// files have its columns (read by the names of issue 14), and the settling plot and table when
/// the trials have settling curves. The instrument columns are synthetic, written into a copy of
/// the tiny sweep's curve files.
final class InstrumentPanelTests: XCTestCase {
    static let instrumentColumns = ["margin_0.01", "margin_0.03", "margin_0.1", "margin_0.01.fc1", "flip_sensitivity", "excess_flips",
                                    "pattern_change_lag10", "pattern_change_lag100", "weight_update_abs_lag10", "weight_update_abs_lag100"]

    /// The tiny sweep with the instrument columns added to every curve file: margins 10 δ,
    /// flip sensitivity 2, excess flips 1.5 at every 10th row (empty elsewhere), lag-k distances
    /// k/2 times the one-step column (lag ratio 0.5).
    func sweepWithInstruments() throws -> URL {
        try sweep("report-instruments", instruments: true)
    }

    /// A copy of the tiny sweep whose curve files have none of the geometric instruments' columns
    /// (as written before them).
    func sweepWithoutInstruments() throws -> URL {
        try sweep("report-no-instruments", instruments: false)
    }

    /// A copy of the tiny sweep with the recorded instrument columns removed from every curve
    /// file and, with `instruments`, the synthetic ones added.
    func sweep(_ name: String, instruments: Bool) throws -> URL {
        let source = try ReportFixture.tinySweep()
        let out = TestSupport.temporaryDirectory(name)
        try FileManager.default.copyItem(at: source, to: out)
        let directory = try SweepDirectory(existing: out)
        let recorded = Set(ProbeColumns(patternLayerCount: 2, parameterGroupCount: 3)
            .csvColumns(layers: ["fc1", "fc2"], groups: ["fc1", "fc2", "fc3"]).map(\.0))
        for trial in try directory.loadSweep().trials {
            guard var table = try directory.readCurveTable(trialID: trial.trialID) else { continue }
            let keep = table.header.indices.filter { !recorded.contains(table.header[$0]) }
            table = NumericCSV(header: keep.map { table.header[$0] }, columns: keep.map { table.columns[$0] })
            guard instruments else {
                try Data(table.text().utf8).write(to: directory.curveURL(trial.trialID))
                continue
            }
            let rows = table.rowCount
            let pattern = table.column("pattern_change")!, weight = table.column("weight_update_abs")!
            let added: [String: [Double?]] = [
                "margin_0.01": Array(repeating: 0.1, count: rows), "margin_0.03": Array(repeating: 0.3, count: rows),
                "margin_0.1": Array(repeating: 1, count: rows), "margin_0.01.fc1": Array(repeating: 0.7, count: rows),
                "flip_sensitivity": Array(repeating: 2, count: rows),
                "excess_flips": (0..<rows).map { $0 % 10 == 9 ? 1.5 : nil },
                "pattern_change_lag10": pattern.map { $0.map { 5 * $0 } }, "pattern_change_lag100": pattern.map { $0.map { 50 * $0 } },
                "weight_update_abs_lag10": weight.map { $0.map { 5 * $0 } }, "weight_update_abs_lag100": weight.map { $0.map { 50 * $0 } },
            ]
            for name in Self.instrumentColumns {
                table.header.append(name)
                table.columns.append(added[name]!)
            }
            try Data(table.text().utf8).write(to: directory.curveURL(trial.trialID))
        }
        return out
    }

    func testPanelsAppearForThePresentColumnsOnly() throws {
        let plain = try sweepWithoutInstruments()
        let instrumented = try sweepWithInstruments()
        defer { for url in [plain, instrumented] { try? FileManager.default.removeItem(at: url) } }
        let groups = TrialGroup.make(try SweepFile.load(path: plain.appendingPathComponent("sweep.yaml").path).trials)
        let withColumns = try Report.build(directory: instrumented)
        let without = try Report.build(directory: plain)
        for group in groups {
            for plot in ["margins", "flip-sensitivity", "excess-flips", "lag-ratios"] {
                XCTAssertTrue(withColumns.contains("id=\"group-\(group.id)-\(plot)\""), "\(plot) with its columns")
                XCTAssertFalse(without.contains("id=\"group-\(group.id)-\(plot)\""), "\(plot) without its columns")
            }
            // The tiny sweep's trials have settling curves: the settling plot and table either way.
            for html in [withColumns, without] { XCTAssertTrue(html.contains("id=\"group-\(group.id)-settling\""), group.id) }
        }
        for label in ["δ = 0.01", "δ = 0.03", "δ = 0.1", "pattern_change lag 10", "pattern_change lag 100",
                      "weight_update_abs lag 10", "weight_update_abs lag 100", "settling q"] {
            XCTAssertTrue(withColumns.contains(label), label)
        }
        XCTAssertFalse(withColumns.contains("δ = 0.01.fc1"), "a per-layer margin column is not a global series")
        XCTAssertNil(ReportFixture.xmlError(withColumns.replacingOccurrences(of: "<!DOCTYPE html>", with: "")))
    }

    /// A trial's page shows its own instruments: the margins at each δ, the flip sensitivity and
    /// the excess flips, each with a line per pattern layer (both scales), its distance-to-final
    /// curve and its settling times as in `timing.jsonl`; without the instrument columns only the
    /// settling part remains.
    func testTrialPageShowsItsInstrumentsPerLayer() throws {
        let dir = try ReportFixture.tinySweep()
        let plain = try sweepWithoutInstruments()
        defer { try? FileManager.default.removeItem(at: plain) }
        let pages = try ReportFixture.linkedPages(dir), plainPages = try ReportFixture.linkedPages(plain)
        let input = try ReportInput.load(dir)
        let timing = try SweepAnalysis.readTiming(try SweepDirectory(existing: dir))
        let plots = ["margin_0.01", "margin_0.03", "margin_0.1", "flip_sensitivity", "excess_flips"]
        for spec in try SweepFile.load(path: dir.appendingPathComponent("sweep.yaml").path).trials {
            let id = spec.trialID
            let page = try XCTUnwrap(pages["trials/\(id).html"], id), plainPage = try XCTUnwrap(plainPages["trials/\(id).html"], id)
            XCTAssertNil(ReportFixture.xmlError(page.replacingOccurrences(of: "<!DOCTYPE html>", with: "")), id)
            for plot in plots {
                for scale in ["lin", "log"] {
                    let start = try XCTUnwrap(page.range(of: "id=\"trial-\(id)-\(plot)-\(scale)\""), "\(id) \(plot) \(scale)")
                    let svg = page[start.lowerBound...].components(separatedBy: "</svg>")[0]
                    for label in [">all layers<", ">fc1<", ">fc2<"] { XCTAssertTrue(svg.contains(label), "\(id) \(plot): \(label)") }
                    XCTAssertFalse(plainPage.contains("id=\"trial-\(id)-\(plot)-\(scale)\""), "\(id) \(plot) without its columns")
                }
            }
            for html in [page, plainPage] { XCTAssertTrue(html.contains("id=\"trial-\(id)-settling\""), id) }
            let settling = try XCTUnwrap(timing[id]?.settling, id)
            for q in input.options.settling {
                let c = try XCTUnwrap(settling[SettlingTimes.key(q)])
                guard let tA = c.tA.value, let tW = c.tW.value, let ratio = c.ratio.value else { continue }
                XCTAssertTrue(page.contains("<tr><td>\(SettlingTimes.key(q))</td><td>\(Int(tA))</td><td>\(Int(tW))</td><td>\(String(format: "%.2f", ratio))</td></tr>"),
                              "\(id): settling row q = \(q)")
            }
        }
    }

    /// The lag ratio of the panel: lag-k distance over k one-step distances, both smoothed.
    func testLagRatio() {
        let base: [Double] = [1, 2, 3, 4, 5, 6]
        let ratio = ReportBuilder.lagRatio(lag: base.map { 3 * $0 }, base: base, lag: 10, recordEvery: 1, smoothing: 3)
        for r in ratio { XCTAssertEqual(r, 0.3, accuracy: 1e-15) }
        // Recorded every 5 steps: the base is a 5-step distance, so lag 10 is two of them.
        let sparse = ReportBuilder.lagRatio(lag: base.map { 2 * $0 }, base: base, lag: 10, recordEvery: 5, smoothing: 1)
        XCTAssertEqual(sparse, [1, 1, 1, 1, 1, 1])
        // Undefined where the one-step distance is 0 or the lag column is empty.
        let gaps = ReportBuilder.lagRatio(lag: [.nan, 1, 1], base: [1, 0, 1], lag: 10, recordEvery: 1, smoothing: 1)
        XCTAssertTrue(gaps[0].isNaN && gaps[1].isNaN)
        XCTAssertEqual(gaps[2], 0.1, accuracy: 1e-15)
    }

    /// The settling rows of the definition table reach the summary of a real sweep: one per
    /// fraction q of the analysis settings, with every seed's times.
    func testSettlingRowsInTheSummary() throws {
        let dir = try ReportFixture.tinySweep()
        let input = try ReportInput.load(dir)
        for group in input.summary.groups {
            let rows = group.definitions.filter { $0.definition.hasPrefix("settling ") }
            XCTAssertEqual(rows.map(\.definition), input.options.settling.map(SettlingTimes.definitionName), group.groupID)
            for row in rows { XCTAssertEqual(row.ratio.trials, group.ok, row.definition) }
        }
        let timing = try SweepAnalysis.readTiming(try SweepDirectory(existing: dir))
        XCTAssertFalse(timing.isEmpty)
        for analysis in timing.values { XCTAssertEqual(analysis.settling?.count, input.options.settling.count, analysis.trialID) }
    }
}
