import XCTest
@testable import RegimeCore

/// `ParameterSquares`, the one pass over two parameter states behind the weight update and flip
/// sensitivity, against sums whose answer is known.
final class ParameterSquaresTests: XCTestCase {
    /// Small integers: every partial sum is an exact Double, so any order gives the exact answer.
    func testIntegerStatesGiveTheExactSums() {
        let old: [Float] = (0..<37).map { Float($0 % 7) - 3 }
        let new: [Float] = (0..<37).map { Float(($0 * 5) % 11) - 5 }
        let ends = [5, 16, 37]
        let squares = new.withUnsafeBufferPointer { n in old.withUnsafeBufferPointer { o in
            ParameterSquares(new: n.baseAddress!, old: o.baseAddress!, ends: ends)
        } }
        func exact(_ range: Range<Int>) -> (Double, Double) {
            (range.reduce(0) { $0 + Double((new[$1] - old[$1]) * (new[$1] - old[$1])) }, range.reduce(0) { $0 + Double(old[$1] * old[$1]) })
        }
        for (range, label) in [(0..<5, "first piece"), (5..<16, "second"), (16..<37, "last, with a tail"), (5..<37, "two pieces"),
                               (0..<37, "all")] {
            let got = squares.sums(range), want = exact(range)
            XCTAssertEqual(got.delta, want.0, label)
            XCTAssertEqual(got.norm, want.1, label)
        }
    }

    /// `replacing`: the sums of the plain pass, bit for bit, and `old` left equal to `new`
    /// (pieces with 8-element lanes and tails, a produced block boundary at 4096 inside a piece).
    func testReplacingOldGivesTheSameSumsAndLeavesTheNewBlock() {
        var rng = Xoshiro256(seed: 12, stream: .synthetic)
        let n = 4_203
        let old = (0..<n).map { _ in Float(rng.nextNormal()) }, new = old.map { $0 + Float(rng.nextNormal()) * 1e-2 }
        let ends = [3, 17, 4_100, n]
        let plain = new.withUnsafeBufferPointer { a in old.withUnsafeBufferPointer { b in
            ParameterSquares(new: a.baseAddress!, old: b.baseAddress!, ends: ends)
        } }
        let replaced = FloatBuffer(old)
        let replacing = new.withUnsafeBufferPointer { a in
            ParameterSquares(new: a.baseAddress!, old: replaced.pointer, ends: ends, replacing: replaced.pointer)
        }
        for (k, (x, y)) in zip(replacing.pieces, plain.pieces).enumerated() where x != y {
            XCTFail("piece \(k): sums \(x) replacing, \(y) plain")
        }
        if let i = (0..<n).first(where: { replaced.pointer[$0].bitPattern != new[$0].bitPattern }) {
            XCTFail("old[\(i)] is \(replaced.pointer[i]) after the pass, new[\(i)] is \(new[i])")
        }
    }

    /// Random states: each piece's sums within Double rounding of the sums in index order, and a
    /// range of several pieces the sum of its pieces (in order).
    func testRandomStatesMatchIndexOrderSums() {
        var rng = Xoshiro256(seed: 11, stream: .synthetic)
        let n = 10_007
        let old = (0..<n).map { _ in Float(rng.nextNormal()) }, new = old.map { $0 + Float(rng.nextNormal()) * 1e-3 }
        let ends = [1, 9, 4_000, 4_001, n]
        let squares = new.withUnsafeBufferPointer { a in old.withUnsafeBufferPointer { b in
            ParameterSquares(new: a.baseAddress!, old: b.baseAddress!, ends: ends)
        } }
        var start = 0
        for (end, piece) in zip(ends, squares.pieces) {
            var delta = 0.0, norm = 0.0
            for i in start..<end {
                let d = Double(new[i]) - Double(old[i])
                delta += d * d
                norm += Double(old[i]) * Double(old[i])
            }
            XCTAssertEqual(piece.delta, delta, accuracy: 1e-13 * delta, "piece \(start)..<\(end)")
            XCTAssertEqual(piece.norm, norm, accuracy: 1e-13 * norm, "piece \(start)..<\(end)")
            start = end
        }
        let joined = squares.sums(9..<4_001)
        XCTAssertEqual(joined.delta, 0 + squares.pieces[2].delta + squares.pieces[3].delta)
        XCTAssertEqual(joined.norm, 0 + squares.pieces[2].norm + squares.pieces[3].norm)
    }

