import Foundation

/// This process's memory, as Linux accounts it (`/proc/self/status`, `/proc/self/smaps_rollup`).
///
/// The resident set (RSS) counts every page the process has mapped in, private or shared:
/// `anonymous` is its own (heap, stacks: what a second rank adds to a node), `file` is pages of
/// mapped files (the program's libraries and the host-shared data-set files, one physical copy
/// for every process that maps them), `sharedMemory` is shared anonymous memory (MPI's
/// shared-memory transport). The proportional set size (PSS) charges each shared page to the
/// processes that map it in equal parts: summed over the ranks of a node, it is the node's
/// memory for the job. `peakResident` is the high-water mark of the RSS (VmHWM, the same number
/// as getrusage's ru_maxrss and `/usr/bin/time -v`'s "Maximum resident set size").
public struct ProcessMemory: Codable, Sendable, Equatable {
    public var peakResidentBytes: Int
    public var residentBytes: Int
    public var anonymousBytes: Int
    public var fileBytes: Int
    public var sharedMemoryBytes: Int
    public var proportionalBytes: Int?
    /// The host-shared data-set files this process mapped (`MappedFile.identity`: path and inode).
    public var dataFiles: [String]

    enum CodingKeys: String, CodingKey {
        case peakResidentBytes = "peak_rss_bytes", residentBytes = "rss_bytes", anonymousBytes = "rss_anonymous_bytes",
             fileBytes = "rss_file_bytes", sharedMemoryBytes = "rss_shmem_bytes", proportionalBytes = "pss_bytes",
             dataFiles = "data_files"
    }

    public init(peakResidentBytes: Int, residentBytes: Int, anonymousBytes: Int, fileBytes: Int, sharedMemoryBytes: Int,
                proportionalBytes: Int?, dataFiles: [String]) {
        self.peakResidentBytes = peakResidentBytes; self.residentBytes = residentBytes; self.anonymousBytes = anonymousBytes
        self.fileBytes = fileBytes; self.sharedMemoryBytes = sharedMemoryBytes; self.proportionalBytes = proportionalBytes
        self.dataFiles = dataFiles
    }

    /// Now, with the data-set files `cache` has mapped. Without /proc (not Linux) only the peak is
    /// known (from getrusage) and the other figures are zero.
    public static func current(mappedBy cache: DatasetCache? = nil) -> ProcessMemory {
        let status = fields(of: "/proc/self/status")
        let rollup = fields(of: "/proc/self/smaps_rollup")
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return ProcessMemory(peakResidentBytes: status["VmHWM"] ?? Int(usage.ru_maxrss) * 1024,
                             residentBytes: status["VmRSS"] ?? 0, anonymousBytes: status["RssAnon"] ?? 0,
                             fileBytes: status["RssFile"] ?? 0, sharedMemoryBytes: status["RssShmem"] ?? 0,
                             proportionalBytes: rollup["Pss"], dataFiles: cache?.mappedFiles.map(\.identity) ?? [])
    }

    /// The `Name:   N kB` lines of a /proc file, in bytes.
    static func fields(of path: String) -> [String: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var out: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " || $0 == "\t" })
            guard parts.count == 3, parts[2] == "kB", let value = Int(parts[1]) else { continue }
            out[String(parts[0])] = value * 1024
        }
        return out
    }

    /// "peak 85.2 MiB (now: own 18.0 MiB, files 60.1 MiB, shm 0.0 MiB, PSS 50.3 MiB)".
    public var summary: String {
        func mb(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        return "peak \(mb(peakResidentBytes)) (now: own \(mb(anonymousBytes)), files \(mb(fileBytes)), shm \(mb(sharedMemoryBytes))"
            + (proportionalBytes.map { ", PSS \(mb($0)))" } ?? ")")
    }
}
