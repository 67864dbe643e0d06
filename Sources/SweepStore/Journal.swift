import Foundation
import RegimeCore

/// One line of `trials.jsonl`: a trial's result (the fields of `regime train`'s result.json) plus
/// the rank and host that ran it.
public struct JournalEntry: Codable, Equatable, Sendable {
    public var result: TrialResult
    public var rank: Int
    public var host: String

    enum ExtraKeys: String, CodingKey { case rank, host }

    public init(result: TrialResult, rank: Int, host: String) {
        self.result = result; self.rank = rank; self.host = host
    }

    public init(from decoder: Decoder) throws {
        result = try TrialResult(from: decoder)
        let c = try decoder.container(keyedBy: ExtraKeys.self)
        rank = try c.decode(Int.self, forKey: .rank)
        host = try c.decode(String.self, forKey: .host)
    }

    public func encode(to encoder: Encoder) throws {
        try result.encode(to: encoder)
        var c = encoder.container(keyedBy: ExtraKeys.self)
        try c.encode(rank, forKey: .rank)
        try c.encode(host, forKey: .host)
    }
}

/// The append-only journal of finished trials: the truth about what a sweep has done.
///
/// Each entry is one JSON line, appended with a single write and fsync'ed before the trial counts
/// as done. A crash can leave at most a torn last line, which `read` reports and `repair` cuts off.
public final class Journal {
    public let url: URL
    private let descriptor: Int32

    /// Opens (creating if needed) for appending. O_APPEND puts every write at the current end of
    /// the file, even after `repair` has cut it shorter.
    public init(url: URL) throws {
        self.url = url
        descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else {
            throw FileError("\(url.path): cannot open the journal (\(String(cString: strerror(errno))))")
        }
    }

    deinit { close(descriptor) }

    /// Appends one line with a single write(2) and fsyncs it before returning.
    public func append(_ entry: JournalEntry) throws {
        var line = try JSONFormat.line(entry)
        line.append(0x0A)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
        guard written == line.count, fsync(descriptor) == 0 else {
            throw FileError("\(url.path): journal write failed (\(String(cString: strerror(errno))))")
        }
    }

    public struct Contents: Sendable {
        public var entries: [JournalEntry]
        /// Byte length of the valid prefix (whole, parseable lines).
        public var validLength: Int
        /// Description of a torn or unparseable tail, if any.
        public var damage: String?
    }

    /// Reads every whole line; a final line without its newline, or that does not parse, is
    /// reported as damage (a crash mid-write), not an error. A bad line before the end is an error.
    public static func read(url: URL) throws -> Contents {
        guard let data = FileManager.default.contents(atPath: url.path) else { return Contents(entries: [], validLength: 0) }
        var entries: [JournalEntry] = []
        var start = 0
        var lineNumber = 0
        let bytes = [UInt8](data)
        let decoder = JSONCoding.decoder()
        while start < bytes.count {
            lineNumber += 1
            guard let end = bytes[start...].firstIndex(of: 0x0A) else {
                return Contents(entries: entries, validLength: start,
                                damage: "\(url.path): line \(lineNumber) is torn (\(bytes.count - start) bytes without a newline)")
            }
            let line = Data(bytes[start..<end])
            do {
                entries.append(try decoder.decode(JournalEntry.self, from: line))
            } catch {
                if end + 1 == bytes.count {
                    return Contents(entries: entries, validLength: start, damage: "\(url.path): line \(lineNumber) is not a valid entry")
                }
                throw FileError("\(url.path): line \(lineNumber) is not a valid journal entry: \(error)")
            }
            start = end + 1
        }
        return Contents(entries: entries, validLength: bytes.count)
    }

    /// Cuts the file back to its valid prefix.
    public static func repair(url: URL, validLength: Int) throws {
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(validLength))
        try handle.synchronize()
    }
}
