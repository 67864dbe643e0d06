import ArgumentParser
import Foundation
import RegimeBench
import RegimeCore

/// Speed lives here, not in timed tests: every number is measured in this run, and ratios compare
/// numbers measured in the same run on the same machine.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure GEMM GFLOP/s (fast, naive, NumPy/OpenBLAS), training-loop throughput and the peak memory of a trial.")

    @Option(help: "Square GEMM sizes, comma-separated.") var sizes: String = "128,256,512,1024"
    @Option(help: "Seconds per GEMM measurement.") var gemmSeconds: Double = 0.5
    @Option(help: "Seconds per training-loop measurement.") var loopSeconds: Double = 3
    @Option(help: "Rounds in which the training loops take turns (each loop runs loop-seconds / rounds per round), so that a slower period of the machine falls on all of them alike.")
    var loopRounds: Int = 6
    @Option(help: "Architectures whose training loop to time, comma-separated.")
    var archs: String = "mlp:784-256-256-10,cnn:1x28x28-c16k3-p-c32k3-p-fc128-10,vit:1x28x28-p7-d64-h4-l2-10"
    @Option(help: "Batch size of the training loop.") var batch: Int = 128
    @Option(help: "Optimizer of the timed training loops: sgd (momentum 0.9), adam or adamw (weight decay 0.01), lr 1e-3.")
    var loopOptimizer: String = "sgd"
    @Option(help: "Probe-set size of the tracked loop.") var probe: Int = 512
    @Option(help: "Architecture whose gated training loop to time against the ordinary one (empty: skip).")
    var gatedArch: String = "mlp:784-256-256-10"
    @Option(help: "Architecture whose tracked loop times the geometric instruments (margins, flip sensitivity, lags; null model) against the plain tracked loop (empty: skip).")
    var instrumentsArch: String = "mlp:784-256-256-10"
    @Option(help: "Iterations of each whole trial timed with and without the null model (at its default cadence).")
    var instrumentsIterations: Int = 1500
    @Option(help: "Architecture of the certified-pattern benchmark: a tracked cosine run on Fashion-MNIST, full vs certified probe pass (empty: skip).")
    var certifiedArch: String = "mlp:784-256-256-10"
    @Option(help: "Iterations of the certified-pattern benchmark's cosine run.") var certifiedIterations: Int = 1000
    @Option(help: "Base learning rate (SGD, momentum 0.9) of the certified-pattern benchmark's run.") var certifiedLr: Double = 0.05
    @Option(help: "NumPy comparison script (run with python3; skipped if missing).")
    var numpyScript: String = "scripts/bench/numpy_sgemm.py"
    @Flag(help: "Print JSON instead of tables.") var json = false
    @Option(help: "Iterations of each memory measurement (0: none); 469 at batch 128 read all 60000 training images once.")
    var memoryIterations: Int = 500
    @Option(help: "Sweep files whose first trial's peak memory to measure, comma-separated.")
    var memorySweeps: String = "sweeps/paper-mlp.yaml,sweeps/paper-cnn.yaml,sweeps/paper-transformer.yaml"

    struct NumPyRow: Codable { var size: Int; var variant: String; var gflops: Double }
    struct NumPyRun: Codable { var results: [NumPyRow] }

    struct Report: Codable {
        var cpu: String
        /// The core's fp32 FMA peak (`benchmarkFMAPeak`): every rate is also printed as a fraction of it.
        var fmaPeak: FMAPeakBenchmark
        var gemm: [GEMMBenchmarkRow]
        var numpy: [String: [NumPyRow]]
        var numpyNotes: [String]
        /// What NumPy reported about its BLAS (library, kernel/core type, threads), per configuration.
        var numpyBLAS: [String: String]
        var loops: [ArchitectureBenchmark]
        /// The loops' optimizer (`--loop-optimizer`); nil in JSON written before it was an option (SGD).
        var loopOptimizer: String?
        /// The GEMM table's best rate over sizes >= 256 (best call, timed before the loops).
        var gemmReference: Double
        /// The three GEMM variants of each table size >= 256 (or of the fastest row's size when there
        /// is none; before session 12 only of the fastest row's size), timed in turns with the loops
        /// (median calls): the fastest is the rate the loops' /GEMM fractions are of. nil in JSON
        /// written before they were measured.
        var gemmInTurns: [GEMMInTurns]?
        var gated: GatedTrainingBenchmark?
        var instruments: InstrumentBenchmark?
        var certified: CertifiedPatternsBenchmark?
        var dataPath: [DataPathBenchmark]
        var memory: MemoryReport?
    }

    func run() throws {
        let sizeList = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizeList.isEmpty, sizeList.allSatisfy({ $0 > 0 }) else { throw ValidationError("--sizes: expected positive integers, e.g. 128,256") }
        guard loopRounds >= 1 else { throw ValidationError("--loop-rounds: expected a positive integer, got \(loopRounds)") }
        guard let optimizer = benchmarkOptimizer(named: loopOptimizer) else {
            throw ValidationError("--loop-optimizer: expected sgd, adam or adamw, got '\(loopOptimizer)'")
        }
        log("fp32 FMA peak (16 chains of SIMD16<Float>)...")
        let peak = benchmarkFMAPeak(seconds: gemmSeconds)
        log("GEMM (single thread, \(sizeList.map(String.init).joined(separator: ", ")))...")
        let gemm = benchmarkGEMM(sizes: sizeList, minSeconds: gemmSeconds)
        var numpy: [String: [NumPyRow]] = [:]
        var blas: [String: String] = [:]
        var notes: [String] = []
        for (label, unset) in [("numpy-env: environment as is", false), ("numpy-unset: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset", true)] {
            log("NumPy: \(label)...")
            switch runNumPy(sizes: sizeList, unsetCoreType: unset) {
            case .success(let (rows, description)):
                numpy[label] = rows
                blas[label] = description
            case .failure(let error): notes.append("\(label): \(error)")
            }
        }
        // The loops are compared with the fast GEMM at the sizes a training step's products reach,
        // every table size >= 256, timed again in turns with the loops: the fastest median call.
        // (Only the size of the table's best call, as before session 12, let one noisy call choose
        // n = 512, whose median in turns was 156-173 GFLOP/s where n = 256's was 172-174: the
        // fractions moved by 9% between runs with the loops unchanged.)
        let fastest = gemm.filter { $0.size >= 256 }.max { $0.fastGFLOPS < $1.fastGFLOPS } ?? gemm.max { $0.fastGFLOPS < $1.fastGFLOPS }
        let reference = fastest?.fastGFLOPS ?? 0
        let large = Set(gemm.map(\.size).filter { $0 >= 256 }).sorted()
        let referenceSizes = large.isEmpty ? fastest.map { [$0.size] } ?? [] : large
        let archList = archs.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        log("training loops \(archList.joined(separator: ", ")) (untracked, patterns only, tracked; \(loopRounds) rounds of turns"
            + (referenceSizes.isEmpty ? "" : ", with the GEMMs of size " + referenceSizes.map(String.init).joined(separator: ", ")) + ")...")
        let (loops, inTurns) = try benchmarkArchitectures(archs: archList, batch: batch, probe: probe, seconds: loopSeconds,
                                                          rounds: loopRounds, referenceSizes: referenceSizes, optimizer: optimizer)
        log("gated training loop \(gatedArch)...")
        let gated = gatedArch.isEmpty ? nil : try benchmarkGatedTraining(arch: gatedArch, batch: batch, seconds: loopSeconds)
        log("geometric instruments \(instrumentsArch)...")
        let instruments = instrumentsArch.isEmpty ? nil
            : try benchmarkInstruments(arch: instrumentsArch, batch: batch, probe: probe, seconds: loopSeconds, iterations: instrumentsIterations)
        var certified: CertifiedPatternsBenchmark?
        if !certifiedArch.isEmpty {
            log("certified patterns \(certifiedArch) (\(certifiedIterations)-iteration cosine run, full vs certified)...")
            certified = try benchmarkCertifiedPatterns(arch: certifiedArch, batch: batch, probe: probe,
                                                       iterations: certifiedIterations, lr: certifiedLr)
        }
        let dataPath = benchmarkDataPaths(&notes)
        let memory = memoryIterations > 0 ? benchmarkMemory() : nil
        let report = Report(cpu: cpuName(), fmaPeak: peak, gemm: gemm, numpy: numpy, numpyNotes: notes, numpyBLAS: blas, loops: loops, loopOptimizer: loopOptimizer,
                            gemmReference: reference,
                            gemmInTurns: inTurns.isEmpty ? nil : inTurns,
                            gated: gated, instruments: instruments, certified: certified, dataPath: dataPath, memory: memory)
        if json {
            let encoder = JSONCoding.encoder(pretty: true)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(table(report))
        }
    }

    func table(_ r: Report) -> String {
        let peak = r.fmaPeak.gflops
        func ofPeak(_ gflops: Double) -> String { peak > 0 ? String(format: "%.0f%%", 100 * gflops / peak) : "-" }
        var out = ["CPU: \(r.cpu)", "",
                   String(format: "fp32 FMA peak of one core: %.1f GFLOP/s (%d independent chains of SIMD16<Float> FMAs, thread CPU time, best call)",
                          peak, r.fmaPeak.chains),
                   "", "GEMM GFLOP/s, single thread (C = op(A) op(B), n x n x n):"]
        let numpyLabels = r.numpy.keys.sorted()
        var header = ["n", "op", "fast", "fast/peak", "naive"] + numpyLabels.map { $0.contains("unset") ? "numpy-unset" : "numpy-env" }
        header.append("fast/best-numpy")
        out.append(header.map { $0.padding(toLength: 16, withPad: " ", startingAt: 0) }.joined())
        for row in r.gemm {
            var cells = ["\(row.size)", row.variant, String(format: "%.1f", row.fastGFLOPS), ofPeak(row.fastGFLOPS),
                         row.naiveGFLOPS.map { String(format: "%.2f", $0) } ?? "-"]
            var best = 0.0
            for label in numpyLabels {
                let value = r.numpy[label]?.first { $0.size == row.size && $0.variant == row.variant }?.gflops
                cells.append(value.map { String(format: "%.1f", $0) } ?? "-")
                best = max(best, value ?? 0)
            }
            cells.append(best > 0 ? String(format: "%.2fx", row.fastGFLOPS / best) : "-")
            out.append(cells.map { $0.padding(toLength: 16, withPad: " ", startingAt: 0) }.joined())
        }
        for label in numpyLabels { out.append("  \(label): \(r.numpyBLAS[label] ?? "?")") }
        out += r.numpyNotes.map { "  note: \($0)" }
        out.append("")
        // The loops' fractions are of the fastest GEMM timed with them (its median call); without, of the table's best.
        let fastestInTurns = r.gemmInTurns?.max { $0.gflops < $1.gflops }
        let gemmRate = fastestInTurns?.gflops ?? r.gemmReference
        let referenceText = fastestInTurns.map { f in
            String(format: "reference GEMM rate %.1f GFLOP/s (%d %@, the fastest median call in the same rounds: ", f.gflops, f.size, f.variant)
                + r.gemmInTurns!.map { String(format: "%d %@ %.1f", $0.size, $0.variant, $0.gflops) }.joined(separator: ", ")
                + String(format: "; the table's best call before them: %.1f; ", r.gemmReference)
        } ?? String(format: "reference GEMM rate %.1f GFLOP/s (best call before them; ", r.gemmReference)
        out.append(String(format: "Training loops (batch %d, probe %d, %@; CPU-time medians of steps taken in %d rounds of turns): ",
                          batch, probe, loopOptimizer, r.loops.first?.rounds ?? 1) + referenceText + ofPeak(gemmRate)
                   + " of peak); /peak and /GEMM: GFLOP/s as fractions of them")
        func ofGEMM(_ gflops: Double) -> String { gemmRate > 0 ? String(format: "%.0f%%", 100 * gflops / gemmRate) : "-" }
        let widths = [44, 9, 9, 7, 7, 14, 14, 7, 7, 14, 14, 7, 7]
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined()
        }
        out.append("  tracked: every iteration recorded with all instruments; patterns only: without margins, flip sensitivity, lags")
        out.append(line(["arch", "it/s", "GFLOP/s", "/peak", "/GEMM", "tracked it/s", "tracked GF/s", "/peak", "/GEMM",
                         "patterns it/s", "patterns GF/s", "/peak", "/GEMM"]))
        for loop in r.loops {
            let patterns = loop.patternsOnlyGflops ?? 0
            out.append(line([loop.arch, String(format: "%.1f", loop.iterationsPerSecond), String(format: "%.1f", loop.gflops),
                             ofPeak(loop.gflops), ofGEMM(loop.gflops),
                             String(format: "%.1f", loop.trackedIterationsPerSecond), String(format: "%.1f", loop.trackedGflops),
                             ofPeak(loop.trackedGflops), ofGEMM(loop.trackedGflops),
                             String(format: "%.1f", loop.patternsOnlyIterationsPerSecond ?? 0), String(format: "%.1f", patterns),
                             ofPeak(patterns), ofGEMM(patterns)]))
        }
        // The first cell of the lines under the loop table: the architecture, indented.
        func archCell(_ arch: String) -> String { "  " + arch.padding(toLength: 42, withPad: " ", startingAt: 0) }
        let parts = r.loops.compactMap { loop in loop.trackedStepParts.map { (loop.arch, $0) } }
        if !parts.isEmpty {
            out.append("  where a tracked step goes (differences of the medians above): training step | probe pass, weight update, patterns"
                       + " (its GFLOP/s, /GEMM) | margins, flip sensitivity, lags")
            for (arch, p) in parts {
                out.append(archCell(arch)
                           + String(format: "%.2f ms (%.0f%%) | %.2f ms (%.0f%%; %.1f GFLOP/s, %@) | %.2f ms (%.0f%%)",
                                    p.trainingMilliseconds, 100 * p.trainingMilliseconds / p.trackedMilliseconds,
                                    p.probeMilliseconds, 100 * p.probeMilliseconds / p.trackedMilliseconds, p.probeGflops,
                                    ofGEMM(p.probeGflops), p.geometryMilliseconds,
                                    100 * p.geometryMilliseconds / p.trackedMilliseconds))
            }
        }
        let kernelLoops = r.loops.filter { $0.kernels != nil }
        if !kernelLoops.isEmpty {
            out.append("  inside the kernels (GEMMs and convolutions, KernelClock; median step): untracked | patterns only | tracked,"
                       + " each as kernel ms of step ms (share; the kernels' own GFLOP/s, /GEMM); the tracked loop's /GEMM if the rest took no time")
            for loop in kernelLoops {
                let k = loop.kernels!
                func part(_ t: ArchitectureBenchmark.KernelTime, _ perSecond: Double?) -> String {
                    let step = (perSecond ?? 0) > 0 ? 1000 / perSecond! : 0
                    return String(format: "%.2f of %.2f ms (%.0f%%; %.1f, %@)", t.milliseconds, step,
                                  step > 0 ? 100 * t.milliseconds / step : 0, t.gflops, ofGEMM(t.gflops))
                }
                out.append(archCell(loop.arch)
                           + [part(k.untracked, loop.iterationsPerSecond), part(k.patternsOnly, loop.patternsOnlyIterationsPerSecond),
                              part(k.tracked, loop.trackedIterationsPerSecond)].joined(separator: " | ")
                           + " | bound " + ofGEMM(loop.trackedKernelBoundGflops ?? 0))
            }
            out.append("  the tracked step's kernel shapes that lose the most time against the reference GEMM rate"
                       + " (m x n x k; ms per step, calls, GFLOP/s, /GEMM, ms lost)")
            for loop in kernelLoops {
                let worst = (loop.kernels!.trackedShapes ?? []).sorted {
                    $0.millisecondsLost(at: gemmRate) > $1.millisecondsLost(at: gemmRate)
                }.prefix(4)
                out.append(archCell(loop.arch) + worst.map {
                    String(format: "%@: %.2f ms, %.0f, %.1f, %@, %.2f", $0.shape, $0.milliseconds, $0.callsPerStep, $0.gflops,
                           ofGEMM($0.gflops), $0.millisecondsLost(at: gemmRate))
                }.joined(separator: " | "))
            }
        }
        if let g = r.gated {
            out.append("Gated training \(g.arch) " + String(format: "(batch %d, untracked, same run): ordinary %.1f it/s, gates cached %.1f it/s (%.2fx), "
                              + "gates recomputed %.1f it/s (%.2fx); cache %d B per training example",
                              g.batch, g.iterationsPerSecond, g.cachedIterationsPerSecond,
                              g.cachedIterationsPerSecond / g.iterationsPerSecond, g.recomputedIterationsPerSecond,
                              g.recomputedIterationsPerSecond / g.iterationsPerSecond, g.cacheBytesPerExample))
        }
        if let i = r.instruments {
            func list(_ x: [Double], _ format: String) -> String { x.map { String(format: format, $0) }.joined(separator: " ") }
            out.append("Geometric instruments \(i.arch) " + String(format: "(batch %d, probe %d, every iteration recorded; same run, alternating):", i.batch, i.probe))
            out.append("  tracked it/s \(list(i.trackedPerSecond, "%.1f")); with margins, flip sensitivity, lags \(list(i.geometryPerSecond, "%.1f")); "
                       + "ratio \(list(i.geometryRatios, "%.3f"))")
            out.append("  \(i.iterations)-iteration trials, CPU s without null model \(list(i.withoutNullSeconds, "%.2f")), with (default cadence) "
                       + "\(list(i.withNullSeconds, "%.2f")); ratio \(list(i.nullRatios, "%.3f"))")
        }
        if let c = r.certified {
            out.append("")
            out.append("Certified probe pass \(c.arch) on \(c.dataset) " + String(format: "(batch %d, probe %d, %d-iteration cosine run from lr %g, "
                       + "every iteration tracked, same curve bit for bit; steps in turns, CPU time):", c.batch, c.probe, c.iterations, c.lr))
            out.append(String(format: "  second half: full %.1f it/s, certified %.1f it/s (%.2fx); whole run: full %.1f, certified %.1f it/s (%.2fx)",
                              c.fullSecondHalf, c.certifiedSecondHalf, c.speedupSecondHalf, c.fullWhole, c.certifiedWhole,
                              c.certifiedWhole / c.fullWhole))
            out.append("  probe examples certified per quarter of the run: "
                       + c.certifiedFractionPerQuarter.map { String(format: "%.1f%%", 100 * $0) }.joined(separator: ", ")
                       + "; first-layer units certified where the bounds were tried (\(c.attempts) measurements): "
                       + c.firstLayerUnitFractionPerQuarter.map { $0.map { String(format: "%.1f%%", 100 * $0) } ?? "-" }.joined(separator: ", "))
        }
        out += dataPathTable(r.dataPath)
        if let memory = r.memory { out += memoryTable(memory) }
        return out.joined(separator: "\n")
    }

    /// Runs the NumPy script in a child process, OpenBLAS pinned to one thread; with `unsetCoreType`
    /// the OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE variables are removed for that child only, so
    /// OpenBLAS picks its kernel for this CPU (e.g. SkylakeX's AVX-512) instead of a forced one.
    func runNumPy(sizes: [Int], unsetCoreType: Bool) -> Result<([NumPyRow], String), BenchError> {
        guard FileManager.default.fileExists(atPath: numpyScript) else { return .failure(BenchError("\(numpyScript) not found")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", numpyScript, "--sizes", sizes.map(String.init).joined(separator: ","),
                             "--min-seconds", "\(gemmSeconds)"]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        environment["OMP_NUM_THREADS"] = "1"
        if unsetCoreType {
            environment["OPENBLAS_CORETYPE"] = nil
            environment["OPENBLAS_L2_SIZE"] = nil
        }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return .failure(BenchError("cannot run python3: \(error)")) }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let run = try? JSONDecoder().decode(NumPyRun.self, from: data) else {
            return .failure(BenchError("python3 \(numpyScript) failed (status \(process.terminationStatus)); is numpy installed?"))
        }
        var description = "?"
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let info = object["blas"] as? [String: Any] {
            let core = info["coretype"] as? String ?? "?"
            let library = (info["numpy_blas_build"] as? [String: Any])?["version"] as? String ?? "?"
            description = "OpenBLAS \(library), kernel \(core), 1 thread"
        }
        return .success((run.results, description))
    }

    func cpuName() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }) else { return "unknown" }
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }

    func log(_ message: String) { FileHandle.standardError.write(Data("bench: \(message)\n".utf8)) }
}
