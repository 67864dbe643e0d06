/// The two sums of squares the weight instruments need between two parameter states, taken in one
/// pass over the two blocks: `delta = Σ (new - old)²` and `norm = Σ old²` over each *piece* of the
/// block, the block cut at every parameter group's end and at every extra cut (flip sensitivity's
/// feeding prefixes, `Network.feedingParameterCounts`).
///
/// Why pieces: the weight update sums per group, flip sensitivity per feeding prefix; both are
/// sums of whole pieces, so one pass serves both. For the MLP and the CNN every feeding prefix
/// ends at a group's end, so the pieces are the groups; the ViT's prefixes end inside a block's
/// group (before its W2 and b2), which splits that group into two pieces.
///
/// Order (fixed, so the sums are identical on every machine): within a piece, 8 lanes in Double,
/// lane j summing the piece's indices start + j mod 8 in index order with fused multiply-adds,
/// then the 8 lanes in order, then the tail (count mod 8) in index order. Differences are of the
/// stored Float values, so each term is exact in Double; the sums carry only Double rounding.
struct ParameterSquares {
    /// The pieces' ends, increasing; piece i spans `ends[i - 1] ..< ends[i]` (`0 ..< ends[0]` first).
    let ends: [Int]
    /// `(delta, norm)` of each piece.
    let pieces: [(delta: Double, norm: Double)]

    /// The piece ends for `groups` (contiguous, from 0, in order) cut also at `cuts` (each within
    /// the block; with no groups, the cuts alone: the pieces then end at the last cut).
    static func ends(groups: [ParameterGroup], cuts: [Int]) -> [Int] {
        precondition(groups.first.map { $0.range.lowerBound == 0 } ?? true, "ParameterSquares: groups start at 0")
        precondition(zip(groups, groups.dropFirst()).allSatisfy { $0.range.upperBound == $1.range.lowerBound },
                     "ParameterSquares: groups are contiguous")
        let end = groups.last?.range.upperBound ?? Int.max
        precondition(cuts.allSatisfy { $0 >= 0 && $0 <= end }, "ParameterSquares: a cut outside the block")
        return Array(Set(groups.map(\.range.upperBound) + cuts).subtracting([0])).sorted()
    }

    /// The sums of each piece `ends` delimits. `produce` is called on consecutive ranges that
    /// cover `0 ..< ends.last`, each just before its elements are read (the optimizer writes the new
    /// parameters there: `Optimizer.update(...measuringAgainst:ends:)`); the sums do not depend on
    /// how the ranges fall. With `replacing` (the block `old` points to), each element of `old` is
    /// overwritten with `new`'s once read: the trainer's θ_p becomes θ_t in the pass that reads
    /// both, not in a copy after it (a copy read θ_t back from L3: 1% of a tracked MLP step).
    init(new: UnsafePointer<Float>, old: UnsafePointer<Float>, ends: [Int], replacing: UnsafeMutablePointer<Float>? = nil,
         producing produce: (Range<Int>) -> Void = { _ in }) {
        precondition(replacing.map { UnsafePointer($0) == old } ?? true, "ParameterSquares: replacing another block than old")
        self.ends = ends
        var start = 0
        pieces = ends.map { end in
            defer { start = end }
            return Self.squares(new: new, old: old, range: start..<end, replacing: replacing, producing: produce)
        }
    }

    /// Elements `squares` asks `produce` for at a time (a multiple of 8: 32 KiB of the two blocks,
    /// within L1 when they are read).
    static let produceBlock = 4096

    /// The sums over `range`, whose bounds are piece ends (or 0): its pieces' sums added in order,
    /// from 0 (a range of one piece gives that piece's sums exactly).
    func sums(_ range: Range<Int>) -> (delta: Double, norm: Double) {
        var delta = 0.0, norm = 0.0, start = 0
        for (end, piece) in zip(ends, pieces) {
            defer { start = end }
            guard start >= range.lowerBound, end <= range.upperBound else { continue }
            delta += piece.delta
            norm += piece.norm
        }
        return (delta, norm)
    }

    /// `(Σ (new - old)², Σ old²)` over `range`, in the order of the type's comment; `produce` as
    /// in `init`, on blocks of `produceBlock` elements and the tail.
    static func squares(new: UnsafePointer<Float>, old: UnsafePointer<Float>, range: Range<Int>,
                        replacing: UnsafeMutablePointer<Float>? = nil,
                        producing produce: (Range<Int>) -> Void = { _ in }) -> (delta: Double, norm: Double) {
        // Lanes 0-3 and 4-7 as two SIMD4 halves (`loadWidened4`).
        var dLow = SIMD4<Double>(), dHigh = SIMD4<Double>(), nLow = SIMD4<Double>(), nHigh = SIMD4<Double>()
        var i = range.lowerBound
        let lanesEnd = range.lowerBound + range.count / 8 * 8
        while i < lanesEnd {
            let blockEnd = min(i + produceBlock, lanesEnd)
            produce(i..<blockEnd)
            while i < blockEnd {
                let aLow = loadWidened4(new + i), bLow = loadWidened4(old + i)
                let aHigh = loadWidened4(new + i + 4), bHigh = loadWidened4(old + i + 4)
                let low = aLow - bLow, high = aHigh - bHigh
                dLow.addProduct(low, low)
                nLow.addProduct(bLow, bLow)
                dHigh.addProduct(high, high)
                nHigh.addProduct(bHigh, bHigh)
                if let replacing {
                    UnsafeMutableRawPointer(replacing + i).storeBytes(
                        of: UnsafeRawPointer(new + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                }
                i += 8
            }
        }
        if lanesEnd < range.upperBound { produce(lanesEnd..<range.upperBound) }
        let d8 = SIMD8(lowHalf: dLow, highHalf: dHigh), n8 = SIMD8(lowHalf: nLow, highHalf: nHigh)
        var delta = 0.0, norm = 0.0
        for j in 0..<8 { delta += d8[j]; norm += n8[j] }
        while i < range.upperBound {
            let d = Double(new[i]) - Double(old[i])
            delta += d * d
            norm += Double(old[i]) * Double(old[i])
            replacing?[i] = new[i]
            i += 1
        }
        return (delta, norm)
    }
}
