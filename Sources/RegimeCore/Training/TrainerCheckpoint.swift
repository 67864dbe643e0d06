import CZlib
import Foundation

/// Everything needed to continue a trial exactly where it stopped: parameters, optimizer state,
/// iteration (which fixes the data cursor: batch t is a function of t and the seed), the pattern
/// bits the next recorded iteration is compared with, the curve so far, and a gated trial's frozen
/// gate parameters (the detector's state is a function of the curve and is replayed from it).
///
/// Binary file format (little-endian), so that a 1M-parameter checkpoint stays a few MB and
/// loads without parsing text:
/// ```
/// "RGMCKPT1"                                  8 bytes magic
/// UInt64 metadata length, metadata JSON       trial id, iteration, sizes, curve, loss, seconds
/// Float32 x parameterCount                    parameters
/// Float32 x firstCount, Float32 x secondCount optimizer moments
/// UInt64 x words, per pattern layer           initial patterns, then previous patterns
/// Float32 x parameterCount                    gate parameters θ_g, only when gatesFrozenAt is set
/// Float32 x parameterCount                    θ at the previous recorded iteration, when instruments.previousStored
/// per lag snapshot with an iteration:         its parameters (Float32 x parameterCount) and
///                                             pattern words (UInt64, per pattern layer)
/// UInt32 CRC-32 of every byte before it       zlib's crc32
/// ```
public struct TrainerCheckpoint: Equatable {
    public struct Metadata: Codable, Equatable {
        public var trialID: String
        public var iteration: Int
        public var optimizerStep: Int
        public var parameterCount: Int
        public var firstCount: Int
        public var secondCount: Int
        public var patternWords: [Int]
        public var lastLoss: Double?
        public var elapsedSeconds: Double
        public var curve: Curve
        /// The iteration after which a gated trial froze its gates (absent: not frozen).
        public var gatesFrozenAt: Int?
        /// The state of the geometric instruments (absent in checkpoints written before them).
        public var instruments: InstrumentState?
    }

    /// What the binary part holds for the instruments (docs/numerics.md): the parameters of the
    /// previous recorded iteration when they differ from the current ones (a checkpoint between
    /// two recorded iterations), and each lag snapshot's iteration (nil: none yet).
    public struct InstrumentState: Codable, Equatable {
        public var previousStored: Bool
        public var lagIterations: [Int?]
    }

    public var metadata: Metadata
    public var parameters: [Float]
    public var first: [Float]
    public var second: [Float]
    public var initialPatterns: [[UInt64]]
    public var previousPatterns: [[UInt64]]
    /// θ_g when `metadata.gatesFrozenAt` is set.
    public var gateParameters: [Float]?
    /// θ of the previous recorded iteration, when `metadata.instruments.previousStored`.
    public var previousParameters: [Float]? = nil
    /// Per lag snapshot with an iteration: parameters and pattern words.
    public var lagSnapshots: [(parameters: [Float], patterns: [[UInt64]])] = []

    public static func == (a: TrainerCheckpoint, b: TrainerCheckpoint) -> Bool {
        a.metadata == b.metadata && a.parameters == b.parameters && a.first == b.first && a.second == b.second
            && a.initialPatterns == b.initialPatterns && a.previousPatterns == b.previousPatterns
            && a.gateParameters == b.gateParameters && a.previousParameters == b.previousParameters
            && a.lagSnapshots.map(\.parameters) == b.lagSnapshots.map(\.parameters)
            && a.lagSnapshots.map(\.patterns) == b.lagSnapshots.map(\.patterns)
    }

    static let magic = Array("RGMCKPT1".utf8)

