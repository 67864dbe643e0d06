import RegimeCore

extension TrialOptions {
    /// The `regime train` flags that give `spec` back through `makeSpec()` (every setting spelled
    /// out; of the gates, the freeze point): how a program runs a sweep's trial as its own
    /// process, e.g. to measure its memory.
    static func arguments(for spec: TrialSpec) -> [String] {
        let d = spec.dataset, o = spec.optimizer, s = spec.schedule
        var a = ["--arch", spec.arch, "--dataset", d.name]
        if let path = d.path { a += ["--data-path", path] }
        if let n = d.trainSubset { a += ["--train-subset", "\(n)"] }
        a += ["--probe-subset", "\(d.probeSubset)", "--probe-seed", "\(d.probeSeed)"]
        if let n = d.valSubset { a += ["--val-subset", "\(n)"] }
        a += ["--optimizer", o.kind.rawValue, "--lr", "\(o.lr)", "--momentum", "\(o.momentum)"]
        if o.nesterov { a.append("--nesterov") }
        a += ["--weight-decay", "\(o.weightDecay)", "--beta1", "\(o.beta1)", "--beta2", "\(o.beta2)", "--eps", "\(o.eps)"]
        a += ["--schedule", s.kind.rawValue, "--warmup", "\(s.warmup)"]
        if let n = s.stepSize { a += ["--step-size", "\(n)"] }
        if let g = s.gamma { a += ["--gamma", "\(g)"] }
        a += ["--lr-min", "\(s.lrMin)"]
        a += ["--batch-size", "\(spec.batchSize)", "--iterations", "\(spec.iterations)", "--seed", "\(spec.seed)",
              "--record-every", "\(spec.recordEvery)", "--eval-every", "\(spec.evalEvery)"]
        // The flags set the freeze point only; a trial with other detector settings is given back
        // with the default ones (none of the shipped sweeps has such a trial).
        if let gates = spec.gates { a += ["--freeze-at", gates.freezeAt.description] }
        if let null = spec.nullModel { a += ["--null-model-points", "\(null.points)", "--null-model-draws", "\(null.draws)"] }
        return a
    }
}
