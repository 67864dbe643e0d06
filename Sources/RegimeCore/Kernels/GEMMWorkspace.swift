#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The pack buffers of `sgemm`, kept per thread between calls.
///
/// Allocating them per call cost more than the packing itself: a B panel is often above glibc's
/// mmap threshold (fixed at 128 KiB by `regime`), so every call mapped fresh pages and took a
/// page fault per 4 KiB on first touch, then unmapped them (perf, tracked `mlp:784-256-256-10`
/// loop: 5% of the time in `exc_page_fault` under the pack routines). One buffer per thread,
/// grown to the largest request seen and never shrunk, stays mapped and cache-warm. Its size is
/// bounded by one call's largest request, 4 x (KC x NC + MC x KC + MR x NR) bytes (4.4 MB), the
/// "GEMM packing" term of `ResourceEstimate`.
///
/// Per thread, so `sgemm` stays safe to call concurrently; the buffer is freed when its thread
/// exits. Contents are never read before being written in the same call, so keeping them
/// changes no result.
final class GEMMWorkspace {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    private init(capacity: Int) {
        self.capacity = capacity
        pointer = gemmAllocate(capacity)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    /// The thread-specific key; its destructor releases the thread's workspace.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            guard let raw else { return }
            Unmanaged<GEMMWorkspace>.fromOpaque(raw).release()
        }
        precondition(status == 0, "GEMMWorkspace: pthread_key_create failed (\(status))")
        return key
    }()

    /// This thread's buffer with room for at least `count` floats (64-byte aligned; contents
    /// undefined). Valid until the next call on the same thread.
    static func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        if let raw = pthread_getspecific(key) {
            let workspace = Unmanaged<GEMMWorkspace>.fromOpaque(raw).takeUnretainedValue()
            if workspace.capacity >= count { return workspace.pointer }
            // Grow: free the old block first, so the peak is the new size, not the sum.
            UnsafeMutableRawPointer(workspace.pointer).deallocate()
            workspace.pointer = gemmAllocate(count)
            workspace.capacity = count
            return workspace.pointer
        }
        let workspace = GEMMWorkspace(capacity: count)
        pthread_setspecific(key, Unmanaged.passRetained(workspace).toOpaque())
        return workspace.pointer
    }
}
