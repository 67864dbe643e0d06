import Foundation

/// The memory one rank may use, against which `ResourceEstimate` checks a trial before it runs.
///
/// In order of precedence:
/// 1. an explicit size (`--memory-per-rank 8G` on `plan`, `sweep` and `train`);
/// 2. the environment variable `REGIME_MEMORY_PER_RANK` (same syntax);
/// 3. the machine's memory divided by the ranks on this host. The machine's memory is the
///    physical memory, or the control group's limit when one is set and lower (cgroup v2
///    `memory.max`, v1 `memory.limit_in_bytes`). The ranks on this host are
///    `OMPI_COMM_WORLD_LOCAL_SIZE` under OpenMPI's `mpirun`, else 1 (a process alone, e.g.
///    `regime plan` or `regime train`).
///
/// Under `mpirun` only rank 0 validates a sweep, so the figure is that of rank 0's host: on a
/// cluster whose nodes differ, give `--memory-per-rank` for the smallest.
public struct MemoryBudget: Sendable, Equatable, CustomStringConvertible {
    public var bytesPerRank: Int
    /// Where the figure comes from, e.g. "23.5 GB / 2 ranks on this host" or "--memory-per-rank 8G".
    public var origin: String

    public init(bytesPerRank: Int, origin: String) {
        self.bytesPerRank = bytesPerRank
        self.origin = origin
    }

    /// "11.7 GB (23.5 GB / 2 ranks on this host)".
    public var description: String { "\(formatBytes(bytesPerRank)) (\(origin))" }

    public static let environmentVariable = "REGIME_MEMORY_PER_RANK"

    /// The budget from `flag` (the value of `--memory-per-rank`, if given), the environment, or
    /// the machine; a malformed size is an error naming where it came from.
    public static func resolve(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MemoryBudget {
        if let flag {
            guard let bytes = parseSize(flag) else {
                throw SpecError("--memory-per-rank: expected a size such as 8G, 512M or 16GiB, got '\(flag)'")
            }
            return MemoryBudget(bytesPerRank: bytes, origin: "--memory-per-rank \(flag)")
        }
        if let text = environment[environmentVariable] {
            guard let bytes = parseSize(text) else {
                throw SpecError("\(environmentVariable): expected a size such as 8G, 512M or 16GiB, got '\(text)'")
            }
            return MemoryBudget(bytesPerRank: bytes, origin: "\(environmentVariable)=\(text)")
        }
        let ranks = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) }.map { max($0, 1) } ?? 1
        let machine = machineMemory()
        return MemoryBudget(bytesPerRank: machine / ranks,
                            origin: "\(formatBytes(machine)) / \(ranks) rank\(ranks == 1 ? "" : "s") on this host")
    }

    /// Physical memory, or the control group's memory limit when it is lower.
    public static func machineMemory() -> Int {
        var bytes = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                  let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 else { continue }
            bytes = min(bytes, limit)
        }
        return bytes
    }

    /// Parses a size: a number with an optional unit, decimal (`K`, `M`, `G`, `T`, with or without
    /// a trailing `B`: powers of 1000) or binary (`KiB`, `MiB`, `GiB`, `TiB`: powers of 1024), e.g.
    /// `8G` = 8,000,000,000 bytes, `1.5GiB`, `4096` (bytes). Nil for anything else, zero, or a
    /// size beyond 2^63 bytes.
    public static func parseSize(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        guard let number = Double(digits), number > 0 else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).uppercased()
        let scales: [String: Double] = [
            "": 1, "B": 1,
            "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9, "T": 1e12, "TB": 1e12,
            "KIB": 1024, "MIB": 1_048_576, "GIB": 1_073_741_824, "TIB": 1_099_511_627_776,
        ]
        guard let scale = scales[unit] else { return nil }
        let bytes = (number * scale).rounded(.down)
        guard bytes >= 1, bytes < 9.2e18 else { return nil }
        return Int(bytes)
    }
}

/// Bytes with three significant digits in decimal units: "318 GB", "11.7 GB", "4.00 MB", "512 B".
/// `Int.max`, the value of a saturated estimate, is written "more than 9.22 EB".
public func formatBytes(_ bytes: Int) -> String {
    if bytes == Int.max { return "more than 9.22 EB" }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 999.5 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    let text = value >= 99.95 ? String(format: "%.0f", value) : value >= 9.995 ? String(format: "%.1f", value) : String(format: "%.2f", value)
    return "\(text) \(units[unit])"
}
