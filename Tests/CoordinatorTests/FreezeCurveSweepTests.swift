import Foundation
import XCTest

/// The freeze curve end to end: a tiny gated sweep (freeze after 10 or 40 steps, at the detector,
/// never; 3 seeds) gives `freeze_curves` in summary.json that agree with the journal, the text of
/// `regime summary`, the same bytes after `regime analyze`, and the report's section.
final class FreezeCurveSweepTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    func testTinyGatedSweep() throws {
        let sweep = TestSupport.temporaryDirectory("freeze-tiny").appendingPathExtension("yaml")
        try """
        name: freeze-tiny
        dataset: {name: synthetic, probe_subset: 64, probe_seed: 3}
        iterations: 120
        batch_size: 32
        checkpoint_every: 60
        eval_every: 60
        schedule: {name: cosine}
        analysis: {smoothing: 5, thresholds: [0.1, 0.2, 0.5], reference: {mode: early_peak, window: 20, skip: 0}}
        arch: "mlp:32-16-10"
        optimizer: {name: adam, lr: 0.003}
        grid:
          seed: [1, 2, 3]
          gates:
            - {freeze_at: 10, window: 5, patience: 5}
            - {freeze_at: 40, window: 5, patience: 5}
            - {freeze_at: auto, window: 5, patience: 5}
            - {freeze_at: never, window: 5, patience: 5}

        """.write(to: sweep, atomically: true, encoding: .utf8)
        let out = TestSupport.temporaryDirectory("freeze-tiny-out")
        let run = try TestSupport.run(TestSupport.regimeBinary.path, ["sweep", sweep.path, "--out", out.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssert(run.stdout.contains("freeze curve: mlp:32-16-10 adam"), run.stdout)

        // The journal's truth, by freeze point.
        let journal = try String(contentsOf: out.appendingPathComponent("trials.jsonl"), encoding: .utf8)
        var accuracy: [String: [UInt64: Double]] = [:]
        var frozen: [String: [Int]] = [:]
        for line in journal.split(separator: "\n") {
            let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let params = entry["params"] as! [String: Any]
            let freezeAt = "\((params["gates"] as! [String: Any])["freeze_at"]!)"
            let seed = (params["seed"] as! NSNumber).uint64Value
            accuracy[freezeAt, default: [:]][seed] = (entry["final_val_accuracy"] as! NSNumber).doubleValue
            if let at = (entry["freeze"] as? [String: Any])?["at"] as? NSNumber { frozen[freezeAt, default: []].append(at.intValue) }
        }
        XCTAssertEqual(accuracy.count, 4)

        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("summary.json"))) as! [String: Any]
        let curves = try XCTUnwrap(summary["freeze_curves"] as? [[String: Any]])
        XCTAssertEqual(curves.count, 1)
        let points = curves[0]["points"] as! [[String: Any]]
        XCTAssertEqual(points.map { $0["freeze_at"] as! String }, ["10", "40", "auto", "never"])
        for p in points {
            let key = p["freeze_at"] as! String
            let values = accuracy[key]!
            let mean = (p["final_val_accuracy"] as! [String: Any])["mean"] as! Double
            XCTAssertEqual(mean, values.values.reduce(0, +) / Double(values.count), accuracy: 1e-12, key)
            if key != "never" {
                let d = (p["accuracy_vs_never"] as! [String: Any])["mean"] as! [String: Any]
                let expected = values.keys.map { values[$0]! - accuracy["never"]![$0]! }.reduce(0, +) / Double(values.count)
                XCTAssertEqual(d["mean"] as! Double, expected, accuracy: 1e-12, key)
            }
            let at = p["frozen_at"] as? [String: Any]
            XCTAssertEqual(at?["n"] as? Int, frozen[key]?.count, key)
            if let values = frozen[key] { XCTAssertEqual(at?["min"] as? Int, values.min(), key) }
        }

        let csv = try String(contentsOf: out.appendingPathComponent("summary-freeze.csv"), encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 5, csv)

        let printed = try TestSupport.run(TestSupport.regimeBinary.path, ["summary", out.path])
        XCTAssertEqual(printed.status, 0, printed.stderr)
        XCTAssert(printed.stdout.contains("freeze curve: ") && printed.stdout.contains("accuracy - never, paired"), printed.stdout)

        let before = try Data(contentsOf: out.appendingPathComponent("summary.json"))
        let analyze = try TestSupport.run(TestSupport.regimeBinary.path, ["analyze", out.path])
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("summary.json")), before, "analyze recomputes the same freeze curve")

        let report = try TestSupport.run(TestSupport.regimeBinary.path, ["report", out.path])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssert(html.contains("id=\"freeze\"") && html.contains("id=\"freeze-0\""), "the report has the freeze section and its plot")
    }
}
