import Foundation

/// A file written front to back in pieces (buffered up to 1 MB), for outputs too large to hold
/// whole: the analysis stages `timing.jsonl` and `summary.json` with it. Every error names the
/// file and says why (a full disk: "No space left on device"). ``close()`` fsyncs.
final class FileAppender {
    let url: URL
    private var descriptor: Int32
    private var buffer = Data()
    private(set) var bytesWritten = 0

    /// Creates (or truncates) `url`.
    init(url: URL) throws {
        self.url = url
        descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw FileError("\(url.path): cannot create (\(String(cString: strerror(errno))))") }
    }

    deinit { if descriptor >= 0 { Foundation.close(descriptor) } }

    func append(_ data: Data) throws {
        buffer.append(data)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func append(_ text: String) throws { try append(Data(text.utf8)) }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        guard AtomicFile.writeAll(buffer, to: descriptor) else {
            throw FileError("\(url.path): write failed (\(String(cString: strerror(errno))))")
        }
        bytesWritten += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered, fsyncs and closes.
    func close() throws {
        try flush()
        let synced = fsync(descriptor) == 0
        let error = errno
        Foundation.close(descriptor)
        descriptor = -1
        guard synced else { throw FileError("\(url.path): write failed (\(String(cString: strerror(error))))") }
    }
}
