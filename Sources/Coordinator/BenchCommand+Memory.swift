import Foundation
import RegimeBench
import RegimeCore
import SweepStore

/// `regime bench`'s memory section: the peak resident memory of one trial of each paper sweep,
/// each run as its own `regime train` process, and each rank's memory in a 2-rank sweep of the
/// first one's trial on this host.
extension Bench {
    struct MemoryReport: Codable {
        var iterations: Int
        var trials: [ChildPeakMemory]
        var sweep: SweepMemory?
        var notes: [String]
    }

    func benchmarkMemory() -> MemoryReport {
        var report = MemoryReport(iterations: memoryIterations, trials: [], sweep: nil, notes: [])
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("regime-bench-memory-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var firstTrial: TrialSpec?
        for path in memorySweeps.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) where !path.isEmpty {
            do {
                let sweep = try SweepFile.load(path: path)
                guard var trial = sweep.trials.first else { throw BenchError("\(path): no trials") }
                trial.iterations = memoryIterations
                do { try trial.validate() } catch { throw BenchError("its first trial with \(memoryIterations) iterations: \(error)") }
                // Every child finds the host's data-set file made (its first making is not a trial's cost).
                _ = try DatasetCache().prepare(trial.dataset)
                firstTrial = firstTrial ?? trial
                log("memory: one \(sweep.name) trial (\(trial.arch), \(memoryIterations) iterations)...")
                let out = directory.appendingPathComponent(sweep.name).path
                let run = try measureChildPeakMemory(label: "\(sweep.name): \(trial.arch)", executable: executable,
                                                     arguments: ["train"] + TrialOptions.arguments(for: trial) + ["--out", out, "--force"])
                guard run.status == 0 else { throw BenchError("regime train exited with status \(run.status)") }
                report.trials.append(run)
            } catch {
                report.notes.append("\(path): \(error)")
            }
        }
        guard let trial = firstTrial else { return report }
        let mpirun = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
            .map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let mpirun else {
            report.notes.append("2-rank sweep skipped: mpirun not found")
            return report
        }
        do {
            log("memory: 2-rank sweep of that trial (seeds 1, 2)...")
            let text = try SweepFile.text(name: "bench-memory", trial: trial, seeds: [1, 2])
            report.sweep = try measureSweepMemory(mpirun: mpirun, executable: executable, sweepText: text, ranks: 2,
                                                  directory: directory.appendingPathComponent("sweep"))
        } catch {
            report.notes.append("2-rank sweep: \(error)")
        }
        return report
    }

    /// The byte path against the former Float path for each architecture that reads Fashion-MNIST.
    func benchmarkDataPaths(_ notes: inout [String]) -> [DataPathBenchmark] {
        var rows: [DataPathBenchmark] = []
        for arch in archs.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            guard let architecture = try? Architecture(parsing: arch), architecture.inputSize == 784 else { continue }
            log("data path \(arch) (Fashion-MNIST bytes vs Floats)...")
            do {
                rows.append(try benchmarkDataPath(arch: arch, batch: batch, probe: probe, seconds: loopSeconds))
            } catch {
                notes.append("data path \(arch): \(error)")
            }
        }
        return rows
    }

    func dataPathTable(_ rows: [DataPathBenchmark]) -> [String] {
        guard !rows.isEmpty else { return [] }
        var out = ["", "Tracked loops on Fashion-MNIST: pixels as bytes converted per batch and probe chunk vs standardised Floats (same run):",
                   ["arch", "bytes it/s", "Floats it/s", "bytes/Floats"].enumerated()
                       .map { $0.element.padding(toLength: $0.offset == 0 ? 44 : 16, withPad: " ", startingAt: 0) }.joined()]
        for row in rows {
            out.append([row.arch, String(format: "%.1f", row.bytesIterationsPerSecond), String(format: "%.1f", row.floatsIterationsPerSecond),
                        String(format: "%.3f", row.ratio)].enumerated()
                .map { $0.element.padding(toLength: $0.offset == 0 ? 44 : 16, withPad: " ", startingAt: 0) }.joined())
        }
        return out
    }

    func memoryTable(_ r: MemoryReport) -> [String] {
        func mib(_ bytes: Int?) -> String { bytes.map { String(format: "%.1f", Double($0) / 1_048_576) } ?? "-" }
        var out = ["", "Peak resident memory of one trial (regime train, \(r.iterations) iterations; ru_maxrss as /usr/bin/time -v reports it):",
                   "trial".padding(toLength: 56, withPad: " ", startingAt: 0) + "peak MiB"]
        for trial in r.trials { out.append(trial.label.padding(toLength: 56, withPad: " ", startingAt: 0) + mib(trial.peakResidentBytes)) }
        if let sweep = r.sweep {
            out.append("")
            out.append("\(sweep.ranks)-rank sweep on this host (\(sweep.trials) trials of the first one): per rank, at the end of its training")
            out.append(["rank", "peak MiB", "own MiB", "files MiB", "PSS MiB"].map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }
                .joined() + "data files mapped")
            for rank in sweep.memory {
                let m = rank.memory
                out.append([String(rank.rank), mib(m.peakResidentBytes), mib(m.anonymousBytes), mib(m.fileBytes), mib(m.proportionalBytes)]
                    .map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined() + m.dataFiles.joined(separator: ", "))
            }
        }
        out += r.notes.map { "  note: \($0)" }
        return out
    }
}
