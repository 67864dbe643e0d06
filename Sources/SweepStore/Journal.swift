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

    /// Appends one line per entry with one write(2) and fsyncs them before returning; returns
    /// their length in bytes. A write the disk cannot take whole (it is full) is cut back off, so
    /// the journal stays a sequence of whole lines, and the error names the file.
    @discardableResult
    public func append(_ entries: [JournalEntry]) throws -> Int {
        guard !entries.isEmpty else { return 0 }
        var lines = Data()
        for entry in entries {
            lines.append(try JSONFormat.line(entry))
            lines.append(0x0A)
        }
        let end = lseek(descriptor, 0, SEEK_END)
        guard AtomicFile.writeAll(lines, to: descriptor) else {
            let reason = errno
            if end >= 0 { _ = ftruncate(descriptor, end) }
            throw FileError("\(url.path): journal write failed (\(String(cString: strerror(reason))))")
        }
        guard fsync(descriptor) == 0 else {
            throw FileError("\(url.path): journal write failed (\(String(cString: strerror(errno))))")
        }
        return lines.count
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
        var entries: [JournalEntry] = []
        let scan = try scan(url: url) { entries.append($0) }
        return Contents(entries: entries, validLength: scan.validLength, damage: scan.damage)
    }

    /// The valid prefix of a journal and the damage after it, as ``read(url:)`` reports them.
    public struct Scan: Sendable {
        public var validLength: Int
        public var damage: String?
    }

    /// Hands every entry to `body` in file order, reading the file in chunks of 1 MB: memory does
    /// not grow with the journal. Damage and errors as in ``read(url:)``; a missing file is empty.
    @discardableResult
    public static func scan(url: URL, _ body: (JournalEntry) throws -> Void) throws -> Scan {
        let fd = open(url.path, O_RDONLY)
        if fd < 0 {
            if errno == ENOENT { return Scan(validLength: 0) }
            throw FileError("\(url.path): cannot read the journal (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        let decoder = JSONCoding.decoder()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var pending: [UInt8] = []     // the bytes after the last newline read so far
        var validLength = 0           // bytes of whole, parseable lines
        var lineNumber = 0
        var badLine: (number: Int, error: Error)?  // an unparseable line: damage if it is the last
        while true {
            let count = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            guard count >= 0 else { throw FileError("\(url.path): cannot read the journal (\(String(cString: strerror(errno))))") }
            if count == 0 { break }
            pending.append(contentsOf: chunk[0..<count])
            var start = 0
            while let end = pending[start...].firstIndex(of: 0x0A) {
                lineNumber += 1
                if let bad = badLine {
                    throw FileError("\(url.path): line \(bad.number) is not a valid journal entry: \(bad.error)")
                }
                let entry: JournalEntry
                do {
                    entry = try decoder.decode(JournalEntry.self, from: Data(pending[start..<end]))
                } catch {
                    badLine = (lineNumber, error)
                    start = end + 1
                    continue
                }
                try body(entry)
                validLength += end + 1 - start
                start = end + 1
            }
            pending.removeFirst(start)
        }
        if let bad = badLine {
            guard pending.isEmpty else {
                throw FileError("\(url.path): line \(bad.number) is not a valid journal entry: \(bad.error)")
            }
            return Scan(validLength: validLength, damage: "\(url.path): line \(bad.number) is not a valid entry")
        }
        if !pending.isEmpty {
            return Scan(validLength: validLength,
                        damage: "\(url.path): line \(lineNumber + 1) is torn (\(pending.count) bytes without a newline)")
        }
        return Scan(validLength: validLength)
    }

    /// Cuts the file back to its valid prefix.
    public static func repair(url: URL, validLength: Int) throws {
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(validLength))
        try handle.synchronize()
    }
}
