import XCTest
@testable import RegimeCore

/// The margin meter (which keeps only the values near the limits, in bands guessed from the
/// previous pass, and runs a pass again when a guess fails) against the definition of the margins
/// (docs/numerics.md, "Stability margins"): the same counts and bits whether the guess held or not,
/// and the reruns counted.
final class MarginBandTests: XCTestCase {
    /// The margins by the definition, value by value: s_l from `MarginMeter.sumOfSquares` (the
    /// reference sum, in the order the definition fixes), and #{Double(|z|) < δ s_l} compared in
    /// Double. Also checks that the count over all values with the Float limit
    /// (`MarginMeter.countBelow`, the meter's comparison before the bands) gives the same.
    static func naiveMargins(_ z: [[Float]], examples: Int) -> Margins {
        var counts = MarginMeter.deltas.map { _ in [Int]() }
        var rms: [Double] = []
        for values in z {
            let n = values.count
            let squares = values.withUnsafeBufferPointer { MarginMeter.sumOfSquares($0.baseAddress ?? UnsafePointer(bitPattern: 64)!, count: n) }
            let s = n > 0 ? (squares / Double(n)).squareRoot() : 0
            rms.append(s)
            let stored = values.withUnsafeBufferPointer {
                MarginMeter.countBelow($0.baseAddress ?? UnsafePointer(bitPattern: 64)!, count: n,
                                       limits: MarginMeter.deltas.map { MarginMeter.floatLimit($0 * s) })
            }
            for (d, delta) in MarginMeter.deltas.enumerated() {
                let count = values.filter { Double(abs($0)) < delta * s }.count
                XCTAssertEqual(stored[d], count, "the Float limit's count over all values, δ \(delta), s \(s)")
                counts[d].append(count)
            }
        }
        let pairs = z.map(\.count), total = pairs.reduce(0, +)
        return Margins(rms: rms, counts: counts, pairs: pairs,
                       global: counts.map { total > 0 ? Double($0.reduce(0, +)) / Double(total) : 0 },
                       perLayer: counts.map { zip($0, pairs).map { $1 > 0 ? Double($0) / Double($1) : 0 } })
    }

