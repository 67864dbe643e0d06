import Foundation
import RegimeCore

/// Writes that are never seen half-done: data goes to a temporary file in the same directory,
/// is fsync'ed, and is renamed over the target (rename is atomic within a file system), then the
/// directory is fsync'ed so the rename itself survives a crash.
public enum AtomicFile {
    /// `durable: false` leaves out both fsyncs: the file is whole or absent after a killed process,
    /// and the caller makes a batch of such files survive a machine crash with one
    /// ``syncFileSystem(containing:)``.
    public static func write(_ data: Data, to url: URL, durable: Bool = true) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(temporaryName(url.lastPathComponent))
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileError("\(temporary.path): cannot create (\(String(cString: strerror(errno))))") }
        let ok = writeAll(data, to: fd) && (!durable || fsync(fd) == 0)
        let error = errno
        close(fd)
        guard ok else {
            unlink(temporary.path)
            throw FileError("\(url.path): write failed (\(String(cString: strerror(error))))")
        }
        guard rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw FileError("\(url.path): rename failed (\(String(cString: strerror(errno))))")
        }
        if durable { syncDirectory(directory) }
    }

    /// The temporary file beside `name` while it is written (this process's; a killed process
    /// leaves its own behind, which ``removeLeftovers(in:)`` clears).
    static func temporaryName(_ name: String) -> String { ".\(name).tmp-\(getpid())" }

    /// Removes temporary files that killed writers left in `directory` (names `.NAME.tmp-PID`).
    public static func removeLeftovers(in directory: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasPrefix(".") && name.range(of: #"\.tmp-[0-9]+$"#, options: .regularExpression) != nil {
            unlink(directory.appendingPathComponent(name).path)
        }
    }

    /// Makes everything written to the file system holding `url` durable (syncfs(2)): one call for
    /// a batch of files written with `durable: false`, and their renames.
    public static func syncFileSystem(containing url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw FileError("\(url.path): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard regime_syncfs(fd) == 0 else { throw FileError("\(url.path): sync failed (\(String(cString: strerror(errno))))") }
    }

    /// Writes all of `data` to `fd` (write(2) may take less than asked); false on an error (errno).
    static func writeAll(_ data: Data, to fd: Int32) -> Bool {
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
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

/// glibc's syncfs(2), which Glibc does not import (it is declared only under _GNU_SOURCE).
@_silgen_name("syncfs")
private func regime_syncfs(_ fd: Int32) -> Int32
