import Foundation

/// Everything that determines a trial's result: architecture, data, optimizer, schedule, sizes,
/// instrument settings and the seed. Two trials with equal specs produce identical curves and
/// results on any rank, host or rank count.
///
/// How the curves are analysed afterwards (smoothing, thresholds, references: a sweep's
/// `analysis:` section) is not part of the spec: it changes no trial and no trial id.
public struct TrialSpec: Codable, Hashable, Sendable {
    public var arch: String
    public var dataset: DatasetSpec
    public var optimizer: OptimizerSpec
    public var schedule: LearningRateSchedule = LearningRateSchedule()
    public var batchSize: Int
    public var iterations: Int
    public var seed: UInt64
    /// Record the instruments every `recordEvery` iterations (1: every iteration).
    public var recordEvery: Int = 1
    /// Measure validation accuracy every `evalEvery` iterations (and always at the end).
    public var evalEvery: Int = 250
    /// Frozen activation gates (nil: never frozen). Optional and encoded only when present, so
    /// trials without it keep their ids.
    public var gates: GateSpec?
    /// The null model's cadence and draws (nil: the defaults). Encoded only when it differs from
    /// the defaults, so trials without it keep their ids.
    public var nullModel: NullModelSpec?

    public init(arch: String, dataset: DatasetSpec, optimizer: OptimizerSpec, schedule: LearningRateSchedule = .init(),
                batchSize: Int, iterations: Int, seed: UInt64, recordEvery: Int = 1, evalEvery: Int = 250,
                gates: GateSpec? = nil) {
        self.arch = arch; self.dataset = dataset; self.optimizer = optimizer; self.schedule = schedule
        self.batchSize = batchSize; self.iterations = iterations; self.seed = seed
        self.recordEvery = recordEvery; self.evalEvery = evalEvery
        self.gates = gates
    }

    enum CodingKeys: String, CodingKey {
        case arch, dataset, optimizer, schedule, batchSize = "batch_size", iterations, seed,
             recordEvery = "record_every", evalEvery = "eval_every", decay, gates, nullModel = "null_model"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arch = try c.decode(String.self, forKey: .arch)
        dataset = try c.decode(DatasetSpec.self, forKey: .dataset)
        optimizer = try c.decode(OptimizerSpec.self, forKey: .optimizer)
        schedule = try c.decodeIfPresent(LearningRateSchedule.self, forKey: .schedule) ?? LearningRateSchedule()
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        iterations = try c.decode(Int.self, forKey: .iterations)
        seed = try c.decode(UInt64.self, forKey: .seed)
        recordEvery = try c.decodeIfPresent(Int.self, forKey: .recordEvery) ?? 1
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? 250
        // A `decay` key (journals of regime 0.1, where analysis settings were trial settings) is ignored.
        gates = try c.decodeIfPresent(GateSpec.self, forKey: .gates)
        nullModel = try c.decodeIfPresent(NullModelSpec.self, forKey: .nullModel)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(arch, forKey: .arch)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(dataset, forKey: .dataset)
        if encoder.userInfo[TrialSpec.identityKey] != nil {
            try c.encode(LegacyDecayIdentity(), forKey: .decay)
        }
        try c.encode(evalEvery, forKey: .evalEvery)
        try c.encodeIfPresent(gates, forKey: .gates)
        try c.encode(iterations, forKey: .iterations)
        if let nullModel, nullModel != NullModelSpec() { try c.encode(nullModel, forKey: .nullModel) }
        try c.encode(optimizer, forKey: .optimizer)
        try c.encode(recordEvery, forKey: .recordEvery)
        try c.encode(schedule, forKey: .schedule)
        try c.encode(seed, forKey: .seed)
    }

    /// Set in an encoder's `userInfo` when it encodes the spec as identity (``canonicalJSON``).
    static let identityKey = CodingUserInfoKey(rawValue: "regime.trialSpec.identity")!

    /// regime 0.1 kept the decay settings in the spec, so every trial id of that version hashed a
    /// `decay` object; at its defaults it read as below. The identity keeps that constant object so
    /// ids of existing sweeps stay the same (`--resume` of an older directory works); the analysis
    /// settings themselves no longer enter the spec. A 0.1 sweep with non-default `decay` settings
    /// had other ids and cannot be resumed by this version (its analysis can still be recomputed).
    struct LegacyDecayIdentity: Encodable {
        var area_fraction = 0.9
        var peak_skip = 0
        var peak_window = 50
        var smoothing = 25
        var thresholds = [0.05, 0.1, 0.2]
    }

    /// Checks every setting, and that the architecture fits the data set; the error names the key.
    public func validate() throws {
        let architecture: Architecture
        do { architecture = try Architecture(parsing: arch) } catch { throw SpecError("arch: \(error)") }
        try dataset.validate()
        try optimizer.validate()
        try schedule.validate(totalSteps: iterations)
        guard batchSize > 0 else { throw SpecError("batch_size: expected a positive integer, got \(batchSize)") }
        guard iterations > 0 else { throw SpecError("iterations: expected a positive integer, got \(iterations)") }
        try gates?.validate(iterations: iterations)
        try nullModel?.validate()
        guard recordEvery > 0 else { throw SpecError("record_every: expected a positive integer, got \(recordEvery)") }
        guard evalEvery > 0 else { throw SpecError("eval_every: expected a positive integer, got \(evalEvery)") }
        // Validation accuracy is stored in the curve row of its iteration, so it must be a recorded one.
        guard evalEvery % recordEvery == 0 else {
            throw SpecError("eval_every: expected a multiple of record_every (\(recordEvery)), got \(evalEvery)")
        }
        try checkLimits(architecture)
    }

    /// The spec as identity: JSON with sorted keys, without `dataset.path` (where the files are is not
    /// what they are). Stable across runs and machines of the same regime version.
    public var canonicalJSON: String {
        var identity = self
        identity.dataset.path = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.userInfo[Self.identityKey] = true
        return String(decoding: try! encoder.encode(identity), as: UTF8.self)
    }

    /// A stable id: 64-bit FNV-1a of `canonicalJSON`, as 16 hex digits.
    public var trialID: String { String(format: "%016llx", fnv1a64(Array(canonicalJSON.utf8))) }
}

/// FNV-1a, 64 bit: a fixed, documented hash (Swift's `Hasher` is randomly seeded per process).
public func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}
