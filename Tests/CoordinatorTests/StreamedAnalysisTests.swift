import Foundation
import RegimeCore
import XCTest
@testable import RegimeAnalysis
@testable import SweepStore

/// The analysis and the journal reader work in bounded memory (group by group, chunk by chunk);
/// these check that they write and read exactly what the whole-at-once computations would.
final class StreamedAnalysisTests: XCTestCase {
    override class func tearDown() { TestSupport.removeTemporaryDirectories() }

    /// The analysis written group by group equals, byte for byte, the summary computed at once
    /// from the same journal and curves: `summary.json` is `JSONFormat.pretty` of
    /// `SweepSummary.make`, `summary.csv` its `csv()`, `timing.jsonl` every ok trial's analysis
    /// group by group, and the printed table its `table()`.
    func testStreamedAnalysisEqualsTheWholeSummary() throws {
        let source = try ReportFixture.tinySweep()
        let dir = TestSupport.temporaryDirectory("streamed-analysis")
        try FileManager.default.copyItem(at: source, to: dir)
        let directory = try SweepDirectory(existing: dir)
        let sweep = try directory.loadSweep()
        // One trial diverged and one not run, so that groups differ in what they count.
        let journal = dir.appendingPathComponent("trials.jsonl")
        var lines = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map(String.init)
        lines.removeLast()
        var first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        first["status"] = "diverged"
        lines[0] = String(decoding: try JSONSerialization.data(withJSONObject: first, options: [.sortedKeys]), as: UTF8.self)
        try (lines.joined(separator: "\n") + "\n").write(to: journal, atomically: true, encoding: .utf8)

        let analysis = try SweepAnalysis.run(directory, sweep: sweep, options: sweep.analysis)

        let entries = try directory.readJournal().entries
        let results = sweep.trials.map { spec in entries.last { $0.result.trialID == spec.trialID }?.result }
        XCTAssertEqual(results.compactMap { $0 }.count, 5)
        let groups = TrialGroup.make(sweep.trials)
        var analyses = [TrialAnalysis?](repeating: nil, count: sweep.trials.count)
        var expectedTiming = Data()
        for group in groups {
            for index in group.trialIndices where results[index]?.status == .ok {
                let curve = try XCTUnwrap(try directory.readCurve(trialID: sweep.trials[index].trialID))
                let settling = try XCTUnwrap(try directory.readSettling(trialID: sweep.trials[index].trialID))
                analyses[index] = TrialAnalysis(trialID: sweep.trials[index].trialID, curve: curve, settling: settling, options: sweep.analysis)
                expectedTiming.append(try JSONFormat.line(analyses[index]!))
                expectedTiming.append(0x0A)
            }
        }
        let summary = SweepSummary.make(name: sweep.name, trials: sweep.trials, groups: groups, results: results,
                                        analyses: analyses, options: sweep.analysis)
        XCTAssertEqual(summary.diverged, 1)
        XCTAssertEqual(summary.finished, 5)
        try assertSameBytes(try Data(contentsOf: directory.summaryJSONURL), try JSONFormat.pretty(summary), "summary.json")
        try assertSameBytes(try Data(contentsOf: directory.summaryCSVURL), Data(summary.csv().utf8), "summary.csv")
        try assertSameBytes(try Data(contentsOf: directory.timingURL), expectedTiming, "timing.jsonl")
        XCTAssertEqual(analysis.table, summary.table())
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".analysis-staging").path))
    }

    /// The document around a streamed array has the bytes of the value encoded at once, for no,
    /// one and several elements, with nested arrays, empty arrays and escaped text inside.
    func testPrettyJSONArrayEqualsTheWholeDocument() throws {
        struct Element: Codable { var name: String; var values: [Double]; var nested: [[Int]] }
        struct Document: Codable { var alpha: Int; var items: [Element]; var notes: [String]; var zeta: [String: Int] }
        let work = TestSupport.temporaryDirectory("pretty-array")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let elements = [Element(name: "a \"quoted\"\nline", values: [1, 2.5], nested: [[], [1, 2]]),
                        Element(name: "", values: [], nested: []),
                        Element(name: "x/y", values: [-0.0, 1e300], nested: [[3]])]
        for count in 0...elements.count {
            let whole = Document(alpha: 1, items: Array(elements.prefix(count)), notes: ["n"], zeta: ["k": 2])
            var array = try PrettyJSONArray(url: work.appendingPathComponent("part-\(count)"))
            for element in whole.items { try array.append(element) }
            let target = work.appendingPathComponent("doc-\(count).json")
            var envelope = whole
            envelope.items = []
            try array.finish(envelope: envelope, key: "items", into: target)
            try assertSameBytes(try Data(contentsOf: target), try JSONFormat.pretty(whole), "\(count) elements")
            XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("part-\(count)").path))
        }
    }

    /// A journal of several megabytes (lines straddle the 1 MB read chunks) scans to the entries a
    /// whole-file parse gives; a torn last line and an unparseable last line are damage, an
    /// unparseable line before the end an error naming its line.
    func testJournalScanAcrossChunksAndItsDamage() throws {
        let work = TestSupport.temporaryDirectory("journal-scan")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let url = work.appendingPathComponent("trials.jsonl")
        let sweep = try SweepFile.load(path: TestSupport.fixtures.appendingPathComponent("tiny.yaml").path)
        var expected: [JournalEntry] = []
        var text = Data()
        for n in 0..<6000 {
            let spec = sweep.trials[n % sweep.trials.count]
            let result = TrialResult(trialID: spec.trialID, params: spec, status: n % 7 == 0 ? .failed : .ok, iterations: n,
                                     finalLoss: Double(n) / 3, finalValAccuracy: nil, wallSeconds: 0.25,
                                     error: n % 7 == 0 ? "error \(n) with é and \"quotes\"" : nil)
            let entry = JournalEntry(result: result, rank: n % 5, host: "host-\(n)")
            expected.append(entry)
            text.append(try JSONFormat.line(entry))
            text.append(0x0A)
        }
        XCTAssertGreaterThan(text.count, 2 << 20)
        try text.write(to: url)
        var scanned: [JournalEntry] = []
        let scan = try Journal.scan(url: url) { scanned.append($0) }
        XCTAssertNil(scan.damage)
        XCTAssertEqual(scan.validLength, text.count)
        XCTAssertEqual(scanned.count, expected.count)
        if let first = scanned.indices.first(where: { scanned[$0] != expected[$0] }) {
            XCTFail("entry \(first) differs: \(scanned[first]) vs \(expected[first])")
        }

        var torn = text
        torn.append(try JSONFormat.line(expected[0]).prefix(40))
        try torn.write(to: url)
        let tornScan = try Journal.scan(url: url) { _ in }
        XCTAssertEqual(tornScan.validLength, text.count)
        XCTAssertEqual(tornScan.damage, "\(url.path): line 6001 is torn (40 bytes without a newline)")

        var badLast = text
        badLast.append(Data("{\"not\": \"an entry\"}\n".utf8))
        try badLast.write(to: url)
        let badScan = try Journal.scan(url: url) { _ in }
        XCTAssertEqual(badScan.validLength, text.count)
        XCTAssertEqual(badScan.damage, "\(url.path): line 6001 is not a valid entry")

        var badMiddle = Data("garbage\n".utf8)
        badMiddle.append(text)
        try badMiddle.write(to: url)
        XCTAssertThrowsError(try Journal.scan(url: url) { _ in }) {
            XCTAssertTrue("\($0)".hasPrefix("\(url.path): line 1 is not a valid journal entry"), "\($0)")
        }
        XCTAssertEqual(try Journal.scan(url: work.appendingPathComponent("missing.jsonl")) { _ in XCTFail("no entries") }.validLength, 0)
    }

    func assertSameBytes(_ actual: Data, _ expected: Data, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard actual != expected else { return }
        let a = [UInt8](actual), e = [UInt8](expected)
        let at = (0..<min(a.count, e.count)).first { a[$0] != e[$0] } ?? min(a.count, e.count)
        let context = { (bytes: [UInt8]) in String(decoding: bytes[max(0, at - 80)..<min(bytes.count, at + 80)], as: UTF8.self) }
        XCTFail("\(name): \(a.count) bytes vs \(e.count) expected, first difference at byte \(at):\n\(context(a))\n--- expected ---\n\(context(e))",
                file: file, line: line)
    }
}
