import Foundation
import RegimeCore
import XCTest
@testable import Coordinator
@testable import RegimeReport
@testable import RegimeAnalysis
@testable import SweepStore
@testable import RegimeMPI
@testable import Worker

final class SweepFileTests: XCTestCase {
    func testTinySweepExpandsTheGridInOrder() throws {
        let sweep = try SweepFile.load(path: TestSupport.fixtures.appendingPathComponent("tiny.yaml").path)
        XCTAssertEqual(sweep.name, "tiny")
        XCTAssertEqual(sweep.trials.count, 6)
        XCTAssertEqual(sweep.checkpointEvery, 40)
        // seed is the first grid key, optimizer the last: the optimizer varies fastest.
        XCTAssertEqual(sweep.trials.map(\.seed), [1, 1, 2, 2, 3, 3])
        XCTAssertEqual(sweep.trials.map(\.optimizer.kind), [.sgd, .adam, .sgd, .adam, .sgd, .adam])
        XCTAssertEqual(sweep.trials[0].optimizer.momentum, 0.9)
        XCTAssertEqual(sweep.trials[0].schedule.kind, .cosine)
        XCTAssertEqual(sweep.analysis.thresholds, [0.1, 0.2, 0.5])
        XCTAssertEqual(Set(sweep.trials.map(\.trialID)).count, 6)
        // Ids are a function of the spec alone.
        let again = try SweepFile.load(path: TestSupport.fixtures.appendingPathComponent("tiny.yaml").path)
        XCTAssertEqual(again.trials.map(\.trialID), sweep.trials.map(\.trialID))
        let groups = TrialGroup.make(sweep.trials)
        XCTAssertEqual(groups.map(\.trialIndices), [[0, 2, 4], [1, 3, 5]])
    }

    func testShippedSweepsAreValid() throws {
        let sweeps = TestSupport.packageRoot.appendingPathComponent("sweeps")
        let files = try FileManager.default.contentsOfDirectory(atPath: sweeps.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertTrue(files.contains("quick.yaml"))
        for file in files {
            let sweep = try SweepFile.load(path: sweeps.appendingPathComponent(file).path)
            XCTAssertFalse(sweep.trials.isEmpty, file)
        }
        let quick = try SweepFile.load(path: sweeps.appendingPathComponent("quick.yaml").path)
        XCTAssertEqual(quick.trials.count, 6)
    }

    /// Every file in Fixtures/bad starts with `# expect: TEXT`; loading it must fail with an error
    /// containing TEXT (and naming the file).
    func testBadInputCorpus() throws {
        let directory = TestSupport.fixtures.appendingPathComponent("bad")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThan(files.count, 15)
        for file in files {
            let path = directory.appendingPathComponent(file).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let firstLine = text.split(separator: "\n").first.map(String.init) ?? ""
            guard firstLine.hasPrefix("# expect: ") else { XCTFail("\(file): no '# expect:' line"); continue }
            let expected = String(firstLine.dropFirst("# expect: ".count))
            do {
                _ = try SweepFile.load(path: path)
                XCTFail("\(file): loaded without error, expected '\(expected)'")
            } catch {
                let message = "\(error)"
                XCTAssertTrue(message.contains(expected), "\(file): error '\(message)' does not contain '\(expected)'")
                XCTAssertTrue(message.hasPrefix(path), "\(file): error '\(message)' does not start with the file path")
                XCTAssertFalse(message.contains("\n"), "\(file): error is not one line: \(message)")
            }
        }
    }

    /// `gates` in the grid: one trial per freeze point; `{freeze_at: never}` is the trial without
    /// `gates` (same id); detector parameters are read.
    func testGatesInTheGrid() throws {
        func sweep(_ gridLine: String) throws -> SweepFile {
            let text = """
                name: freeze
                dataset: {name: synthetic}
                iterations: 100
                batch_size: 8
                optimizer: {name: adam, lr: 0.001}
                grid:
                  seed: [1]
                  arch: ["mlp:32-8-10"]
                \(gridLine)
                """
            return try SweepFile.parse(text: text, path: "freeze.yaml")
        }
        let gated = try sweep("  gates: [{freeze_at: 0}, {freeze_at: 10}, {freeze_at: auto, window: 10, patience: 5}, {freeze_at: never}]")
        XCTAssertEqual(gated.trials.map { $0.gates?.freezeAt }, [.step(0), .step(10), .auto, nil])
        XCTAssertEqual(gated.trials[2].gates?.detector, RegimeDetectorOptions(window: 10, patience: 5))
        let plain = try sweep("")
        XCTAssertEqual(plain.trials.count, 1)
        XCTAssertNil(plain.trials[0].gates)
        XCTAssertEqual(gated.trials[3].trialID, plain.trials[0].trialID)
    }

    func testMissingFile() {
        XCTAssertThrowsError(try SweepFile.load(path: "/nonexistent/sweep.yaml")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/sweep.yaml: cannot read the file (missing or unreadable)")
        }
    }

    func testEditDistanceSuggestions() {
        XCTAssertEqual(editDistance("iteratons", "iterations"), 1)
        XCTAssertEqual(suggestion("batchsize", SweepFile.trialKeys), " (did you mean 'batch_size'?)")
        XCTAssertEqual(suggestion("zzzzzzzz", SweepFile.trialKeys), "")
    }
}