    /// The pieces: every group's end and every cut, once each, without 0.
    func testPieceEndsJoinGroupEndsAndCuts() {
        let groups = [ParameterGroup(name: "a", range: 0..<10), ParameterGroup(name: "b", range: 10..<30)]
        XCTAssertEqual(ParameterSquares.ends(groups: groups, cuts: []), [10, 30])
        XCTAssertEqual(ParameterSquares.ends(groups: groups, cuts: [10, 0, 25, 25]), [10, 25, 30])
    }

    /// The trainer's one pass gives the weight update of a ViT, whose feeding prefixes cut inside a
    /// group, within Double rounding of the group's own sums, and for an MLP (pieces = groups) the
    /// same bits with and without the cuts.
    func testCutsInsideAGroupKeepTheWeightUpdate() throws {
        for arch in ["vit:1x8x8-p4-d8-h2-l2-10", "mlp:32-16-8-10"] {
            let network = try Architecture(parsing: arch).makeNetwork()
            var rng = Xoshiro256(seed: 3, stream: .synthetic)
            let old = (0..<network.parameterCount).map { _ in Float(rng.nextNormal()) }
            let new = old.map { $0 + Float(rng.nextNormal()) * 0.01 }
            let (cut, whole) = new.withUnsafeBufferPointer { a in old.withUnsafeBufferPointer { b in
                (WeightUpdate(new: a.baseAddress!, old: b.baseAddress!, groups: network.parameterGroups, cuts: network.feedingParameterCounts),
                 WeightUpdate(new: a.baseAddress!, old: b.baseAddress!, groups: network.parameterGroups))
            } }
            let splits = Set(network.feedingParameterCounts).subtracting(network.parameterGroups.map(\.range.upperBound))
            if arch.hasPrefix("vit") {
                XCTAssertFalse(splits.isEmpty, "\(arch): a feeding prefix inside a group")
                for (c, w) in zip(cut.layerAbs, whole.layerAbs) { XCTAssertEqual(c, w, accuracy: 1e-14 * w, arch) }
                XCTAssertEqual(cut.abs, whole.abs, accuracy: 1e-14 * whole.abs, arch)
            } else {
                XCTAssertTrue(splits.isEmpty, arch)
                XCTAssertEqual(cut, whole, arch)
            }
        }
    }