    /// Every field the same bits (a NaN RMS included, which `==` would call different).
    static func assertSame(_ a: Margins, _ b: Margins, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.rms.map(\.bitPattern), b.rms.map(\.bitPattern), "\(label): rms \(a.rms) vs \(b.rms)", file: file, line: line)
        XCTAssertEqual(a.counts, b.counts, "\(label): counts", file: file, line: line)
        XCTAssertEqual(a.pairs, b.pairs, label, file: file, line: line)
        XCTAssertEqual(a.global.map(\.bitPattern), b.global.map(\.bitPattern), "\(label): \(a.global) vs \(b.global)", file: file, line: line)
        XCTAssertEqual(a.perLayer.map { $0.map(\.bitPattern) }, b.perLayer.map { $0.map(\.bitPattern) }, label, file: file, line: line)
    }

    /// One pass of per-layer values (example-major, `examples` rows) through the meter's tap, in
    /// chunks of `chunk` examples, layer by layer within a chunk (as the probe pass delivers them).
    static func measure(_ meter: MarginMeter, _ z: [[Float]], examples: Int, chunk: Int) -> Margins {
        meter.measure {
            for first in stride(from: 0, to: examples, by: chunk) {
                let rows = min(chunk, examples - first), tap = meter.tap(chunkFirst: first)
                for (l, values) in z.enumerated() {
                    let width = values.count / examples
                    values.withUnsafeBufferPointer { tap(l, 0, rows, $0.baseAddress! + first * width) }
                }
            }
        }
    }

    /// Sets positions 0..<15 of `values` to ±f, ±f.nextDown and Float(δ s) for each δ's limit
    /// f = floatLimit(δ s), s the RMS of the result (a fixed point: the planted values move s, so
    /// repeat until the limits stop moving); returns false if they do not settle.
    static func plantLimits(_ values: inout [Float]) -> Bool {
        var previous: [Float] = []
        for _ in 0..<50 {
            let s = (values.withUnsafeBufferPointer { MarginMeter.sumOfSquares($0.baseAddress!, count: values.count) }
                / Double(values.count)).squareRoot()
            let limits = MarginMeter.deltas.map { MarginMeter.floatLimit($0 * s) }
            if limits == previous { return true }
            for (d, f) in limits.enumerated() {
                let planted = [f, -f, f.nextDown, -f.nextDown, Float(MarginMeter.deltas[d] * s)]
                for (k, v) in planted.enumerated() { values[5 * d + k] = v }
            }
            previous = limits
        }
        return false
    }

    /// A sequence of passes over three layers (widths 16, 7, 1100 over 64 examples; the last
    /// 70,400 pairs with room for 65,536 band values), each against the definition, with the
    /// expected rerun after each: the first pass (no guess), a pass with values exactly at the
    /// limits inside the guessed bands (no rerun), s tripled (rerun), s steady again (the trend
    /// predicted a second jump: rerun), a small move (no rerun),
    /// more values in a band than its buffer holds (rerun), a NaN (s NaN: every limit 0, below
    /// every band; rerun), back to finite values (the NaN guess fails: rerun), an infinity (s = inf).
    func testBandsGiveTheDefinitionWhetherTheGuessHoldsOrNot() {
        var rng = Xoshiro256(seed: 31, stream: 1)
        let examples = 64, widths = [16, 7, 1100]
        let specials: [Float] = [0, -0.0, Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude, 1e-30, -1e-30]
        func layer(_ width: Int, scale: Float) -> [Float] {
            (0..<(examples * width)).map { _ in
                rng.nextInt(below: 10) == 0 ? specials[rng.nextInt(below: specials.count)] : scale * Float(rng.nextNormal())
            }
        }
        let meter = MarginMeter(exampleCount: examples, unitsPerExample: widths)
        var z = widths.map { layer($0, scale: 1) }
        var expectedReruns = 0
        func check(_ label: String, rerun: Bool, chunk: Int = 9) {
            let m = Self.measure(meter, z, examples: examples, chunk: chunk)
            Self.assertSame(m, Self.naiveMargins(z, examples: examples), label)
            if rerun { expectedReruns += 1 }
            XCTAssertEqual(meter.reruns, expectedReruns, "\(label): reruns")
        }
        check("first pass", rerun: true)

        z = z.map { $0.map { $0 * 1.01 } }
        for l in z.indices { XCTAssertTrue(Self.plantLimits(&z[l]), "layer \(l): the planted limits settle") }
        check("values at the limits, inside the bands", rerun: false, chunk: 64)
        // The planted values are counted as the definition says (f and f.nextDown differ by one).
        let m = Self.measure(meter, z, examples: examples, chunk: 5)
        XCTAssertEqual(meter.reruns, expectedReruns)
        XCTAssertGreaterThan(m.counts[2][1], 0)

        z = z.map { $0.map { $0 * 3 } }
        check("s tripled", rerun: true)
        z = z.map { $0.map { $0 * 0.995 } }
        check("the trend continues the jump, s does not", rerun: true)
        z = z.map { $0.map { $0 * 0.995 } }
        check("a small move", rerun: false)

        // Layer 2: 66,000 of its 70,400 values within ±0.5% of 0.1 s, the rest of magnitude c with
        // 66,000 x 0.01 + 4,400 c^2 = 70,400 (s about unchanged).
        let s = Self.naiveMargins(z, examples: examples).rms[2], n = examples * widths[2], near = 66_000
        z[2] = (0..<n).map { i in
            let sign: Float = i % 2 == 0 ? 1 : -1
            return i < near ? sign * Float(0.1 * s * (1 + 0.005 * (rng.nextUnitDouble() * 2 - 1)))
                : sign * Float(s * ((Double(n) - 0.01 * Double(near)) / Double(n - near)).squareRoot())
        }
        check("a band overflows", rerun: true)
        XCTAssertGreaterThan(Self.naiveMargins(z, examples: examples).counts[2][2], 20_000)

        z[1][3] = .nan
        check("a NaN", rerun: true)
        z[1][3] = 0.5
        check("finite again after a NaN", rerun: true)
        z[0][7] = -.infinity
        check("an infinity", rerun: true)
        XCTAssertEqual(meter.passes, 10)
    }

    /// A pass whose layer is not delivered in order cannot be measured (the meter keeps no values
    /// to sum again); every network delivers in order (ProbeInstrumentTests.testTapGivesPreActivationsOfTheSamePass).
    /// Here the stream's refusal, which `measure` turns into a stop.
    /// A guessed band holds the band [δ s / H, δ s H) the guess asks for, widened to edges that are
    /// multiples of 2^16 (so the stream takes its 16-bit body) by less than 2^16 on each side; the
    /// rerun's zero-width bands sit exactly at the limits.
    func testGuessedBandsAreWidenedToHalfEdgesAndExactBandsAreNot() {
        for s in [1e-30, 3e-7, 0.01, 0.7, 1, 2.5, 1e3, 3e30] {
            for h in [1.02, 1.1, 1.6, 2.0] {
                let (lower, widths) = MarginMeter.bandBits(rms: s, headroom: h)
                XCTAssertTrue(MarginStream(lower: lower, widths: widths).halfAligned, "s \(s), H \(h): \(lower), \(widths)")
                for (d, delta) in MarginMeter.deltas.enumerated() {
                    let asked = MarginMeter.limitBits(MarginMeter.floatLimit(delta * s / h))
                    let askedEnd = MarginMeter.limitBits(MarginMeter.floatLimit(delta * s * h))
                    XCTAssertTrue(lower[d] <= asked && asked - lower[d] < 1 << 16, "s \(s), H \(h), δ \(delta): lower \(lower[d]) for \(asked)")
                    let end = lower[d] + widths[d]
                    XCTAssertTrue(end >= askedEnd && end - askedEnd < 1 << 16, "s \(s), H \(h), δ \(delta): end \(end) for \(askedEnd)")
                }
            }
            let (lower, widths) = MarginMeter.bandBits(rms: s, headroom: nil)
            XCTAssertEqual(widths, .zero, "s \(s)")
            for (d, delta) in MarginMeter.deltas.enumerated() {
                XCTAssertEqual(lower[d], MarginMeter.limitBits(MarginMeter.floatLimit(delta * s)), "s \(s), δ \(delta)")
            }
        }
    }

    func testOutOfOrderPassIsRefused() {
        var stream = MarginStream(lower: .zero, widths: .zero)
        let z: [Float] = (0..<40).map { Float($0) }
        var band = [Float](repeating: 0, count: 1)
        z.withUnsafeBufferPointer {
            stream.add($0.baseAddress! + 20, at: 20, count: 20, total: 40, band: &band, capacity: 1)
            stream.add($0.baseAddress!, at: 0, count: 20, total: 40, band: &band, capacity: 1)
        }
        XCTAssertNil(stream.sumOfSquares(total: 40))
    }

    /// In trials (MLP and CNN, SGD and Adam, recorded every iteration and every third): every
    /// row's margins are the definition's over the probe pass of that row's parameters; the meter
    /// measured one pass per row and ran again only when its guess failed (at least the first
    /// pass, and far fewer than the rows); a trial resumed from a checkpoint (no guess) writes the
    /// same margins.
    func testTrialMarginsAreTheDefinitionsAndRerunsAreRare() throws {
        let cnn = "cnn:1x28x28-c3k5s2-p-c4k3s2-fc8-10"
        let cases: [(arch: String, optimizer: OptimizerSpec, recordEvery: Int)] = [
            ("mlp:32-16-8-10", OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9), 1),
            ("mlp:32-16-8-10", OptimizerSpec(kind: .adam, lr: 0.01), 3),
            (cnn, OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9), 1),
            (cnn, OptimizerSpec(kind: .adamw, lr: 3e-3, weightDecay: 0.01), 3),
        ]
        for c in cases {
            let label = "\(c.arch) \(c.optimizer.kind) every \(c.recordEvery)"
            let iterations = 30
            let data: PreparedData, spec: TrialSpec
            if c.arch.hasPrefix("cnn") {
                spec = TrialSpec(arch: c.arch, dataset: DatasetSpec(name: "fashion-mnist", probeSubset: 24), optimizer: c.optimizer,
                                 batchSize: 6, iterations: iterations, seed: 3, recordEvery: c.recordEvery, evalEvery: iterations)
                data = CNNViTTrainingTests.syntheticData(try Architecture(parsing: c.arch), train: 30, probe: 24, validation: 16, seed: 9)
            } else {
                spec = TrainerTests.syntheticSpec(arch: c.arch, optimizer: c.optimizer, iterations: iterations, recordEvery: c.recordEvery,
                                                     evalEvery: iterations)
                data = try TrainerTests.cache.prepare(spec.dataset)
            }
            let trainer = try Trainer(spec: spec, data: data)
            var states: [Int: [Float]] = [:]
            while !trainer.isFinished {
                try trainer.step()
                states[trainer.iteration] = trainer.parameters.array
            }
            let probe = try XCTUnwrap(trainer.curve.probe)
            let network = try Architecture(parsing: c.arch).makeNetwork()
            let units = network.patternLayers.map(\.unitsPerExample)
            let P = data.probe.count, width = data.probe.featureCount
            var input = [Float](repeating: 0, count: P * width)
            input.withUnsafeMutableBufferPointer { data.probe.copyFeatures(of: 0..<P, into: $0.baseAddress!) }
            for (row, t) in trainer.curve.iteration.enumerated() {
                var z = units.map { [Float](repeating: .nan, count: P * $0) }
                network.preActivationTap = { layer, first, rows, values in
                    for k in 0..<(rows * units[layer]) { z[layer][first * units[layer] + k] = values[k] }
                }
                let parameters = try XCTUnwrap(states[t])
                parameters.withUnsafeBufferPointer { p in
                    input.withUnsafeBufferPointer { network.forwardPatterns(parameters: p.baseAddress!, input: $0.baseAddress!, batch: P) }
                }
                network.preActivationTap = nil
                let m = Self.naiveMargins(z, examples: P)
                for d in MarginMeter.deltas.indices {
                    XCTAssertEqual(probe.margin[d][row]?.bitPattern, m.global[d].bitPattern, "\(label) t=\(t) δ \(MarginMeter.deltas[d])")
                    for l in units.indices {
                        XCTAssertEqual(probe.layerMargin[d][l][row]?.bitPattern, m.perLayer[d][l].bitPattern, "\(label) t=\(t) layer \(l)")
                    }
                }
            }
            let meter = trainer.instruments.margins
            XCTAssertEqual(meter.passes, trainer.curve.count, label)
            XCTAssertGreaterThanOrEqual(meter.reruns, 1, "\(label): the first pass has no guess")
            XCTAssertLessThan(meter.reruns, meter.passes / 3, "\(label): \(meter.reruns) reruns in \(meter.passes) passes")
            print("\(label): \(meter.reruns) reruns in \(meter.passes) passes")

            // Resumed after iteration 13 (its guess gone): the same margins.
            let first = try Trainer(spec: spec, data: data)
            for _ in 0..<13 { try first.step() }
            let resumed = try Trainer(spec: spec, data: data)
            try resumed.restore(try TrainerCheckpoint(decoding: try first.checkpoint(elapsedSeconds: 1).encoded(), source: "memory"),
                                source: "memory")
            try resumed.run()
            XCTAssertEqual(resumed.curve.probe?.margin, probe.margin, "\(label): resumed")
            XCTAssertEqual(resumed.curve.probe?.layerMargin, probe.layerMargin, "\(label): resumed")
            XCTAssertGreaterThanOrEqual(resumed.instruments.margins.reruns, 1, label)
        }
    }
}
