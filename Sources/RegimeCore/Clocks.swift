import Foundation

/// The two clocks regime measures with: monotonic wall time (never jumps with the system clock)
/// and the CPU time of the calling thread (time spent working, not waiting for a core).
public enum Clocks {
    /// Monotonic wall-clock seconds (CLOCK_MONOTONIC; only differences are meaningful).
    public static func monotonic() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Seconds of CPU time used by the calling thread (CLOCK_THREAD_CPUTIME_ID).
    public static func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