    public func encoded() throws -> [UInt8] {
        var out = Self.magic
        let json = try JSONCoding.encoder().encode(metadata)
        append(UInt64(json.count), to: &out)
        out += json
        for array in [parameters, first, second] {
            array.withUnsafeBytes { out += $0 }
        }
        for layers in [initialPatterns, previousPatterns] {
            for words in layers { words.withUnsafeBytes { out += $0 } }
        }
        gateParameters?.withUnsafeBytes { out += $0 }
        previousParameters?.withUnsafeBytes { out += $0 }
        for snapshot in lagSnapshots {
            snapshot.parameters.withUnsafeBytes { out += $0 }
            for words in snapshot.patterns { words.withUnsafeBytes { out += $0 } }
        }
        let crc = out.withUnsafeBytes { UInt32(crc32(0, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), uInt($0.count))) }
        append(crc, to: &out)
        return out
    }

    /// Decodes and verifies a checkpoint; `source` names it in errors.
    public init(decoding bytes: [UInt8], source: String) throws {
        func fail(_ why: String) -> CheckpointError { CheckpointError("\(source): \(why)") }
        guard bytes.count >= 8 + 8 + 4, Array(bytes[0..<8]) == Self.magic else {
            throw fail("not a regime checkpoint (bad magic)")
        }
        let body = bytes.count - 4
        let stored = bytes[body..<bytes.count].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        let actual = bytes.withUnsafeBytes { UInt32(crc32(0, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), uInt(body))) }
        guard stored.littleEndian == actual else {
            throw fail("checksum mismatch (stored \(String(stored, radix: 16)), computed \(String(actual, radix: 16))): the file is corrupt or truncated")
        }
        var offset = 8
        func read<T>(_ count: Int, as: T.Type) throws -> [T] {
            let size = count * MemoryLayout<T>.stride
            guard count >= 0, offset + size <= body else { throw fail("truncated") }
            defer { offset += size }
            return bytes[offset..<(offset + size)].withUnsafeBytes { raw in
                (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self) }
            }
        }
        let jsonLength = Int(try read(1, as: UInt64.self)[0])
        guard jsonLength > 0, offset + jsonLength <= body else { throw fail("truncated metadata") }
        do {
            metadata = try JSONCoding.decoder().decode(Metadata.self, from: Data(bytes[offset..<(offset + jsonLength)]))
        } catch {
            throw fail("unreadable metadata (\(error))")
        }
        offset += jsonLength
        parameters = try read(metadata.parameterCount, as: Float.self)
        first = try read(metadata.firstCount, as: Float.self)
        second = try read(metadata.secondCount, as: Float.self)
        initialPatterns = try metadata.patternWords.map { try read($0, as: UInt64.self) }
        previousPatterns = try metadata.patternWords.map { try read($0, as: UInt64.self) }
        gateParameters = metadata.gatesFrozenAt == nil ? nil : try read(metadata.parameterCount, as: Float.self)
        if let state = metadata.instruments {
            previousParameters = state.previousStored ? try read(metadata.parameterCount, as: Float.self) : nil
            for _ in state.lagIterations.compactMap({ $0 }) {
                let p = try read(metadata.parameterCount, as: Float.self)
                lagSnapshots.append((p, try metadata.patternWords.map { try read($0, as: UInt64.self) }))
            }
        }
        guard offset == body else { throw fail("\(body - offset) unexpected bytes before the checksum") }
    }

    public init(metadata: Metadata, parameters: [Float], first: [Float], second: [Float],
                initialPatterns: [[UInt64]], previousPatterns: [[UInt64]], gateParameters: [Float]? = nil) {
        self.metadata = metadata; self.parameters = parameters; self.first = first; self.second = second
        self.initialPatterns = initialPatterns; self.previousPatterns = previousPatterns
        self.gateParameters = gateParameters
    }

    private func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Trainer {
    /// The trial's state now; `elapsedSeconds` is the training time so far (carried across resumes).
    public func checkpoint(elapsedSeconds: Double) -> TrainerCheckpoint {
        let state = optimizer.state
        let metadata = TrainerCheckpoint.Metadata(
            trialID: spec.trialID, iteration: iteration, optimizerStep: state.step, parameterCount: parameters.count,
            firstCount: state.first.count, secondCount: state.second.count,
            patternWords: initialPatterns.words.map(\.count), lastLoss: lastLoss.isFinite ? lastLoss : nil,
            elapsedSeconds: elapsedSeconds, curve: curve, gatesFrozenAt: gates?.frozenAt)
        var checkpoint = TrainerCheckpoint(metadata: metadata, parameters: parameters.array, first: state.first, second: state.second,
                                           initialPatterns: initialPatterns.words, previousPatterns: previousPatterns.words,
                                           gateParameters: gates?.parameters.array)
        let previousStored = iteration != (curve.iteration.last ?? 0)
        checkpoint.metadata.instruments = TrainerCheckpoint.InstrumentState(
            previousStored: previousStored, lagIterations: instruments.lags.map(\.iteration))
        checkpoint.previousParameters = previousStored ? previousParameters.array : nil
        checkpoint.lagSnapshots = instruments.lags.filter { $0.iteration != nil }.map { ($0.parameters.array, $0.patterns.words) }
        return checkpoint
    }

    /// Continues from `checkpoint`, which must belong to this trial.
    public func restore(_ checkpoint: TrainerCheckpoint, source: String) throws {
        let m = checkpoint.metadata
        guard m.trialID == spec.trialID else { throw CheckpointError("\(source): belongs to trial \(m.trialID), not \(spec.trialID)") }
        guard m.parameterCount == parameters.count, m.iteration >= 0, m.iteration <= spec.iterations,
              (m.gatesFrozenAt == nil) == (checkpoint.gateParameters == nil),
              (checkpoint.gateParameters?.count ?? parameters.count) == parameters.count,
              initialPatterns.restore(words: checkpoint.initialPatterns),
              previousPatterns.restore(words: checkpoint.previousPatterns) else {
            throw CheckpointError("\(source): shapes do not match trial \(spec.trialID) (\(spec.arch))")
        }
        try optimizer.restore(step: m.optimizerStep, first: checkpoint.first, second: checkpoint.second)
        parameters.copy(from: checkpoint.parameters)
        networkReadCurrentParameters = false
        restoreProgress(iteration: m.iteration, curve: m.curve, lastLoss: m.lastLoss ?? .nan)
        previousParameters.copy(from: checkpoint.previousParameters ?? checkpoint.parameters)
        let lagIterations = m.instruments?.lagIterations ?? instruments.lags.map { _ in nil }
        guard lagIterations.count == instruments.lags.count,
              lagIterations.compactMap({ $0 }).count == checkpoint.lagSnapshots.count else {
            throw CheckpointError("\(source): lag snapshots do not match trial \(spec.trialID)")
        }
        var saved = checkpoint.lagSnapshots.makeIterator()
        for (lag, t) in zip(instruments.lags, lagIterations) {
            let snapshot = t == nil ? nil : saved.next()
            guard lag.restore(iteration: t, parameters: snapshot?.parameters ?? parameters.array,
                              patternWords: snapshot?.patterns ?? initialPatterns.words) else {
                throw CheckpointError("\(source): lag snapshot shapes do not match trial \(spec.trialID)")
            }
        }
        gates = nil
        if let frozenAt = m.gatesFrozenAt, let frozen = checkpoint.gateParameters {
            gates = makeGates(frozenAt: frozenAt, parameters: FloatBuffer(frozen))
        }
    }
}
