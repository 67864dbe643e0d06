import Foundation

/// How the probe pass of the instruments computes the activation patterns. A pure performance
/// option: every mode gives the same pattern bits, so it is not part of a trial's spec or id.
public enum PatternPass: String, Sendable, CaseIterable {
    /// Every probe example through the network at every recorded iteration.
    case full
    /// `CertifiedPatterns`: examples whose every unit's sign is certified unchanged keep their bits;
    /// the others are recomputed (MLPs; other architectures take the full pass).
    case certified
    /// The certified pass and the full pass both, compared: any differing bit is counted in
    /// `CertifiedPatterns.mismatches` (the full pass's bits are the ones kept).
    case checked
}

/// Exact activation patterns of a fixed probe set with fewer FLOPs (MLPs).
///
/// A full pass stores, for every probe example e and hidden layer l, the pre-activations
/// `Zref_l[e]` as the kernels computed them, with the parameters `Wref, bref` of that moment (the
/// *reference*). At a later measurement with parameters `W, b`, unit j of layer l of example e is
/// *certified* when |Zref_l[e, j]| > beta_l[e, j] with
///
///     beta = dW_j (|Href| + dH) + |Wref_j| dH + db_j                   (the real change)
///          + g (|W_j| (|Href| + dH) + |b_j|) + g (|Wref_j| |Href| + |bref_j|)   (both roundings)
///
/// where |.| are Euclidean norms: dW_j = |W_j - Wref_j|, db_j = |b_j - bref_j|, Href the layer's
/// input at the reference (the probe row for l = 1), dH a bound on |H - Href| for the current
/// input H (0 for l = 1; below for deeper layers) and g = gamma_{k+2} = (k+2) u / (1 - (k+2) u),
/// u = 2^-24, k the layer's fan-in. Why: the computed Z is the exact W H + b plus a rounding error
/// of at most gamma_{k+2} sum_p |W_jp H_p| + |b_j| (the GEMM rounds each of its FMAs once along a
/// chain of at most k, merges its KC blocks with one rounded add each and the bias adds one more
/// rounding: at most k + 2 roundings on any path, Higham's bound for any summation order), and
/// sum_p |W_jp H_p| <= |W_j| |H| (Cauchy-Schwarz); the exact values differ by
/// (W - Wref)_j H + Wref_j (H - Href) + (b - bref)_j, bounded the same way, with |H| <= |Href| + dH.
/// So the computed Z of now lies within beta of Zref, and when |Zref| > beta both have the same
/// sign and the same bit (Zref = 0 is never certified, which keeps the strict `z > 0` exact).
///
/// Layers above: the ReLU is 1-Lipschitz and exact in floating point, so a unit certified negative
/// contributes H - Href = 0 and one certified positive at most beta_j; dH_{l+1} = sqrt(sum of those
/// beta_j^2). An example whose every unit of every layer is certified keeps its reference bits; any
/// other example is recomputed with the ordinary forward pass, gathered in blocks of up to 256 rows
/// (the GEMM computes each element of C the same way whatever the other rows, so a row's results do
/// not depend on which examples share its block). The norms are summed in Double from the stored
/// Floats and enlarged by a relative 1e-9, far above Double's rounding of these sums.
///
/// Full passes are the caller's ordinary probe pass (`next()`, `Measurement`). The reference is
/// renewed by a full pass when the previous measurement recomputed more than
/// `refreshFraction` of the examples (its bound grows with the parameters' distance from it); after
/// n such measurements in a row the next 2^n - 1 (at most 63) measurements are full passes before
/// the bounds are tried again, so that a run where they certify little pays little for them.
/// What this pass does not give: the pre-activations of certified examples (only their bits), so an
/// instrument that needs every probe pre-activation must run the full pass.
public final class CertifiedPatterns {
    public let network: MLP
    let probeCount: Int
    /// A measurement that recomputes more than this fraction of the examples makes the next one a full
    /// pass that renews the reference (a measurement near 1/4 recomputes about as many FLOPs as the
    /// bounds save; measured refresh thresholds 0.1-0.5 differ by little).
    public static let refreshFraction = 0.25

    private let referenceParameters: FloatBuffer
    /// Zref per hidden layer, probe x width.
    private let referenceZ: [FloatBuffer]
    /// |Href| per layer and example (layer 0: the probe rows).
    private var referenceInputNorms: [[Double]]
    private let referencePatterns: PatternSet
    private var hasReference = false
    /// `next()` asked for a renewing full pass that `renewReference` has not completed yet.
    private var awaitingReference = false
    private var renewNext = true
    /// Consecutive measurements that recomputed more than `refreshFraction`, and full passes left
    /// before the bounds are tried again.
    private var failures = 0
    private var fullPassesLeft = 0
    /// Rows gathered for recomputation.
    private let gathered: FloatBuffer
    private let chunk: Int

