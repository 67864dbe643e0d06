import Foundation
import RegimeCore
import Worker

/// A CSV of numbers with a header row (a trial's `curves/<id>.csv`): every column as Doubles,
/// an empty field (an unmeasured validation accuracy) or `nan` as NaN, `inf`/`-inf` as infinities.
struct NumericTable {
    var header: [String]
    var columns: [[Double]]

    func column(_ name: String) -> [Double]? {
        header.firstIndex(of: name).map { columns[$0] }
    }

    var rowCount: Int { columns.first?.count ?? 0 }

    static func parse(_ text: String, file: String) throws -> NumericTable {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { throw FileError("\(file): empty file") }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var columns = header.map { _ in [Double]() }
        for (n, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw FileError("\(file): line \(n + 2) has \(fields.count) fields, the header \(header.count)")
            }
            for (k, field) in fields.enumerated() {
                let s = field.trimmingCharacters(in: .whitespacesAndNewlines)
                switch s {
                case "", "nan": columns[k].append(.nan)
                case "inf": columns[k].append(.infinity)
                case "-inf": columns[k].append(-.infinity)
                default:
                    guard let x = Double(s) else { throw FileError("\(file): line \(n + 2): '\(s)' is not a number") }
                    columns[k].append(x)
                }
            }
        }
        return NumericTable(header: header, columns: columns)
    }
}

/// Everything `regime report` reads from a sweep directory.
///
/// The summary is `summary.json` when the sweep wrote one; otherwise (an interrupted sweep, or
/// an unreadable file) it is computed from `trials.jsonl` exactly as `regime summary` does. Its
/// groups may carry `timing` / `timing_lr_normalized` (``TimingGroupSummary``: `R(eps)` and the
/// robust estimators), drawn when present.
struct ReportInput {
    var directory: URL
    var sweep: SweepFile
    var manifest: Manifest?
    var summary: SweepSummary
    /// Where the summary came from, for the report's footer.
    var summarySource: String
    var groups: [TrialGroup]
    /// Journal entries by trial id (the last entry of a trial wins, as a resumed sweep appends).
    var entries: [String: JournalEntry]
    var journalDamage: String?

    static func load(_ directory: URL) throws -> ReportInput {
        let manager = FileManager.default
        let sweepURL = directory.appendingPathComponent("sweep.yaml")
        guard manager.fileExists(atPath: sweepURL.path) else {
            throw FileError("\(directory.path): not a sweep directory (no sweep.yaml)")
        }
        let sweep = try SweepFile.load(path: sweepURL.path)
        let contents = try Journal.read(url: SweepOutput.journalURL(in: directory))
        var entries: [String: JournalEntry] = [:]
        for entry in contents.entries { entries[entry.result.trialID] = entry }
        let groups = TrialGroup.make(sweep.trials)

        let manifestURL = directory.appendingPathComponent("manifest.json")
        let manifest = manager.contents(atPath: manifestURL.path).flatMap { try? JSONCoding.decoder().decode(Manifest.self, from: $0) }

        let summaryURL = directory.appendingPathComponent("summary.json")
        var summary: SweepSummary
        var source: String
        if let data = manager.contents(atPath: summaryURL.path) {
            do {
                summary = try JSONCoding.decoder().decode(SweepSummary.self, from: data)
                source = "summary.json"
            } catch {
                summary = SweepSummary.make(sweep: sweep, groups: groups, entries: contents.entries)
                source = "computed from trials.jsonl, because summary.json could not be read (\(error))"
            }
        } else {
            summary = SweepSummary.make(sweep: sweep, groups: groups, entries: contents.entries)
            source = "computed from trials.jsonl (the sweep wrote no summary.json yet)"
        }
        return ReportInput(directory: directory, sweep: sweep, manifest: manifest, summary: summary, summarySource: source,
                           groups: groups, entries: entries, journalDamage: contents.damage)
    }

    /// A trial's curve file: nil when there is none; an unreadable one gives the reason.
    func curve(_ trialID: String) -> Result<NumericTable, FileError>? {
        let url = directory.appendingPathComponent("curves").appendingPathComponent("\(trialID).csv")
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do {
            return .success(try NumericTable.parse(String(decoding: data, as: UTF8.self), file: "curves/\(trialID).csv"))
        } catch let error as FileError {
            return .failure(error)
        } catch {
            return .failure(FileError("curves/\(trialID).csv: \(error)"))
        }
    }
}
