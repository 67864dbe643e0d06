import Foundation
import XCTest

/// Runs the real `regime` binary under real `mpirun` with 1, 2 and 3 ranks.
final class MPIIntegrationTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    struct SmokeReport: Decodable {
        var ranks: Int
        var messagesChecked: Int
        var reduced: [Double]
        var reductionExact: Bool
        var waitingRankCPUPercent: Double?
    }

    func testCodableMessagesAndExactReductionAcrossThreeRanks() throws {
        let run = try TestSupport.mpirunRegime(ranks: 3, ["mpi-smoke", "--wait-seconds", "2"], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        let line = run.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let report = try JSONDecoder().decode(SmokeReport.self, from: Data(line.utf8))
        XCTAssertEqual(report.ranks, 3)
        XCTAssertEqual(report.messagesChecked, 2)
        XCTAssertEqual(report.reduced, [3, 5, 3, 1.75])
        XCTAssertTrue(report.reductionExact)
        let cpu = try XCTUnwrap(report.waitingRankCPUPercent)
        print("waiting rank CPU: \(cpu)% of a core")
        // A blocking MPI_Recv would show ~100%; the polling wait stays near 1% even on a loaded machine.
        XCTAssertLessThan(cpu, 10)
    }

    /// Every trial runs exactly once, and the results do not depend on the number of ranks.
    func testSweepIsIdenticalAcrossRankCounts() throws {
        let sweep = TestSupport.fixtures.appendingPathComponent("tiny.yaml").path
        var outputs: [URL] = []
        for ranks in [1, 2, 3] {
            let out = TestSupport.temporaryDirectory("ranks\(ranks)")
            let run = try TestSupport.mpirunRegime(ranks: ranks, ["sweep", sweep, "--out", out.path])
            XCTAssertEqual(run.status, 0, "ranks \(ranks): \(run.stderr)")
            XCTAssertTrue(run.stdout.contains("scheduling efficiency"), run.stdout)
            outputs.append(out)
        }
        let reference = try comparableJournal(outputs[0])
        XCTAssertEqual(reference.count, 6)
        XCTAssertEqual(Set(reference.map { $0["trial_id"] as! String }).count, 6, "a trial ran twice")
        for out in outputs.dropFirst() {
            let journal = try comparableJournal(out)
            XCTAssertEqual(journal.count, 6)
            for (a, b) in zip(reference, journal) {
                XCTAssertEqual(try canonical(a), try canonical(b))
            }
            for name in ["summary.json", "summary.csv"] {
                XCTAssertEqual(try Data(contentsOf: outputs[0].appendingPathComponent(name)),
                               try Data(contentsOf: out.appendingPathComponent(name)), "\(name) differs in \(out.path)")
            }
            for folder in ["curves", "groups"] {
                let files = try FileManager.default.contentsOfDirectory(atPath: outputs[0].appendingPathComponent(folder).path).sorted()
                // Each trial's curve and settling curve (docs/numerics.md, "Settling to the final state").
                if folder == "curves" { XCTAssertEqual(files.filter { $0.hasSuffix(".settling.csv") }.count, 6, "\(files)") }
                XCTAssertEqual(files, try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent(folder).path).sorted())
                for file in files {
                    XCTAssertEqual(try Data(contentsOf: outputs[0].appendingPathComponent(folder).appendingPathComponent(file)),
                                   try Data(contentsOf: out.appendingPathComponent(folder).appendingPathComponent(file)),
                                   "\(folder)/\(file) differs in \(out.path)")
                }
            }
        }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: outputs[2].appendingPathComponent("manifest.json"))) as! [String: Any]
        XCTAssertEqual(manifest["ranks"] as? Int, 3)
        XCTAssertEqual((manifest["hosts"] as? [String])?.count, 3)
        // Refuses to overwrite without --force.
        let again = try TestSupport.mpirunRegime(ranks: 1, ["sweep", sweep, "--out", outputs[0].path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("exists and is not empty"), again.stderr)
        for out in outputs { try? FileManager.default.removeItem(at: out) }
    }

    /// Journal lines without timing, rank and host, sorted by trial id.
    func comparableJournal(_ directory: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: directory.appendingPathComponent("trials.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            for key in ["wall_seconds", "rank", "host"] { object[key] = nil }
            return object
        }.sorted { ($0["trial_id"] as! String) < ($1["trial_id"] as! String) }
    }

    func canonical(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
