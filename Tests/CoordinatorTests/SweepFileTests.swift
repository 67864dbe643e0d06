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
        XCTAssertEqual(sweep.checkpointEvery, .iterations(40))
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
            // Every check `regime sweep` makes (data sets, sizes, memory), on a rank of a modest 4 GB.
            let check = try SweepCheck(sweep, budget: Self.budget)
            XCTAssertLessThan(check.largest.estimate.total, 1_000_000_000, "\(file): \(check.largest.estimate.terms)")
        }
        let quick = try SweepFile.load(path: sweeps.appendingPathComponent("quick.yaml").path)
        XCTAssertEqual(quick.trials.count, 6)
    }

    /// The memory a rank has in these tests, whatever the machine.
    static let budget = MemoryBudget(bytesPerRank: 4_000_000_000, origin: "--memory-per-rank 4G")

    /// Every file in Fixtures/bad starts with `# expect: TEXT`; loading it and checking it as
    /// `regime plan` and `regime sweep` do (`SweepCheck`, with a rank of 4 GB) must fail with one
    /// line containing TEXT and naming the file.
    func testBadInputCorpus() throws {
        let directory = TestSupport.fixtures.appendingPathComponent("bad")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThan(files.count, 40)
        for file in files {
            let path = directory.appendingPathComponent(file).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let firstLine = text.split(separator: "\n").first.map(String.init) ?? ""
            guard firstLine.hasPrefix("# expect: ") else { XCTFail("\(file): no '# expect:' line"); continue }
            let expected = String(firstLine.dropFirst("# expect: ".count))
            do {
                _ = try SweepCheck(try SweepFile.load(path: path), budget: Self.budget)
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

    /// Every architecture written in docs/architectures.md and the README (but for quoted error
    /// output) parses; those for a
    /// known data set pass every check of a trial (shapes against the data set, memory of batch
    /// 128 and a 512-example probe on a 4 GB rank); the documented malformed examples fail with
    /// the documented message.
    func testDocumentedArchitecturesPassTheChecks() throws {
        var checked = 0
        for document in ["docs/architectures.md", "README.md"] {
            let text = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent(document), encoding: .utf8)
            let documentedErrors = Dictionary(Self.matches(of: #"`arch '([^']+)': ([^`]+)`"#, in: text).map { ($0[1], $0[2]) },
                                              uniquingKeysWith: { a, _ in a })
            // Lines of `regime` output quoted as examples of refusals are not architectures to accept.
            let prose = text.split(separator: "\n").filter { !$0.hasPrefix("regime ") }.joined(separator: "\n")
            let archs = Set(Self.matches(of: #"(?:mlp|cnn|vit):[0-9][0-9a-z-]*"#, in: prose).map { $0[0] })
            XCTAssertFalse(archs.isEmpty, document)
            for arch in archs.sorted() {
                if let message = documentedErrors[arch] {
                    XCTAssertThrowsError(try Architecture(parsing: arch), arch) { XCTAssertEqual("\($0)", "arch '\(arch)': \(message)") }
                    continue
                }
                let architecture = try Architecture(parsing: arch)
                checked += 1
                guard let name = DatasetSpec.knownNames.first(where: {
                    let g = DatasetSpec(name: $0).geometry
                    return g.classes == architecture.classCount && g.features == architecture.inputSize
                        && (architecture.imageInput ?? g.shape) == g.shape
                }) else { continue }  // the golden files' small shapes fit no data set
                let spec = TrialSpec(arch: arch, dataset: DatasetSpec(name: name), optimizer: OptimizerSpec(kind: .adam, lr: 1e-3),
                                     batchSize: 128, iterations: 3000, seed: 1)
                XCTAssertNoThrow(try spec.validate(), arch)
                let estimate = try ResourceEstimate(spec: spec, trainExamples: 50_000, validationExamples: 10_000, probeExamples: 512,
                                                    checkpoints: true, dataBytes: 0)
                XCTAssertNoThrow(try estimate.check(Self.budget), arch)
            }
        }
        XCTAssertGreaterThan(checked, 15)
    }

    /// Every match of `pattern` in `text`, each as its whole match and capture groups.
    static func matches(of pattern: String, in text: String) -> [[String]] {
        let regex = try! NSRegularExpression(pattern: pattern)
        let source = text as NSString
        return regex.matches(in: text, range: NSRange(location: 0, length: source.length)).map { match in
            (0..<match.numberOfRanges).map { source.substring(with: match.range(at: $0)) }
        }
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
