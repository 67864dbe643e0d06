import Foundation

/// Distances of a finished trial's states to its final state, at the snapshot iterations of
/// ``SettlingSchedule`` (docs/numerics.md, "Settling to the final state"): the per-trial file
/// `settling.csv` (`curves/<trial_id>.settling.csv` in a sweep), from which the settling times
/// t_a(q), t_w(q) are read for any set of fractions q without training again.
///
/// - `pattern_distance` at s: the number of probe (example, unit) pairs whose bit at θ_s differs
///   from the bit at θ_T (a Hamming distance, a whole number; per pattern layer
///   `pattern_distance.<layer>`);
/// - `weight_distance` at s: `||θ_s − θ_T||_2` over the whole parameter block (per parameter
///   group `weight_distance.<group>`), of the stored Floats, summed in Double in index order as the
///   weight update is (``WeightUpdate``).
///
/// Row 0 is the initialisation (s = 0); the last row is s = T, where both distances are 0.
public struct SettlingCurve: Codable, Equatable, Sendable {
    public var layerNames: [String]
    public var patternLayerNames: [String]
    public var iteration: [Int] = []
    public var patternDistance: [Double] = []
    public var weightDistance: [Double] = []
    public var layerPatternDistance: [[Double]]
    public var layerWeightDistance: [[Double]]

    public init(layerNames: [String], patternLayerNames: [String]) {
        self.layerNames = layerNames
        self.patternLayerNames = patternLayerNames
        layerPatternDistance = patternLayerNames.map { _ in [] }
        layerWeightDistance = layerNames.map { _ in [] }
    }

    public var count: Int { iteration.count }

    /// Appends the row of iteration `t`: differing pairs per pattern layer, `||θ_s − θ_T||` per
    /// parameter group and over the whole block.
    public mutating func append(iteration t: Int, differingPairs: [Int], weight: WeightUpdate) {
        precondition(differingPairs.count == patternLayerNames.count && weight.layerAbs.count == layerNames.count)
        iteration.append(t)
        patternDistance.append(Double(differingPairs.reduce(0, +)))
        weightDistance.append(weight.abs)
        for l in differingPairs.indices { layerPatternDistance[l].append(Double(differingPairs[l])) }
        for l in weight.layerAbs.indices { layerWeightDistance[l].append(weight.layerAbs[l]) }
    }

    // MARK: CSV

    public var csvHeader: [String] {
        ["iteration", "pattern_distance", "weight_distance"] + patternLayerNames.map { "pattern_distance.\($0)" }
            + layerNames.map { "weight_distance.\($0)" }
    }

    public var table: NumericCSV {
        NumericCSV(header: csvHeader, columns: ([iteration.map(Double.init), patternDistance, weightDistance]
                                                + layerPatternDistance + layerWeightDistance).map { $0.map(Optional.some) })
    }

    /// The curve as CSV (``NumericCSV``: shortest round-trip numbers, so it reads back exactly).
    public func csv() -> String { table.text() }

    /// Reads a file written by ``csv()``; errors name `file` and the line.
    public init(csv text: String, file: String) throws {
        let table = try NumericCSV.parse(text, file: file)
        self.init(layerNames: table.names(after: "weight_distance."), patternLayerNames: table.names(after: "pattern_distance."))
        /// A distance column: finite values >= 0.
        func required(_ name: String) throws -> [Double] {
            let values = try table.requiredColumn(name, file: file)
            if let row = values.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
                throw CSVError("\(file): line \(row + 2): column '\(name)' must hold a finite distance >= 0, not \(values[row])")
            }
            return values
        }
        let iterations = try table.requiredColumn("iteration", file: file)
        iteration = try iterations.enumerated().map { row, x in
            guard let t = Int(exactly: x), t >= 0, row == 0 || x > iterations[row - 1] else {
                throw CSVError("\(file): line \(row + 2): iterations must be whole numbers >= 0 in increasing order")
            }
            return t
        }
        patternDistance = try required("pattern_distance")
        weightDistance = try required("weight_distance")
        layerPatternDistance = try patternLayerNames.map { try required("pattern_distance.\($0)") }
        layerWeightDistance = try layerNames.map { try required("weight_distance.\($0)") }
    }
}

/// The snapshot iterations of the settling curve of a trial of T iterations: a function of T
/// alone, so every rank, rank count and resume measures the same states.
///
/// Every iteration 0...T when T <= ``minimumSnapshots``; otherwise 0 and the union of a linear
/// grid and a logarithmic grid of n points each,
///   `{ floor(T·i/n + 1/2) : i = 1...n } ∪ { floor(T^(i/n) + 1/2) : i = 0...n }`,
/// with the smallest n >= ``minimumSnapshots`` / 2 whose union has at least ``minimumSnapshots``
/// iterations >= 1 (n <= 256, since the linear grid alone has n distinct points, so at most 514
/// rows). The linear half resolves late times to T/n; the logarithmic half resolves early ones to
/// a constant fraction of t (T^(1/n) − 1: 5.5% for T = 3000, n = 149), where a linear grid of
/// 256 points would put nothing before T/256. T always ends it.
public enum SettlingSchedule {
    /// At least this many snapshots after the initialisation.
    public static let minimumSnapshots = 256

    public static func iterations(total T: Int) -> [Int] {
        precondition(T >= 1)
        if T <= minimumSnapshots { return Array(0...T) }
        var n = minimumSnapshots / 2
        while true {
            var set = Set<Int>([0])
            for i in 1...n { set.insert((2 * T * i + n) / (2 * n)) }  // floor(T i / n + 1/2), exactly
            for i in 0...n { set.insert(Int((pow(Double(T), Double(i) / Double(n)) + 0.5).rounded(.down))) }
            if set.count - 1 >= minimumSnapshots { return set.sorted() }
            n += 1
        }
    }
}
