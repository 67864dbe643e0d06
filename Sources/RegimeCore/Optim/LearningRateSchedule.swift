import Foundation

/// A learning-rate schedule over steps t = 1...T (docs/numerics.md, "Learning-rate schedules").
///
/// The schedule is part of every trial's spec because the weight-update curve follows it: a
/// decaying schedule is what makes weight updates decay at all under SGD.
public struct LearningRateSchedule: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        case constant, step, cosine
    }

    public var kind: Kind = .constant
    /// Linear warm-up steps (0: none); the rest of the schedule runs over the remaining steps.
    public var warmup: Int = 0
    /// `step`: multiply by `gamma` every `stepSize` steps.
    public var stepSize: Int? = nil
    public var gamma: Double? = nil
    /// `cosine`: the rate at the end.
    public var lrMin: Double = 0

    public init(kind: Kind = .constant, warmup: Int = 0, stepSize: Int? = nil, gamma: Double? = nil, lrMin: Double = 0) {
        self.kind = kind
        self.warmup = warmup
        self.stepSize = stepSize
        self.gamma = gamma
        self.lrMin = lrMin
    }

    enum CodingKeys: String, CodingKey {
        case kind = "name", warmup, stepSize = "step_size", gamma, lrMin = "lr_min"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decodeIfPresent(Kind.self, forKey: .kind) ?? .constant
        warmup = try c.decodeIfPresent(Int.self, forKey: .warmup) ?? 0
        stepSize = try c.decodeIfPresent(Int.self, forKey: .stepSize)
        gamma = try c.decodeIfPresent(Double.self, forKey: .gamma)
        lrMin = try c.decodeIfPresent(Double.self, forKey: .lrMin) ?? 0
    }

    /// Checks the settings for `totalSteps`; the message names the key.
    public func validate(totalSteps: Int) throws {
        if warmup < 0 || warmup >= max(totalSteps, 1) && warmup > 0 {
            throw SpecError("schedule.warmup: expected 0 <= warmup < iterations (\(totalSteps)), got \(warmup)")
        }
        if kind == .step {
            guard let stepSize, stepSize > 0 else { throw SpecError("schedule.step_size: expected a positive integer for the step schedule") }
            guard let gamma, gamma > 0, gamma.isFinite else { throw SpecError("schedule.gamma: expected a positive number for the step schedule") }
        }
        if kind == .cosine, !(lrMin >= 0) { throw SpecError("schedule.lr_min: expected a number >= 0") }
    }

    /// The rate for step t (1-based) of `totalSteps`, from the base rate `lr0`.
    public func rate(step t: Int, totalSteps T: Int, baseRate lr0: Double) -> Double {
        if warmup > 0 && t <= warmup { return lr0 * Double(t) / Double(warmup) }
        let s = t - warmup
        let n = max(T - warmup, 1)
        switch kind {
        case .constant:
            return lr0
        case .step:
            let exponent = (s - 1) / max(stepSize ?? 1, 1)
            return lr0 * pow(gamma ?? 1, Double(exponent))
        case .cosine:
            return lrMin + 0.5 * (lr0 - lrMin) * (1 + cos(Double.pi * Double(s - 1) / Double(n)))
        }
    }
}
