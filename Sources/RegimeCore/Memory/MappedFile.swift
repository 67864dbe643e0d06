import Foundation

/// A whole file mapped read-only (`mmap(PROT_READ, MAP_SHARED)`), unmapped when the last
/// reference goes.
///
/// The mapped pages are the kernel's page cache of the file: every process on the host that maps
/// the same file shares one physical copy, a page enters a process's resident set only when the
/// process reads it, and clean pages can be dropped under memory pressure and read again. A
/// mapped file must never be truncated while mapped (reading a page past the new end raises
/// SIGBUS); regime's cache files are written once under another name and renamed into place, so
/// a file is never changed after it is mapped.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    /// Device and inode: the same pair in two processes means the same file, whatever its path.
    public let device: UInt64
    public let inode: UInt64

    /// Maps the file open at `descriptor` (the caller keeps ownership of the descriptor; the
    /// mapping stays valid after it is closed).
    public init(descriptor: Int32, path: String) throws {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw DatasetError("\(path): cannot stat (\(String(cString: strerror(errno))))") }
        let size = Int(info.st_size)
        guard size > 0 else { throw DatasetError("\(path): empty file") }
        let address = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw DatasetError("\(path): cannot map (\(String(cString: strerror(errno))))")
        }
        self.path = path
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }

    /// `path (device:inode)`: how memory reports name a mapped file.
    public var identity: String { "\(path) (\(device):\(inode))" }
}
