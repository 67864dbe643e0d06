import ArgumentParser
import Foundation
import RegimeAnalysis
import RegimeCore
import SweepStore
import Worker

/// Options that describe one trial, shared by `regime train` and anything else that builds a spec from flags.
struct TrialOptions: ParsableArguments {
    @Option(help: "Architecture, e.g. mlp:784-256-256-10.") var arch: String = "mlp:784-256-256-10"
    @Option(help: "Data set: fashion-mnist, mnist, cifar10 or synthetic.") var dataset: String = "fashion-mnist"
    @Option(help: "Directory of the data set's files (default: the Debian package's).") var dataPath: String?
    @Option(help: "Train on the first N training examples (default: all).") var trainSubset: Int?
    @Option(help: "Probe-set size, drawn from the held-out split.") var probeSubset: Int = 512
    @Option(help: "Seed of the probe-set draw (shared by the trials of a sweep).") var probeSeed: UInt64 = 7
    @Option(help: "Validation examples (default: the whole held-out split).") var valSubset: Int?
    @Option(help: "Optimizer: sgd, adam or adamw.") var optimizer: OptimizerSpec.Kind = .sgd
    @Option(help: "Base learning rate.") var lr: Double = 0.05
    @Option(help: "SGD momentum.") var momentum: Double = 0
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(help: "Weight decay (L2 for sgd/adam, decoupled for adamw).") var weightDecay: Double = 0
    @Option(help: "Adam beta1.") var beta1: Double = 0.9
    @Option(help: "Adam beta2.") var beta2: Double = 0.999
    @Option(help: "Adam epsilon.") var eps: Double = 1e-8
    @Option(help: "Learning-rate schedule: constant, step or cosine.") var schedule: LearningRateSchedule.Kind = .constant
    @Option(help: "Linear warm-up steps.") var warmup: Int = 0
    @Option(help: "Step schedule: steps between decays.") var stepSize: Int?
    @Option(help: "Step schedule: decay factor.") var gamma: Double?
    @Option(help: "Cosine schedule: final rate.") var lrMin: Double = 0
    @Option(help: "Batch size.") var batchSize: Int = 128
    @Option(help: "Training iterations.") var iterations: Int = 2000
    @Option(help: "Trial seed (init and batch order).") var seed: UInt64 = 1
    @Option(help: "Record the instruments every k iterations.") var recordEvery: Int = 1
    @Option(help: "Validation accuracy every N iterations.") var evalEvery: Int = 250
    @Option(help: "Freeze the activation gates after N optimizer steps, at 'auto' (the online detector) or 'never'.")
    var freezeAt: String = "never"

    func makeSpec() throws -> TrialSpec {
        guard let freeze = GateSpec.FreezeAt(text: freezeAt) else {
            throw ValidationError("--freeze-at: expected a number of optimizer steps, 'auto' or 'never', got '\(freezeAt)'")
        }
        let spec = TrialSpec(
            arch: arch,
            dataset: DatasetSpec(name: dataset, path: dataPath, trainSubset: trainSubset, probeSubset: probeSubset,
                                 probeSeed: probeSeed, valSubset: valSubset),
            optimizer: OptimizerSpec(kind: optimizer, lr: lr, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay,
                                     beta1: beta1, beta2: beta2, eps: eps),
            schedule: LearningRateSchedule(kind: schedule, warmup: warmup, stepSize: stepSize, gamma: gamma, lrMin: lrMin),
            batchSize: batchSize, iterations: iterations, seed: seed, recordEvery: recordEvery, evalEvery: evalEvery,
            gates: GateSpec.setting(freezeAt: freeze))
        do { try spec.validate() } catch { throw ValidationError("\(error)") }
        return spec
    }
}

/// How `regime train` analyses its curve (the keys of a sweep's `analysis:` section).
struct AnalysisFlags: ParsableArguments {
    @Option(help: "Analysis: moving-average window (recorded points).") var smoothing: Int = 25
    @Option(help: "Analysis: thresholds, comma-separated.") var thresholds: String = "0.05,0.1,0.2"
    @Option(help: "Analysis: early-peak reference window (last iteration).") var peakWindow: Int = 100
    @Option(help: "Analysis: iterations removed before the early-peak reference.") var peakSkip: Int = 50
    @Option(help: "Analysis: fractions q of the settling times, comma-separated.") var settling: String = "0.5,0.2,0.1,0.05"