    /// Examples certified (not recomputed) per measurement, oldest first; a full pass counts 0.
    public private(set) var certifiedFractions: [Double] = []
    /// Per measurement that tried the bounds: the fraction of first-layer (example, unit) pairs they
    /// certify (an example keeps its bits only if all of its units in every layer are certified).
    public private(set) var firstLayerUnitFractions: [Double] = []
    /// Which measurements (indices into `certifiedFractions`) tried the bounds.
    public private(set) var attempts: [Int] = []
    /// Bits that differed between the certified and the full pass (`PatternPass.checked`).
    public private(set) var mismatches = 0

    public init(network: MLP, probeCount: Int, featureCount: Int, chunk: Int) {
        self.network = network
        self.probeCount = probeCount
        self.chunk = chunk
        referenceParameters = FloatBuffer(count: network.parameterCount)
        referenceZ = (1..<(network.widths.count - 1)).map { FloatBuffer(count: probeCount * network.widths[$0]) }
        referenceInputNorms = []
        referencePatterns = PatternSet(exampleCount: probeCount, unitsPerExample: network.patternLayers.map(\.unitsPerExample))
        gathered = FloatBuffer(count: min(chunk, probeCount) * featureCount)
    }

    /// What one measurement is (`next()`).
    public enum Measurement: Equatable, Sendable {
        /// The caller's ordinary probe pass. When it `renewsReference`, its pre-activations become the
        /// new reference: the pass chains `referenceTap(chunkFirst:)` after the pattern tap, and
        /// `renewReference` follows it.
        case fullPass(renewsReference: Bool)
        /// The bounds: `measure`.
        case bounds
    }

    /// The kind of the next measurement, which this call counts (a full pass certifies 0 examples).
    /// Full passes are the caller's, so that they run as fast as in the full mode (its prepared probe
    /// input and fused pattern tap): a run where the bounds certify little then pays only for the
    /// measurements that try them.
    public func next() -> Measurement {
        guard renewNext || !hasReference || fullPassesLeft > 0 else { return .bounds }
        if renewNext { fullPassesLeft = (1 << min(failures, 6)) - 1 } else { fullPassesLeft = max(0, fullPassesLeft - 1) }
        renewNext = false
        certifiedFractions.append(0)
        // Only the full pass just before the bounds are tried again needs to become the reference.
        awaitingReference = fullPassesLeft == 0
        return .fullPass(renewsReference: awaitingReference)
    }

    /// A tap that copies a renewing full pass's pre-activations of the probe chunk starting at
    /// example `chunkFirst` into the reference (`PreActivationTap`: every example of every pattern
    /// layer once; pattern layer l is hidden layer l + 1, widths[l + 1] units).
    public func referenceTap(chunkFirst: Int) -> PreActivationTap {
        { [unowned self] layer, first, rows, z in
            let w = network.widths[layer + 1]
            precondition(chunkFirst + first + rows <= probeCount)
            (referenceZ[layer].pointer + (chunkFirst + first) * w).update(from: z, count: rows * w)
        }
    }

    /// Completes a renewing full pass (`next()` gave `.fullPass(renewsReference: true)`, the pass ran
    /// with `referenceTap`): `parameters` and the pass's `patterns` become the reference, with the
    /// norms |Href| of the probe rows (`input`, probe x features, Floats) and of each layer's ReLU.
    public func renewReference(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, patterns: PatternSet) {
        precondition(awaitingReference, "certified patterns: no renewing full pass to complete")
        awaitingReference = false
        referenceParameters.pointer.update(from: parameters, count: network.parameterCount)
        referencePatterns.copy(from: patterns)
        let width = network.widths[0]
        var norms: [[Double]] = [(0..<probeCount).map { rowNorm(input + $0 * width, width) }]
        for (l, z) in referenceZ.enumerated() {
            let w = network.widths[l + 1]
            norms.append((0..<probeCount).map { e in
                var s = 0.0
                for j in 0..<w { let v = Double(max(z.pointer[e * w + j], 0)); s += v * v }
                return s.squareRoot() * (1 + 1e-9)
            })
        }
        referenceInputNorms = norms
        hasReference = true
    }