    /// The optimizer's fused pass (update, then the sums while the block is in cache) gives the
    /// parameters and optimizer state of the plain update and the sums of `ParameterSquares` on the
    /// updated block, bit for bit, for every optimizer, over pieces that straddle its blocks.
    func testOptimizerPassGivesTheSumsOfTheUpdatedBlock() {
        let n = 3 * ParameterSquares.produceBlock + 1_234
        let ends = [5, ParameterSquares.produceBlock + 3, 2 * ParameterSquares.produceBlock, n - 7, n]
        let specs = [OptimizerSpec(kind: .sgd, lr: 0.1), OptimizerSpec(kind: .sgd, lr: 0.1, momentum: 0.9, weightDecay: 1e-3),
                     OptimizerSpec(kind: .sgd, lr: 0.1, momentum: 0.9, nesterov: true),
                     OptimizerSpec(kind: .adam, lr: 1e-3, weightDecay: 1e-4), OptimizerSpec(kind: .adamw, lr: 1e-3, weightDecay: 1e-2)]
        for spec in specs {
            var rng = Xoshiro256(seed: 5, stream: .synthetic)
            let start = (0..<n).map { _ in Float(rng.nextNormal()) }
            let plain = Optimizer(spec: spec, parameterCount: n), fused = Optimizer(spec: spec, parameterCount: n)
            let a = FloatBuffer(start), b = FloatBuffer(start), old = FloatBuffer(start)
            for step in 1...3 {
                let g = FloatBuffer((0..<n).map { _ in Float(rng.nextNormal()) })
                plain.update(parameters: a.pointer, gradients: g.pointer, lr: 0.5)
                let squares = fused.update(parameters: b.pointer, gradients: g.pointer, lr: 0.5, measuringAgainst: .block(old.pointer),
                                           ends: ends)
                let label = "\(spec.kind) momentum \(spec.momentum) step \(step)"
                if let i = (0..<n).first(where: { a.pointer[$0] != b.pointer[$0] }) {
                    XCTFail("\(label): parameter \(i) is \(b.pointer[i]) fused, \(a.pointer[i]) plain")
                }
                XCTAssertEqual(fused.state.first, plain.state.first, label)
                XCTAssertEqual(fused.state.second, plain.state.second, label)
                let separate = ParameterSquares(new: a.pointer, old: old.pointer, ends: ends)
                XCTAssertEqual(squares.ends, separate.ends, label)
                for (k, (x, y)) in zip(squares.pieces, separate.pieces).enumerated() where x != y {
                    XCTFail("\(label): piece \(k) sums \(x) fused, \(y) separate")
                }
                if step == 2 { old.copy(from: b) }  // θ_p two steps back, as with record_every 2
            }
        }
    }

    /// With `.overwritten` (θ_p = the parameters before this update, as a loop recording every step
    /// has it) the pass gives the sums against a copy of the parameters taken before the update,
    /// bit for bit, the same parameters as the plain update, and with `replacing` that block holds
    /// the new parameters afterwards.
    func testOverwrittenOldIsTheBlockBeforeTheUpdate() {
        let n = 2 * ParameterSquares.produceBlock + 901
        let ends = [3, ParameterSquares.produceBlock - 5, ParameterSquares.produceBlock + 8, n]
        for spec in [OptimizerSpec(kind: .sgd, lr: 0.1, momentum: 0.9), OptimizerSpec(kind: .adam, lr: 1e-3, weightDecay: 1e-4)] {
            var rng = Xoshiro256(seed: 9, stream: .synthetic)
            let start = (0..<n).map { _ in Float(rng.nextNormal()) }
            let plain = Optimizer(spec: spec, parameterCount: n), fused = Optimizer(spec: spec, parameterCount: n)
            let a = FloatBuffer(start), b = FloatBuffer(start), before = FloatBuffer(count: n), replaced = FloatBuffer(count: n)
            for step in 1...3 {
                let g = FloatBuffer((0..<n).map { _ in Float(rng.nextNormal()) })
                before.copy(from: a)
                plain.update(parameters: a.pointer, gradients: g.pointer, lr: 0.5)
                let squares = fused.update(parameters: b.pointer, gradients: g.pointer, lr: 0.5, measuringAgainst: .overwritten,
                                           ends: ends, replacing: step == 2 ? replaced.pointer : nil)
                let label = "\(spec.kind) step \(step)"
                if let i = (0..<n).first(where: { a.pointer[$0] != b.pointer[$0] }) {
                    XCTFail("\(label): parameter \(i) is \(b.pointer[i]) overwritten, \(a.pointer[i]) plain")
                }
                let separate = ParameterSquares(new: a.pointer, old: before.pointer, ends: ends)
                for (k, (x, y)) in zip(squares.pieces, separate.pieces).enumerated() where x != y {
                    XCTFail("\(label): piece \(k) sums \(x) overwritten, \(y) against the copy")
                }
                if step == 2, let i = (0..<n).first(where: { replaced.pointer[$0] != b.pointer[$0] }) {
                    XCTFail("\(label): replaced element \(i) is \(replaced.pointer[i]), the parameter \(b.pointer[i])")
                }
            }
        }
    }
}
