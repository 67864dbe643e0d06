import Foundation
import XCTest
@testable import RegimeCore

/// The trainer end to end: determinism, learning (the synthetic teacher task and the real
/// Fashion-MNIST), the curve's columns and recording grid, divergence, the learning-rate
/// schedules, trial ids and architecture strings.
///
/// Everything here runs on the small `synthetic` data set in well under a second, except
/// `testFashionMNISTReachesEightyPercent`, the one heavy test (release builds only).
final class TrainerTests: XCTestCase {
    static let cache = DatasetCache()

    static func syntheticSpec(arch: String = "mlp:32-64-64-10", optimizer: OptimizerSpec = OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9),
                              schedule: LearningRateSchedule = .init(), batchSize: Int = 32, iterations: Int = 60,
                              seed: UInt64 = 1, recordEvery: Int = 1, evalEvery: Int = 20) -> TrialSpec {
        TrialSpec(arch: arch, dataset: DatasetSpec(name: "synthetic", probeSubset: 128, valSubset: 512),
                  optimizer: optimizer, schedule: schedule, batchSize: batchSize, iterations: iterations, seed: seed,
                  recordEvery: recordEvery, evalEvery: evalEvery)
    }

    static func train(_ spec: TrialSpec, cache: DatasetCache = TrainerTests.cache) throws -> Trainer {
        let trainer = try Trainer(spec: spec, data: cache.prepare(spec.dataset))
        try trainer.run()
        return trainer
    }

    // MARK: (a) Determinism

    func testSameSpecGivesIdenticalCurvesAndResults() throws {
        let spec = Self.syntheticSpec(arch: "mlp:32-16-16-10", iterations: 40)
        // Separate caches: the data preparation is deterministic too.
        let a = try Self.train(spec, cache: DatasetCache())
        let b = try Self.train(spec, cache: DatasetCache())
        XCTAssertEqual(a.curve.count, 40)
        XCTAssertFalse(a.curve.loss.contains { !$0.isFinite })
        XCTAssertEqual(a.curve, b.curve)
        XCTAssertEqual(a.parameters.array, b.parameters.array)
        XCTAssertEqual(a.result(wallSeconds: 0), b.result(wallSeconds: 0))
        XCTAssertEqual(a.curve.csv(), b.curve.csv())

        // Stepping by hand is the same as run().
        let c = try Trainer(spec: spec, data: Self.cache.prepare(spec.dataset))
        while !c.isFinished { try c.step() }
        XCTAssertEqual(c.curve, a.curve)

        var other = spec
        other.seed = 2
        let d = try Self.train(other)
        XCTAssertNotEqual(d.curve.loss, a.curve.loss, "another seed: another init and batch order")
        XCTAssertNotEqual(d.curve.weightUpdateAbs, a.curve.weightUpdateAbs)
        XCTAssertNotEqual(d.result(wallSeconds: 0).trialID, a.result(wallSeconds: 0).trialID)
    }

    // MARK: (b) The synthetic teacher task is learned

    /// Seen (the run is deterministic): validation accuracy 0.115 at init, 0.674 after 400
    /// iterations (majority class 0.221 of the 1024 held-out examples, chance 0.1); batch loss
    /// 1.61 at iteration 10, 0.44 at 400. Accuracy plateaus near 0.7 (0.69 with batch 64 and at
    /// 500 iterations): 4096 examples do not pin down the random teacher's class boundaries.
    func testSyntheticTeacherTaskIsLearned() throws {
        var spec = Self.syntheticSpec(arch: "mlp:32-128-10", optimizer: OptimizerSpec(kind: .adam, lr: 1e-2), batchSize: 32,
                                      iterations: 400, recordEvery: 10, evalEvery: 100)
        spec.dataset.valSubset = nil
        let data = try Self.cache.prepare(spec.dataset)
        var counts = [Int](repeating: 0, count: 10)
        for y in data.validation.labels { counts[Int(y)] += 1 }
        let majority = Double(counts.max()!) / Double(data.validation.count)

        let trainer = try Trainer(spec: spec, data: data)
        let before = trainer.validationAccuracy()
        try trainer.run()
        let result = trainer.result(wallSeconds: 0)
        let accuracy = try XCTUnwrap(result.finalValAccuracy)
        print("synthetic teacher: validation accuracy \(before) at init -> \(accuracy) after 400 iterations "
              + "(\(data.validation.count) examples; majority class \(majority), chance 0.1); "
              + "loss \(trainer.curve.loss.first!) -> \(trainer.curve.loss.last!)")
        XCTAssertEqual(result.status, .ok)
        XCTAssertEqual(result.iterations, 400)
        XCTAssertEqual(data.validation.count, 1024)
        XCTAssertGreaterThan(accuracy, 0.6)
        XCTAssertGreaterThan(accuracy, majority + 0.3)
        // Batch losses of the last 5 records against chance level ln(10) = 2.30 and the first 5 records.
        let lateLoss = trainer.curve.loss.suffix(5).reduce(0, +) / 5
        XCTAssertLessThan(lateLoss, 0.5 * log(10.0))
        XCTAssertLessThan(lateLoss, trainer.curve.loss.prefix(5).reduce(0, +) / 5)
        // Accuracy measured at 100, 200, 300, 400, and nowhere else.
        let measured = zip(trainer.curve.iteration, trainer.curve.valAccuracy).compactMap { $1 == nil ? nil : $0 }
        XCTAssertEqual(measured, [100, 200, 300, 400])
    }

    // MARK: (c) The real Fashion-MNIST (the one heavy test)

    func testFashionMNISTReachesEightyPercent() throws {
        #if DEBUG
        throw XCTSkip("release-only: 2000 iterations of mlp:784-256-256-10 (run `swift test -c release ...`)")
        #else
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else {
            XCTFail("/usr/share/datasets/fashion-mnist is missing: install the Debian package dataset-fashion-mnist (`make setup`)")
            return
        }
        let spec = TrialSpec(arch: "mlp:784-256-256-10", dataset: DatasetSpec(name: "fashion-mnist"),
                             optimizer: OptimizerSpec(kind: .adam, lr: 1e-3), batchSize: 128, iterations: 2000, seed: 1,
                             recordEvery: 10, evalEvery: 500)
        let start = Date()
        let data = try DatasetCache().prepare(spec.dataset)
        let loaded = Date()
        let trainer = try Trainer(spec: spec, data: data)
        try trainer.run()
        let seconds = Date().timeIntervalSince(start)
        let result = trainer.result(wallSeconds: seconds)
        let accuracies = zip(trainer.curve.iteration, trainer.curve.valAccuracy).compactMap { it, a in a.map { "\(it): \($0)" } }
        print("Fashion-MNIST mlp:784-256-256-10, adam 1e-3, batch 128, 2000 iterations: validation accuracy "
              + "\(accuracies.joined(separator: ", ")); final loss \(trainer.lastLoss); "
              + "\(String(format: "%.1f", seconds)) s (data \(String(format: "%.1f", loaded.timeIntervalSince(start))) s)")
        XCTAssertEqual(result.status, .ok)
        XCTAssertEqual(trainer.curve.count, 200)
        XCTAssertEqual(trainer.curve.iteration, Array(stride(from: 10, through: 2000, by: 10)))
        XCTAssertEqual(zip(trainer.curve.iteration, trainer.curve.valAccuracy).compactMap { $1 == nil ? nil : $0 },
                       [500, 1000, 1500, 2000])
        XCTAssertEqual(data.validation.count, 10000)
        let accuracy = try XCTUnwrap(result.finalValAccuracy)
        XCTAssertGreaterThan(accuracy, 0.80)
        XCTAssertTrue(trainer.curve.weightUpdateRel.allSatisfy { $0.isFinite && $0 > 0 })
        XCTAssertTrue(trainer.curve.patternChangeInit.allSatisfy { $0 >= 0 && $0 <= 1 })
        #endif
    }

    // MARK: (d) Curve columns and the recording grid

    func testCurveColumnsAndCSV() throws {
        let spec = Self.syntheticSpec(arch: "mlp:32-16-8-10", iterations: 50, recordEvery: 7, evalEvery: 14)
        let trainer = try Self.train(spec)
        let curve = trainer.curve
        XCTAssertEqual(curve.iteration, [7, 14, 21, 28, 35, 42, 49, 50], "every 7th iteration and the last")
        XCTAssertEqual(curve.layerNames, ["fc1", "fc2", "fc3"])
        XCTAssertEqual(curve.patternLayerNames, ["fc1", "fc2"])
        XCTAssertEqual(curve.csvHeader, [
            "iteration", "loss", "lr", "weight_update_abs", "weight_update_rel", "pattern_change", "pattern_change_init",
            "val_accuracy", "weight_update_abs.fc1", "weight_update_abs.fc2", "weight_update_abs.fc3",
            "weight_update_rel.fc1", "weight_update_rel.fc2", "weight_update_rel.fc3",
            "pattern_change.fc1", "pattern_change.fc2", "pattern_change_init.fc1", "pattern_change_init.fc2",
            "margin_0.01", "margin_0.03", "margin_0.1", "margin_0.01.fc1", "margin_0.01.fc2", "margin_0.03.fc1",
            "margin_0.03.fc2", "margin_0.1.fc1", "margin_0.1.fc2", "flip_sensitivity", "flip_sensitivity.fc1",
            "flip_sensitivity.fc2", "null_pattern_change", "excess_flips", "null_pattern_change.fc1", "null_pattern_change.fc2",
            "excess_flips.fc1", "excess_flips.fc2", "pattern_change_lag10", "weight_update_abs_lag10", "weight_update_rel_lag10",
            "pattern_change_lag100", "weight_update_abs_lag100", "weight_update_rel_lag100",
            "pattern_change_lag10.fc1", "pattern_change_lag10.fc2", "weight_update_abs_lag10.fc1", "weight_update_abs_lag10.fc2",
            "weight_update_abs_lag10.fc3", "weight_update_rel_lag10.fc1", "weight_update_rel_lag10.fc2", "weight_update_rel_lag10.fc3",
            "pattern_change_lag100.fc1", "pattern_change_lag100.fc2", "weight_update_abs_lag100.fc1", "weight_update_abs_lag100.fc2",
            "weight_update_abs_lag100.fc3", "weight_update_rel_lag100.fc1", "weight_update_rel_lag100.fc2", "weight_update_rel_lag100.fc3",
        ])
        XCTAssertEqual(try Curve(csv: curve.csv(), file: "test"), curve, "the CSV reads back exactly")
        let n = curve.count
        for column in [curve.loss, curve.lr, curve.weightUpdateAbs, curve.weightUpdateRel, curve.patternChange, curve.patternChangeInit]
            + curve.layerWeightUpdateAbs + curve.layerWeightUpdateRel + curve.layerPatternChange + curve.layerPatternChangeInit {
            XCTAssertEqual(column.count, n)
        }
        XCTAssertEqual(curve.valAccuracy.count, n)
        XCTAssertEqual(zip(curve.iteration, curve.valAccuracy).compactMap { $1 == nil ? nil : $0 }, [14, 28, 42, 50])

        let lines = curve.csv().split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, n + 2, "header, one row per recorded iteration, and the final newline")
        XCTAssertEqual(lines.last, "")
        XCTAssertEqual(lines[0], curve.csvHeader.joined(separator: ",")[...])
        for (row, line) in lines.dropFirst().dropLast().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            XCTAssertEqual(fields.count, curve.csvHeader.count, "row \(row)")
            XCTAssertEqual(Int(fields[0]), curve.iteration[row])
            XCTAssertEqual(Double(fields[1]), curve.loss[row], "the loss is written exactly")
            XCTAssertEqual(fields[7].isEmpty, curve.valAccuracy[row] == nil, "row \(row): val_accuracy")
        }

        // The global weight update pools the layers: abs^2 is the sum of the layers' abs^2.
        for i in 0..<n {
            let pooled = curve.layerWeightUpdateAbs.reduce(0) { $0 + $1[i] * $1[i] }.squareRoot()
            XCTAssertEqual(curve.weightUpdateAbs[i], pooled, accuracy: 1e-12 * pooled)
        }
        // The first recorded pattern change compares with the initial patterns.
        XCTAssertEqual(curve.patternChange[0], curve.patternChangeInit[0])
        XCTAssertEqual(curve.layerPatternChange.map { $0[0] }, curve.layerPatternChangeInit.map { $0[0] })
    }

    /// Recording is an observation: a run recorded every 7 iterations trains exactly like one
    /// recorded every iteration, and its rows are that run's rows at the same iterations (the
    /// weight update of a recorded row spans the same steps as its pattern change: the matched
    /// lag, tested in `ProbeInstrumentTests`).
    func testSparseRecordingMatchesDenseRecording() throws {
        let sparse = try Self.train(Self.syntheticSpec(arch: "mlp:32-16-8-10", iterations: 50, recordEvery: 7, evalEvery: 14))
        let dense = try Self.train(Self.syntheticSpec(arch: "mlp:32-16-8-10", iterations: 50, recordEvery: 1, evalEvery: 14))
        XCTAssertEqual(sparse.parameters.array, dense.parameters.array)
        let rows = sparse.curve.iteration.map { $0 - 1 }
        XCTAssertEqual(rows.map { dense.curve.iteration[$0] }, sparse.curve.iteration)
        XCTAssertEqual(rows.map { dense.curve.loss[$0] }, sparse.curve.loss)
        XCTAssertEqual(rows.map { dense.curve.lr[$0] }, sparse.curve.lr)
        XCTAssertEqual(rows.map { dense.curve.patternChangeInit[$0] }, sparse.curve.patternChangeInit)
        XCTAssertEqual(rows.map { dense.curve.valAccuracy[$0] }, sparse.curve.valAccuracy)
        // Pattern change against the previous *recorded* iteration: over 7 steps it is at least the
        // change of the last single step and at most the sum of the 7 single-step changes
        // (triangle inequality of the Hamming distance).
        for (k, row) in rows.enumerated().dropFirst() {
            let previousRow = rows[k - 1]
            let summed = dense.curve.patternChange[(previousRow + 1)...row].reduce(0, +)
            XCTAssertLessThanOrEqual(sparse.curve.patternChange[k], summed + 1e-12, "row \(k)")
            XCTAssertGreaterThanOrEqual(sparse.curve.patternChange[k] + 1e-12,
                                        abs(sparse.curve.patternChangeInit[k] - sparse.curve.patternChangeInit[k - 1]), "row \(k)")
        }
    }

    func testWeightUpdatesShrinkUnderACosineSchedule() throws {
        let spec = Self.syntheticSpec(arch: "mlp:32-32-10", optimizer: OptimizerSpec(kind: .sgd, lr: 0.1),
                                      schedule: LearningRateSchedule(kind: .cosine, lrMin: 0), iterations: 200, evalEvery: 200)
        let trainer = try Self.train(spec)
        let curve = trainer.curve
        XCTAssertEqual(curve.lr, (1...200).map { spec.schedule.rate(step: $0, totalSteps: 200, baseRate: 0.1) })
        XCTAssertEqual(curve.lr.first, 0.1)
        XCTAssertEqual(curve.lr.last!, 0.05 * (1 + cos(Double.pi * 199 / 200)), accuracy: 1e-18)
        let early = curve.weightUpdateAbs.prefix(20).reduce(0, +) / 20
        let late = curve.weightUpdateAbs.suffix(20).reduce(0, +) / 20
        print("cosine schedule: mean weight update \(early) over the first 20 steps, \(late) over the last 20")
        XCTAssertLessThan(late, 0.02 * early)
        XCTAssertLessThan(curve.weightUpdateAbs.last!, 1e-3 * curve.weightUpdateAbs.max()!)
        // Plain SGD: the update is lr * |g|, so update / lr is the gradient norm (no schedule in it).
        XCTAssertTrue(zip(curve.weightUpdateAbs, curve.lr).allSatisfy { $0 / $1 < 100 })
    }

    // MARK: (e) Divergence

    /// SGD at lr = 1e4 on a one-hidden-layer net: the logits overflow float32 within a few steps
    /// and the loss becomes NaN (seen: iteration 7 for seeds 1-3). With two hidden layers, some
    /// seeds instead kill every hidden unit after a loss of ~1e31 and go on with a finite loss,
    /// which the trainer (by design: non-finite only) does not call divergence.
    func testHugeLearningRateDiverges() throws {
        for seed: UInt64 in 1...3 {
            let spec = Self.syntheticSpec(arch: "mlp:32-64-10", optimizer: OptimizerSpec(kind: .sgd, lr: 1e4), iterations: 100, seed: seed)
            let trainer = try Trainer(spec: spec, data: Self.cache.prepare(spec.dataset))
            var failure: Error?
            do { try trainer.run() } catch { failure = error }
            let error = try XCTUnwrap(failure, "seed \(seed): lr = 1e4 must diverge")
            guard case let Trainer.Failure.diverged(iteration, reason)? = error as? Trainer.Failure else {
                return XCTFail("expected Trainer.Failure.diverged, got \(error)")
            }
            print("seed \(seed): lr 1e4 diverged at iteration \(iteration): \(reason)")
            XCTAssertLessThan(iteration, 20)
            let result = trainer.result(wallSeconds: 1.5, failure: error)
            XCTAssertEqual(result.status, .diverged)
            XCTAssertEqual(result.error, "diverged at iteration \(iteration): \(reason)")
            // A non-finite loss stops before the step; a non-finite update is detected after it.
            XCTAssertEqual(result.iterations, reason.hasPrefix("training loss") ? iteration - 1 : iteration)
            XCTAssertEqual(result.iterations, trainer.iteration)
            XCTAssertEqual(trainer.curve.count, result.iterations, "every completed iteration was recorded")
            XCTAssertEqual(result.trialID, spec.trialID)
            if let loss = result.finalLoss { XCTAssertTrue(loss.isFinite) }
            // The result is serialisable (a non-finite loss becomes null).
            XCTAssertNoThrow(try JSONEncoder().encode(result))
        }
    }

    // MARK: (f) Learning-rate schedules

    func testScheduleValuesAgainstHandComputedNumbers() throws {
        func rates(_ s: LearningRateSchedule, _ T: Int, _ lr0: Double) -> [Double] {
            (1...T).map { s.rate(step: $0, totalSteps: T, baseRate: lr0) }
        }
        XCTAssertEqual(rates(LearningRateSchedule(), 4, 0.3), [0.3, 0.3, 0.3, 0.3])

        // step: lr0 * gamma^floor((t-1)/3).
        let step = LearningRateSchedule(kind: .step, stepSize: 3, gamma: 0.1)
        EngineTestKit.assertClose(rates(step, 8, 0.5), [0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005], relative: 1e-15, "step")

        // cosine over T = 4, lr0 = 1, lr_min = 0.2: 0.2 + 0.4*(1 + cos(pi*(t-1)/4)),
        // cos(pi/4) = 0.70710678118654752, cos(pi/2) = 0, cos(3pi/4) = -0.70710678118654752.
        let cosine = LearningRateSchedule(kind: .cosine, lrMin: 0.2)
        EngineTestKit.assertClose(rates(cosine, 4, 1), [1.0, 0.88284271247461901, 0.6, 0.31715728752538099], relative: 1e-15, "cosine")

        // Warm-up of 2 steps, then cosine over the remaining T' = 4 steps as steps 1..4.
        let warm = LearningRateSchedule(kind: .cosine, warmup: 2, lrMin: 0.2)
        EngineTestKit.assertClose(rates(warm, 6, 1), [0.5, 1.0, 1.0, 0.88284271247461901, 0.6, 0.31715728752538099],
                                  relative: 1e-15, "warm-up + cosine")
        // Warm-up of 4 steps, then step (size 2, gamma 0.5) over steps 1..4 of the rest.
        let warmStep = LearningRateSchedule(kind: .step, warmup: 4, stepSize: 2, gamma: 0.5)
        EngineTestKit.assertClose(rates(warmStep, 8, 0.2), [0.05, 0.1, 0.15, 0.2, 0.2, 0.2, 0.1, 0.1],
                                  relative: 1e-15, "warm-up + step")
        // Warm-up then constant.
        EngineTestKit.assertClose(rates(LearningRateSchedule(warmup: 3), 5, 0.3), [0.1, 0.2, 0.3, 0.3, 0.3],
                                  relative: 1e-15, "warm-up + constant")
        // The golden case sgd_momentum_cosine_warmup: lr 0.5, warm-up 2, cosine to 0.01 over T = 5.
        EngineTestKit.assertClose(rates(LearningRateSchedule(kind: .cosine, warmup: 2, lrMin: 0.01), 5, 0.5),
                                  [0.25, 0.5, 0.5, 0.3775, 0.1325], relative: 1e-12, "golden cosine warm-up")

        // Validation names the key.
        XCTAssertNoThrow(try warm.validate(totalSteps: 6))
        XCTAssertThrowsError(try LearningRateSchedule(warmup: 6).validate(totalSteps: 6)) { XCTAssertTrue("\($0)".hasPrefix("schedule.warmup")) }
        XCTAssertThrowsError(try LearningRateSchedule(warmup: -1).validate(totalSteps: 6)) { XCTAssertTrue("\($0)".hasPrefix("schedule.warmup")) }
        XCTAssertThrowsError(try LearningRateSchedule(kind: .step).validate(totalSteps: 6)) { XCTAssertTrue("\($0)".hasPrefix("schedule.step_size")) }
        XCTAssertThrowsError(try LearningRateSchedule(kind: .step, stepSize: 2).validate(totalSteps: 6)) { XCTAssertTrue("\($0)".hasPrefix("schedule.gamma")) }
        XCTAssertThrowsError(try LearningRateSchedule(kind: .cosine, lrMin: -1).validate(totalSteps: 6)) { XCTAssertTrue("\($0)".hasPrefix("schedule.lr_min")) }
        // JSON keys.
        let decoded = try JSONDecoder().decode(LearningRateSchedule.self, from: Data(#"{"name":"step","warmup":1,"step_size":5,"gamma":0.5}"#.utf8))
        XCTAssertEqual(decoded, LearningRateSchedule(kind: .step, warmup: 1, stepSize: 5, gamma: 0.5))
    }

    // MARK: (g) Trial ids and architecture strings

    func testTrialIDIsStable() {
        let spec = Self.syntheticSpec()
        XCTAssertEqual(spec.trialID, Self.syntheticSpec().trialID)
        XCTAssertEqual(spec.trialID.count, 16)
        XCTAssertTrue(spec.trialID.allSatisfy { $0.isHexDigit })
        XCTAssertEqual(spec.trialID, String(format: "%016llx", fnv1a64(Array(spec.canonicalJSON.utf8))))

        var moved = spec
        moved.dataset.path = "/somewhere/else"
        XCTAssertEqual(moved.trialID, spec.trialID, "dataset.path is not part of the identity")
        XCTAssertFalse(moved.canonicalJSON.contains("somewhere"))

        var reseeded = spec
        reseeded.seed = 2
        XCTAssertNotEqual(reseeded.trialID, spec.trialID)
        var otherLR = spec
        otherLR.optimizer.lr = 0.06
        XCTAssertNotEqual(otherLR.trialID, spec.trialID)
        var otherSchedule = spec
        otherSchedule.schedule = LearningRateSchedule(kind: .cosine)
        XCTAssertNotEqual(otherSchedule.trialID, spec.trialID)
        var otherProbe = spec
        otherProbe.dataset.probeSeed = 8
        XCTAssertNotEqual(otherProbe.trialID, spec.trialID)
        // Keys an optimizer does not use are not part of its identity (SGD has no betas).
        var unusedKey = spec
        unusedKey.optimizer.beta2 = 0.5
        XCTAssertEqual(unusedKey.trialID, spec.trialID)

        // FNV-1a 64 reference values: offset basis for "", and "a" -> af63dc4c8601ec8c.
        XCTAssertEqual(fnv1a64([]), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(fnv1a64(Array("a".utf8)), 0xaf63_dc4c_8601_ec8c)
    }

    func testArchitectureParsing() throws {
        XCTAssertEqual(try Architecture(parsing: "mlp:784-256-256-10"), .mlp(widths: [784, 256, 256, 10]))
        XCTAssertEqual(try Architecture(parsing: "mlp:784-256-256-10").description, "mlp:784-256-256-10")
        XCTAssertEqual(try Architecture(parsing: "mlp:9-2").classCount, 2)
        XCTAssertEqual(try Architecture(parsing: "mlp:9-2").inputSize, 9)
        let bad: [(String, String)] = [
            ("mlp:784", "at least two widths"),
            ("mlp:784-x-10", "at least two widths"),
            ("mlp:784--10", "at least two widths"),
            ("mlp:784-256-", "at least two widths"),
            ("mlp:784-0-10", "positive integer"),
            ("mlp:784--5-10", "at least two widths"),
            ("mlp:784-256-1", "at least 2"),
            ("conv:1", "unknown architecture 'conv'"),
            ("mlp784-10", "expected '"),
            ("", "expected '"),
        ]
        for (text, fragment) in bad {
            XCTAssertThrowsError(try Architecture(parsing: text), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains("'\(text)'"), "\(text): message does not quote the string: \(message)")
                XCTAssertTrue(message.contains(fragment), "\(text): '\(message)' lacks '\(fragment)'")
            }
        }
        // In a spec, the error names the key; an architecture that does not fit the data is rejected.
        XCTAssertThrowsError(try Self.syntheticSpec(arch: "mlp:32").validate()) { XCTAssertTrue("\($0)".hasPrefix("arch: ")) }
        XCTAssertThrowsError(try Self.syntheticSpec(arch: "mlp:784-10").validate()) { XCTAssertTrue("\($0)".contains("32 features"), "\($0)") }
        XCTAssertThrowsError(try Self.syntheticSpec(arch: "mlp:32-5").validate()) { XCTAssertTrue("\($0)".contains("10 classes"), "\($0)") }
        XCTAssertNoThrow(try Self.syntheticSpec().validate())
    }
}
