import Foundation
import RegimeCore

/// Writes that are never seen half-done: data goes to a temporary file in the same directory,
/// is fsync'ed, and is renamed over the target (rename is atomic within a file system), then the
/// directory is fsync'ed so the rename itself survives a crash.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileError("\(temporary.path): cannot create (\(String(cString: strerror(errno))))") }
        var ok = true
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { ok = false; break }
                offset += n
            }
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok else {
            unlink(temporary.path)
            throw FileError("\(url.path): write failed (\(String(cString: strerror(errno))))")
        }
        guard rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw FileError("\(url.path): rename failed (\(String(cString: strerror(errno))))")
        }
        syncDirectory(directory)
    }

    /// Renames `source` over `target` (same file system: atomic); the error names both.
    public static func move(_ source: URL, to target: URL) throws {
        guard rename(source.path, target.path) == 0 else {
            throw FileError("\(target.path): cannot move \(source.path) into place (\(String(cString: strerror(errno))))")
        }
    }

    static func syncDirectory(_ directory: URL) {
        let fd = open(directory.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}

/// A file that cannot be read or written; the message names it.
public struct FileError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