    func makeOptions() throws -> AnalysisOptions {
        let parsed = thresholds.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parsed.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--thresholds: expected comma-separated numbers, got '\(thresholds)'")
        }
        let values = parsed.map { $0! }
        let fractions = settling.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard fractions.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--settling: expected comma-separated numbers, got '\(settling)'")
        }
        var options = AnalysisOptions(smoothing: smoothing, thresholds: values,
                                      normalization: .earlyPeak(window: peakWindow, skip: peakSkip), settling: fractions.map { $0! })
        options.epsilonGrid = Array(Set(options.epsilonGrid + values)).sorted()
        do { try options.validate() } catch { throw ValidationError("\(error)") }
        return options
    }
}

extension OptimizerSpec.Kind: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one trial and write its curve (curve.csv) and result (result.json).")

    @OptionGroup var trial: TrialOptions
    @OptionGroup var analysis: AnalysisFlags
    @Option(help: "Output directory.") var out: String
    @Flag(help: "Overwrite an existing result in the output directory.") var force = false
    @Option(help: ArgumentHelp(memoryPerRankHelp)) var memoryPerRank: String?

    func run() throws {
        var runner = TrialRunner()
        let spec: TrialSpec
        let options: AnalysisOptions
        do {
            spec = try trial.makeSpec()
            options = try analysis.makeOptions()
            runner.memoryBudget = try MemoryBudget.resolve(flag: memoryPerRank)
            _ = try runner.check(spec)
        } catch {
            // One line, and nothing written: the output directory is made only after these checks.
            let message = (error as? ResourceShortfall).map { $0.message(naming: "--" + ($0.blamedKey.split(separator: ".").last ?? "")
                .replacingOccurrences(of: "_", with: "-")) } ?? "\(error)"
            FileHandle.standardError.write(Data("regime train: \(message)\n".utf8))
            throw ExitCode(1)
        }
        let directory = URL(fileURLWithPath: out)
        let resultURL = directory.appendingPathComponent("result.json")
        if FileManager.default.fileExists(atPath: resultURL.path) && !force {
            throw ValidationError("\(resultURL.path) exists; pass --force to overwrite")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let progress = ProgressBar(total: spec.iterations, label: spec.trialID)
        runner.betweenIterations = { trainer in progress.update(trainer.iteration, loss: trainer.lastLoss) }
        let replayProgress = ProgressBar(total: spec.iterations, label: "settling replay")
        runner.betweenReplaySteps = { replay in
            progress.finish()
            replayProgress.update(replay.iteration, loss: replay.lastLoss)
        }
        let cpu = Clocks.threadCPU()
        let outcome = runner.run(spec)
        let totalCPU = Clocks.threadCPU() - cpu
        progress.finish()
        replayProgress.finish()
        if let curve = outcome.curve {
            try AtomicFile.write(Data(curve.csv().utf8), to: directory.appendingPathComponent("curve.csv"))
        }
        if let settling = outcome.settling {
            try AtomicFile.write(Data(settling.csv().utf8), to: directory.appendingPathComponent("settling.csv"))
        }
        let analysed = AnalysedTrial(result: outcome.result, curve: outcome.curve, settling: outcome.settling, options: options)
        try AtomicFile.write(try JSONFormat.pretty(analysed), to: resultURL)
        print(TrialSummaryText.describe(analysed))
        if let seconds = outcome.settlingSeconds, let replayCPU = outcome.settlingCPUSeconds {
            print(String(format: "settling replay: %.1f s of the %.1f s wall, %.1f s of the %.1f s CPU (%.0f%% of training's); settling.csv: %d snapshots",
                         seconds, outcome.result.wallSeconds, replayCPU, totalCPU, 100 * replayCPU / max(totalCPU - replayCPU, 1e-9),
                         outcome.settling?.count ?? 0))
        }
        if outcome.result.status == .failed { throw ExitCode(1) }
    }
}
