import CMalloc

/// glibc's heap, set once at start-up so that a process's resident memory is what it holds.
///
/// glibc serves an allocation of at least M_MMAP_THRESHOLD bytes (128 KiB) with its own mmap,
/// returned to the system on free, but by default it raises the threshold to the size of each
/// such block freed (up to 32 MiB): after the first trainer's buffers are freed, the next ones
/// (a trial's settling replay, the next trial of a sweep) come from the brk heap and stay
/// resident after they are freed. Fixing the threshold at its initial 128 KiB keeps every
/// parameter, gradient and activation buffer (all larger) on its own mapping: measured on a fresh
/// 60-iteration paper-mlp trial, peak RSS 95.8-96.0 MB against 97.9-98.6 MB with the dynamic
/// threshold (`/usr/bin/time -f %M regime train ...`, 3 runs each). Results are unaffected.
enum ProcessHeap {
    static let mmapThresholdBytes: Int32 = 128 * 1024

    static func fixMmapThreshold() {
        #if canImport(Glibc)
        _ = mallopt(M_MMAP_THRESHOLD, mmapThresholdBytes)
        #endif
    }
}
