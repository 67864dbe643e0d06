import Foundation

/// One read-only copy of each data set per host, shared by every regime process on it.
///
/// The first process that needs a data set reads its source files once and writes them in the
/// `DatasetFile` format to `<directory>/<name>-<key>.data`, where the key is the XXH64 of the
/// source files' contents (same data, same file; changed data, a new file). Every process then
/// maps that file read-only: the kernel keeps one copy of its pages for all of them (the page
/// cache), and each process's resident set holds only the pages its trial reads. With 64 ranks on
/// a node that is one copy of Fashion-MNIST (55 MB of bytes) instead of 64 copies of Floats.
///
/// Written once, atomically: under an exclusive `flock` on `<file>.lock` (a sleeping wait; the
/// lock dies with its process), into a temporary name, fsync'ed, renamed into place, directory
/// fsync'ed. Validated on every open: a file whose size, header, key or checksum is wrong is
/// reported on standard error and rebuilt, never used. The directory must be the user's own
/// (mode 0700, not a symlink): a file there is trusted after its checksum, which detects
/// corruption but is not a signature.
///
/// Why a file and not an MPI-3 shared-memory window: it serves every process of the host
/// whatever launched it (the ranks of a sweep, `regime train`, two sweeps at once, a resumed
/// sweep), needs no collective call in the sweep protocol, survives between runs (a later run
/// opens it in tens of milliseconds instead of decompressing the sources), and its clean pages
/// can be dropped under memory pressure. OpenMPI backs a shared window with a mapped file of its
/// session directory anyway.
public final class DatasetFileCache: Sendable {
    public let directory: URL
    private let warn: @Sendable (String) -> Void

    /// `warn` receives the one-line notes of files found invalid and rebuilt (default: standard error).
    public init(directory: URL, warn: @escaping @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data("regime: \(message)\n".utf8))
    }) {
        self.directory = directory
        self.warn = warn
    }

    /// `$REGIME_DATA_CACHE` if set, else `regime-data-<uid>` in the temporary directory (`$TMPDIR`
    /// or /tmp): a directory on each node's own disk.
    public static let standard: DatasetFileCache = {
        if let path = ProcessInfo.processInfo.environment["REGIME_DATA_CACHE"], !path.isEmpty {
            return DatasetFileCache(directory: URL(fileURLWithPath: path))
        }
        return DatasetFileCache(directory: FileManager.default.temporaryDirectory.appendingPathComponent("regime-data-\(getuid())"))
    }()

    /// The file that holds data set `name` whose sources are in `sourceDirectory` (reads the sources to hash them).
    public func fileURL(name: String, sourceDirectory: String) throws -> URL {
        fileURL(name: name, key: try DatasetFile.Sources(name: name, directory: sourceDirectory).key())
    }

    func fileURL(name: String, key: UInt64) -> URL {
        directory.appendingPathComponent(String(format: "%@-%016llx.data", name, key))
    }

    /// The data set `name` from `sourceDirectory`, mapped from this host's file (made first if
    /// missing, remade if invalid).
    public func open(name: String, sourceDirectory: String) throws -> (dataset: Dataset, file: MappedFile) {
        try prepareDirectory()
        let sources = try DatasetFile.Sources(name: name, directory: sourceDirectory)
        let key = try sources.key()
        let url = fileURL(name: name, key: key)
        var problem: String?
        switch DatasetFile.open(path: url.path, key: key) {
        case .valid(let dataset, let file): return (dataset, file)
        case .missing: break
        case .invalid(let reason): problem = reason
        }
        let lockPath = url.path + ".lock"
        let lock = Foundation.open(lockPath, O_CREAT | O_RDWR, 0o600)
        guard lock >= 0 else { throw DatasetError("\(lockPath): cannot create (\(String(cString: strerror(errno))))") }
        defer { close(lock) }  // closing releases the lock
        guard flock(lock, LOCK_EX) == 0 else { throw DatasetError("\(lockPath): cannot lock (\(String(cString: strerror(errno))))") }
        // Another process may have made (or remade) the file while this one waited.
        switch DatasetFile.open(path: url.path, key: key) {
        case .valid(let dataset, let file): return (dataset, file)
        case .missing: break
        case .invalid(let reason): problem = reason
        }
        if let problem { warn("data-set file \(url.path): \(problem); rebuilding it from \(sourceDirectory)") }
        try build(sources, key: key, at: url)
        switch DatasetFile.open(path: url.path, key: key) {
        case .valid(let dataset, let file): return (dataset, file)
        case .missing: throw DatasetError("\(url.path): missing right after it was written")
        case .invalid(let reason): throw DatasetError("\(url.path): invalid right after it was written: \(reason)")
        }
    }

    /// Creates the directory (mode 0700) if needed and checks that it is this user's own.
    private func prepareDirectory() throws {
        let path = directory.path
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw DatasetError("\(path): cannot create the data-set cache directory (\(String(cString: strerror(errno)))); set REGIME_DATA_CACHE to a writable directory")
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw DatasetError("\(path): the data-set cache is not a directory; set REGIME_DATA_CACHE to another one")
        }
        guard info.st_uid == getuid(), info.st_mode & 0o022 == 0 else {
            throw DatasetError("\(path): the data-set cache directory belongs to another user or is writable by others; set REGIME_DATA_CACHE to a private directory")
        }
    }

    /// Writes the file under a temporary name and renames it into place (the caller holds the lock).
    private func build(_ sources: DatasetFile.Sources, key: UInt64, at url: URL) throws {
        // Leftovers of a builder that died: only the lock holder builds, so they are garbage.
        let prefix = url.lastPathComponent + ".tmp-"
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where leftover.hasPrefix(prefix) {
            unlink(directory.appendingPathComponent(leftover).path)
        }
        let temporary = url.path + ".tmp-\(getpid())"
        let fd = Foundation.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw DatasetError("\(temporary): cannot create (\(String(cString: strerror(errno))))") }
        do {
            try DatasetFile.write(sources, key: key, to: DatasetFileWriter(descriptor: fd, path: temporary))
            guard fsync(fd) == 0 else { throw DatasetError("\(temporary): fsync failed (\(String(cString: strerror(errno))))") }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, url.path) == 0 else {
            unlink(temporary)
            throw DatasetError("\(url.path): cannot move \(temporary) into place (\(String(cString: strerror(errno))))")
        }
        let directoryFD = Foundation.open(directory.path, O_RDONLY)
        if directoryFD >= 0 { fsync(directoryFD); close(directoryFD) }
    }
}
