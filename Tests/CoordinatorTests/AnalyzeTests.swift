import Foundation
import XCTest
@testable import SweepStore

/// Analysis apart from training, under real `mpirun`: a sweep run with analysis A and then
/// re-analysed with B gives, byte for byte, the summary and per-trial times of a fresh sweep run
/// with B; trial ids do not depend on the analysis; a failed analyze leaves the previous one.
final class AnalyzeTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    /// `tiny.yaml` with its `analysis:` line replaced.
    func sweepFile(analysis: String, name: String) throws -> URL {
        let text = try String(contentsOf: TestSupport.fixtures.appendingPathComponent("tiny.yaml"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("analysis:") ? "analysis: \(analysis)" : String(line)
        }
        XCTAssertTrue(lines.contains("analysis: \(analysis)"), "tiny.yaml has an analysis: line")
        let url = TestSupport.temporaryDirectory(name).appendingPathExtension("yaml")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testAnalyzeWithBEqualsAFreshSweepWithB() throws {
        let analysisA = "{smoothing: 5, thresholds: [0.1, 0.2, 0.5], reference: {mode: early_peak, window: 20, skip: 0}}"
        let analysisB = "{smoothing: 3, thresholds: [0.05, 0.3], reference: {mode: value_at, iteration: 15}, area_fraction: 0.8, settling: [0.7, 0.3]}"
        let sweepA = try sweepFile(analysis: analysisA, name: "sweepA")
        let sweepB = try sweepFile(analysis: analysisB, name: "sweepB")
        let outA = TestSupport.temporaryDirectory("runA"), outB = TestSupport.temporaryDirectory("runB")

        let plans = try [sweepA, sweepB].map { try TestSupport.run(TestSupport.regimeBinary.path, ["plan", $0.path]).stdout }
        XCTAssertEqual(plans[0].replacingOccurrences(of: sweepA.path, with: ""),
                       plans[1].replacingOccurrences(of: sweepB.path, with: ""), "trial ids depend only on trial settings")

        for (sweep, out) in [(sweepA, outA), (sweepB, outB)] {
            let run = try TestSupport.mpirunRegime(ranks: 2, ["sweep", sweep.path, "--out", out.path])
            XCTAssertEqual(run.status, 0, run.stderr)
        }
        XCTAssertNotEqual(try Data(contentsOf: outA.appendingPathComponent("summary.json")),
                          try Data(contentsOf: outB.appendingPathComponent("summary.json")), "A and B must differ for the test to mean anything")

        // A file holding only B's analysis: mapping.
        let analysisFile = TestSupport.temporaryDirectory("analysisB").appendingPathExtension("yaml")
        try "analysis: \(analysisB)\n".write(to: analysisFile, atomically: true, encoding: .utf8)
        let curvesBefore = try contents(outA.appendingPathComponent("curves"))
        let journalBefore = try Data(contentsOf: outA.appendingPathComponent("trials.jsonl"))
        let analyze = try TestSupport.run(TestSupport.regimeBinary.path, ["analyze", outA.path, "--analysis", analysisFile.path])
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        for name in ["summary.json", "summary.csv", "timing.jsonl"] {
            XCTAssertEqual(try Data(contentsOf: outA.appendingPathComponent(name)), try Data(contentsOf: outB.appendingPathComponent(name)),
                           "\(name): analyze with B differs from a sweep run with B")
        }
        XCTAssertEqual(try contents(outA.appendingPathComponent("groups")), try contents(outB.appendingPathComponent("groups")))
        // The group curves carry the per-layer columns of the curves (mlp:32-48-48-10: groups fc1-fc3, pattern layers fc1, fc2).
        for (name, data) in try contents(outA.appendingPathComponent("groups")) {
            let header = String(decoding: data.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self).split(separator: ",").map(String.init)
            for column in ["weight_update_abs.fc3_mean", "pattern_change.fc2_n", "margin_0.01.fc1_sd", "excess_flips.fc2_mean",
                           "pattern_change_lag10.fc1_mean", "weight_update_abs_lag100.fc3_sd", "weight_update_rel_lag10.fc2_n"] {
                XCTAssertTrue(header.contains(column), "\(name): \(column)")
            }
        }
        // The settling times were recomputed from the stored settling curves at B's fractions.
        let timing = try SweepAnalysis.readTiming(try SweepDirectory(existing: outA))
        XCTAssertFalse(timing.isEmpty)
        for analysis in timing.values { XCTAssertEqual(analysis.settling.map { Set($0.keys) }, ["0.7", "0.3"], analysis.trialID) }
        XCTAssertEqual(try contents(outA.appendingPathComponent("curves")), curvesBefore, "analyze changed a curve")
        XCTAssertEqual(try Data(contentsOf: outA.appendingPathComponent("trials.jsonl")), journalBefore, "analyze changed the journal")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: outA.appendingPathComponent("manifest.json"))) as! [String: Any]
        XCTAssertEqual((manifest["analysis"] as? [String: Any])?["smoothing"] as? Int, 3)
        XCTAssertTrue((manifest["analysis_source"] as? String ?? "").contains(analysisFile.path))

        // The report shows the new analysis.
        let report = try TestSupport.run(TestSupport.regimeBinary.path, ["report", outA.path])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOf: outA.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("smoothed value at iteration 15"), "the report uses analysis B's reference")

        // A bad analysis file: one line naming the file and key, non-zero exit, nothing replaced.
        let bad = TestSupport.temporaryDirectory("analysisBad").appendingPathExtension("yaml")
        try "analysis: {smoothing: 0}\n".write(to: bad, atomically: true, encoding: .utf8)
        let summaryBefore = try Data(contentsOf: outA.appendingPathComponent("summary.json"))
        let failed = try TestSupport.run(TestSupport.regimeBinary.path, ["analyze", outA.path, "--analysis", bad.path])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.stderr.contains(bad.path) && failed.stderr.contains("smoothing"), failed.stderr)
        XCTAssertEqual(failed.stderr.split(separator: "\n").count, 1, failed.stderr)
        XCTAssertEqual(try Data(contentsOf: outA.appendingPathComponent("summary.json")), summaryBefore)
        try "analysis: {settling: [0.5, 2]}\n".write(to: bad, atomically: true, encoding: .utf8)
        let badSettling = try TestSupport.run(TestSupport.regimeBinary.path, ["analyze", outA.path, "--analysis", bad.path])
        XCTAssertNotEqual(badSettling.status, 0)
        XCTAssertTrue(badSettling.stderr.contains(bad.path) && badSettling.stderr.contains("'settling'"), badSettling.stderr)
        XCTAssertEqual(badSettling.stderr.split(separator: "\n").count, 1, badSettling.stderr)
        XCTAssertEqual(try Data(contentsOf: outA.appendingPathComponent("summary.json")), summaryBefore)

        // --resume with a changed analysis: section re-analyses instead of refusing.
        let resume = try TestSupport.mpirunRegime(ranks: 1, ["sweep", "--resume", outB.path, sweepA.path])
        XCTAssertEqual(resume.status, 0, resume.stderr)
        let rerun = try TestSupport.mpirunRegime(ranks: 1, ["sweep", "--resume", outA.path, sweepA.path])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertEqual(try Data(contentsOf: outA.appendingPathComponent("summary.json")),
                       try Data(contentsOf: outB.appendingPathComponent("summary.json")), "both now analysed with A")
    }

    func testDecayInTrialSettingsSaysWhereItMoved() throws {
        let run = try TestSupport.run(TestSupport.regimeBinary.path,
                                      ["plan", TestSupport.fixtures.appendingPathComponent("bad/decay-moved.yaml").path])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("decay-moved.yaml:6:") && run.stderr.contains("analysis:"), run.stderr)
    }

    /// Name -> bytes of every file in a folder.
    func contents(_ folder: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            out[name] = try Data(contentsOf: folder.appendingPathComponent(name))
        }
        return out
    }
}