    /// A measurement by the bounds (`next()` gave `.bounds`): the patterns of the probe set (`input`,
    /// probe x features, Floats) at `parameters`, into `patterns`: the reference's bits for the
    /// certified examples, the others recomputed in gathered blocks.
    public func measure(parameters: UnsafePointer<Float>, input: UnsafePointer<Float>, into patterns: PatternSet) {
        precondition(hasReference && !awaitingReference && !renewNext && fullPassesLeft == 0,
                     "certified patterns: measure() when next() asked for a full pass")
        attempts.append(certifiedFractions.count)
        let uncertain = uncertainExamples(parameters: parameters)
        for e in 0..<probeCount { patterns.copyExample(e, from: referencePatterns) }
        let width = network.widths[0]
        var start = 0
        while start < uncertain.count {
            let rows = min(chunk, uncertain.count - start)
            for r in 0..<rows { (gathered.pointer + r * width).update(from: input + uncertain[start + r] * width, count: width) }
            network.forwardPatterns(parameters: parameters, input: gathered.pointer, batch: rows)
            for r in 0..<rows {
                for layer in network.patternLayers.indices {
                    patterns.store(layer: layer, firstExample: uncertain[start + r], rows: 1,
                                   preActivations: network.patternSource(layer: layer) + r * network.widths[layer + 1],
                                   width: network.widths[layer + 1])
                }
            }
            start += rows
        }
        let recomputed = Double(uncertain.count) / Double(max(probeCount, 1))
        certifiedFractions.append(1 - recomputed)
        renewNext = recomputed > Self.refreshFraction
        failures = renewNext ? failures + 1 : 0
    }

    /// `PatternPass.checked`: counts in `mismatches` the (example, unit) pairs where the bounds'
    /// measurement `patterns` differs from `full`, the ordinary pass at the same parameters.
    public func countMismatches(_ patterns: PatternSet, full: PatternSet) {
        for layer in network.patternLayers.indices { mismatches += full.differingPairs(layer: layer, from: patterns) }
    }

    /// The examples (ascending) with a unit that the bounds above do not certify. beta is evaluated as
    /// P_j |H| + Q_j dH + S_j |Href| + R_j with P = dW + g|W|, Q = |Wref|, S = g|Wref|,
    /// R = db + g|b| + g|bref| (the same sum regrouped), all per unit, once per measurement.
    private func uncertainExamples(parameters: UnsafePointer<Float>) -> [Int] {
        let inflate = 1 + 1e-9
        var layers: [(p: [Double], q: [Double], s: [Double], r: [Double])] = []
        for l in 1..<(network.widths.count - 1) {
            let (k, n) = (network.widths[l - 1], network.widths[l])
            let wNew = parameters + network.weightOffsets[l - 1], bNew = parameters + network.biasOffsets[l - 1]
            let wOld = referenceParameters.pointer + network.weightOffsets[l - 1]
            let bOld = referenceParameters.pointer + network.biasOffsets[l - 1]
            let ku = Double(k + 2) * 0x1p-24
            let g = ku / (1 - ku) * inflate
            var (p, q, s, r) = ([Double](repeating: 0, count: n), [Double](repeating: 0, count: n),
                                [Double](repeating: 0, count: n), [Double](repeating: 0, count: n))
            for j in 0..<n {
                var d = 0.0, a = 0.0, o = 0.0
                for i in 0..<k {
                    let x = Double(wNew[j * k + i]), y = Double(wOld[j * k + i])
                    d += (x - y) * (x - y); a += x * x; o += y * y
                }
                let (dW, w, wRef) = (d.squareRoot() * inflate, a.squareRoot() * inflate, o.squareRoot() * inflate)
                p[j] = dW + g * w
                q[j] = wRef
                s[j] = g * wRef
                r[j] = abs(Double(bNew[j]) - Double(bOld[j])) + g * abs(Double(bNew[j])) + g * abs(Double(bOld[j]))
            }
            layers.append((p, q, s, r))
        }
        var uncertain: [Int] = []
        var firstLayerCertified = 0
        if let c = layers.first {
            for e in 0..<probeCount {
                let hRef = referenceInputNorms[0][e], z = referenceZ[0].pointer + e * c.p.count
                for j in 0..<c.p.count where abs(Double(z[j])) > (c.p[j] * hRef + c.s[j] * hRef + c.r[j]) * inflate {
                    firstLayerCertified += 1
                }
            }
            firstLayerUnitFractions.append(Double(firstLayerCertified) / Double(max(1, probeCount * c.p.count)))
        }
        for e in 0..<probeCount {
            var dH = 0.0
            var certified = true
            for (l, c) in layers.enumerated() where certified {
                let hRef = referenceInputNorms[l][e]
                let hNew = hRef + dH
                let n = c.p.count
                let z = referenceZ[l].pointer + e * n
                var nextDH = 0.0
                for j in 0..<n {
                    let beta = (c.p[j] * hNew + c.q[j] * dH + c.s[j] * hRef + c.r[j]) * inflate
                    let zr = Double(z[j])
                    if !(abs(zr) > beta) { certified = false; break }
                    if zr > 0 { nextDH += beta * beta }
                }
                dH = nextDH.squareRoot() * inflate
            }
            if !certified { uncertain.append(e) }
        }
        return uncertain
    }

    private func rowNorm(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(x[i]) * Double(x[i]) }
        return s.squareRoot() * (1 + 1e-9)
    }
}
