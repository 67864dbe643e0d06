import Foundation

/// The `gates` trial setting: decoupled training with frozen activation gates (docs/numerics.md,
/// "Gated training").
///
/// `freeze_at: N` freezes the gates after N optimizer steps (0: the initial network's gates);
/// `freeze_at: auto` when the online regime detector fires; `freeze_at: never` (the same as no
/// `gates` setting) never. The detector's parameters (`window`, `drop`, `flattening`, `patience`,
/// see ``RegimeDetectorOptions``) stand in the same mapping.
///
/// Identity: only what differs from the defaults is encoded (`freeze_at` always), and a setting
/// equal to "never, default detector" is no setting at all (``GateSpec/setting(freezeAt:detector:)``
/// returns nil), so such a trial keeps the id of a trial without `gates`.
public struct GateSpec: Codable, Hashable, Sendable {
    public enum FreezeAt: Hashable, Sendable, CustomStringConvertible {
        case step(Int)
        case auto
        case never

        /// `N`, `auto` or `never`; nil for anything else (a negative N is left to `validate`).
        public init?(text: String) {
            switch text {
            case "auto": self = .auto
            case "never": self = .never
            default:
                guard let n = Int(text) else { return nil }
                self = .step(n)
            }
        }

        public var description: String {
            switch self {
            case .step(let n): return "\(n)"
            case .auto: return "auto"
            case .never: return "never"
            }
        }
    }

    public var freezeAt: FreezeAt
    public var detector: RegimeDetectorOptions

    public init(freezeAt: FreezeAt, detector: RegimeDetectorOptions = RegimeDetectorOptions()) {
        self.freezeAt = freezeAt
        self.detector = detector
    }

    /// The trial setting for these values: nil when it is the default (never freeze, default detector).
    public static func setting(freezeAt: FreezeAt, detector: RegimeDetectorOptions = RegimeDetectorOptions()) -> GateSpec? {
        freezeAt == .never && detector == RegimeDetectorOptions() ? nil : GateSpec(freezeAt: freezeAt, detector: detector)
    }

    /// The error names the key.
    public func validate(iterations: Int) throws {
        if case .step(let n) = freezeAt, !(0..<iterations).contains(n) {
            throw SpecError("gates.freeze_at: expected 'auto', 'never' or an integer from 0 to \(iterations - 1) (optimizer steps before the freeze; the trial has \(iterations) iterations), got \(n)")
        }
        try detector.validate()
    }

    enum CodingKeys: String, CodingKey { case freezeAt = "freeze_at", window, drop, flattening, patience }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let n = try? c.decode(Int.self, forKey: .freezeAt) {
            freezeAt = .step(n)
        } else {
            let text = try c.decode(String.self, forKey: .freezeAt)
            guard let value = FreezeAt(text: text) else {
                throw DecodingError.dataCorruptedError(forKey: .freezeAt, in: c, debugDescription: "expected an integer, 'auto' or 'never', got '\(text)'")
            }
            freezeAt = value
        }
        let d = RegimeDetectorOptions()
        detector = RegimeDetectorOptions(
            window: try c.decodeIfPresent(Int.self, forKey: .window) ?? d.window,
            drop: try c.decodeIfPresent(Double.self, forKey: .drop) ?? d.drop,
            flattening: try c.decodeIfPresent(Double.self, forKey: .flattening) ?? d.flattening,
            patience: try c.decodeIfPresent(Int.self, forKey: .patience) ?? d.patience)
    }

    /// `freeze_at` always; the detector's parameters only where they differ from the defaults.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch freezeAt {
        case .step(let n): try c.encode(n, forKey: .freezeAt)
        case .auto, .never: try c.encode(freezeAt.description, forKey: .freezeAt)
        }
        let d = RegimeDetectorOptions()
        if detector.window != d.window { try c.encode(detector.window, forKey: .window) }
        if detector.drop != d.drop { try c.encode(detector.drop, forKey: .drop) }
        if detector.flattening != d.flattening { try c.encode(detector.flattening, forKey: .flattening) }
        if detector.patience != d.patience { try c.encode(detector.patience, forKey: .patience) }
    }
}

/// `freeze` in a gated trial's result: the iteration after which the gates froze, the iteration at
/// which the online detector fired (whether or not it decided the freeze), and why.
public struct FreezeSummary: Codable, Equatable, Sendable {
    public enum Reason: String, Codable, Sendable {
        /// `freeze_at: N`: frozen after step N.
        case freezeAt = "freeze_at"
        /// `freeze_at: auto`: frozen when the detector fired.
        case detected
        /// `freeze_at: auto`: the detector did not fire, so the gates never froze.
        case notDetected = "not_detected"
        /// `freeze_at: N`: the trial stopped (diverged, failed, timed out) before step N.
        case notReached = "not_reached"
        /// `freeze_at: never` (a `gates` mapping that only sets detector parameters).
        case never
    }

    public var at: Int?
    public var detectedAt: Int?
    public var reason: Reason

    enum CodingKeys: String, CodingKey { case at, detectedAt = "detected_at", reason }

    public init(gates: GateSpec, frozenAt: Int?, detectedAt: Int?) {
        at = frozenAt
        self.detectedAt = detectedAt
        switch gates.freezeAt {
        case .step: reason = frozenAt == nil ? .notReached : .freezeAt
        case .auto: reason = frozenAt == nil ? .notDetected : .detected
        case .never: reason = .never
        }
    }

    /// Nulls are written explicitly.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeOrNull(at, forKey: .at)
        try c.encodeOrNull(detectedAt, forKey: .detectedAt)
        try c.encode(reason, forKey: .reason)
    }
}
