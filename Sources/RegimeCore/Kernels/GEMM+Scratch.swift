import Synchronization

/// The pack buffers of `gemmBlocked`, kept between calls.
///
/// Why: regime fixes glibc's mmap threshold at 128 KiB (Coordinator's `ProcessHeap`), so a pack
/// buffer freed at the end of a GEMM call (the B pack is KC x NC floats, 0.8 MiB for the paper
/// MLP's first layer) went back to the system and the next call faulted its pages in again:
/// 5.5% of a tracked 1500-iteration `mlp:784-256-256-10` trial's samples were page faults under
/// `perf record`, nearly all from the packing routines. Reusing the buffers removes them.
///
/// A buffer is taken for the length of one call and given back, so concurrent callers never
/// share one (the pool is a mutex-guarded list, two lock operations per call). The pool keeps at
/// most `retained` buffers, the largest ones: with one rank per process that is one A and one B
/// pack of the largest shapes seen, at most 4 MiB + 193 KiB (GEMM.swift's header), memory a
/// GEMM of those shapes needs anyway.
enum GEMMScratch {
    /// Buffers kept: an A and a B pack for each of two threads calling at once.
    static let retained = 4

    private struct Entry: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        let capacity: Int
    }

    private static let pool = Mutex<[Entry]>([])

    /// A 64-byte aligned buffer of at least `count` floats, uninitialised: the smallest pooled one
    /// that fits, else a new one of exactly `count`.
    static func take(_ count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        let found: Entry? = pool.withLock { entries in
            var best: Int?
            for (i, e) in entries.enumerated() where e.capacity >= count {
                if best == nil || e.capacity < entries[best!].capacity { best = i }
            }
            return best.map { entries.remove(at: $0) }
        }
        if let found { return (found.pointer, found.capacity) }
        return (gemmAllocate(count), count)
    }

    /// Floats the pool holds now (for the memory tests: what it keeps between calls).
    static var pooledFloats: Int { pool.withLock { $0.reduce(0) { $0 + $1.capacity } } }

    /// Gives a buffer from `take` back; the smallest buffer beyond `retained` is freed.
    static func give(_ pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        let evicted: Entry? = pool.withLock { entries in
            entries.append(Entry(pointer: pointer, capacity: capacity))
            guard entries.count > retained else { return nil }
            let smallest = entries.indices.min { entries[$0].capacity < entries[$1].capacity }!
            return entries.remove(at: smallest)
        }
        evicted?.pointer.deallocate()
    }
}
