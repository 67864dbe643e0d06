import Foundation

/// Read-only bytes that outlive every view of them: a mapped file (shared by the processes of a
/// host, see `MappedFile`) or bytes this process holds itself.
public final class ByteStorage: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    /// The mapping the bytes live in (nil: this process's own memory).
    public let mappedFile: MappedFile?

    public init(mapping file: MappedFile) {
        bytes = file.bytes
        mappedFile = file
    }

    /// A private copy of `source`.
    public init(copying source: UnsafeRawBufferPointer) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
        if let base = source.baseAddress { memory.copyMemory(from: base, byteCount: source.count) }
        bytes = UnsafeRawBufferPointer(start: memory, count: source.count)
        mappedFile = nil
    }

    deinit {
        if mappedFile == nil { UnsafeMutableRawPointer(mutating: bytes.baseAddress!).deallocate() }
    }
}
