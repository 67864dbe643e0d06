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

    /// Where a pass finds the old parameters.
    enum Old {
        /// In a block of their own.
        case block(UnsafePointer<Float>)
        /// The values `new` holds before `produce` rewrites them: each range is copied aside just
        /// before `produce` is called on it (a copy from cache into a block-sized scratch, as the
        /// optimizer reads the same elements next). This is θ_p when the previous recorded
        /// iteration is the previous step, so a loop recording every step keeps no block θ_p up to
        /// date: its reads and writes were 2 of the 8 megabyte-sized streams of a tracked MLP
        /// step's optimizer pass.
        case overwritten
    }

    /// The sums of each piece `ends` delimits. `produce` is called on consecutive ranges that
    /// cover `0 ..< ends.last`, each just before its elements are read (the optimizer writes the new
    /// parameters there: `Optimizer.update(...measuringAgainst:ends:)`); the sums do not depend on
    /// how the ranges fall. With `replacing` (a block of the parameter count), each of its elements
    /// is overwritten with `new`'s once read: the trainer's θ_p becomes θ_t in the pass that reads
    /// both, not in a copy after it (a copy read θ_t back from L3: 1% of a tracked MLP step).
    init(new: UnsafePointer<Float>, old: Old, ends: [Int], replacing: UnsafeMutablePointer<Float>? = nil,
         producing produce: (Range<Int>) -> Void = { _ in }) {
        if case .block(let o) = old {
            precondition(replacing.map { UnsafePointer($0) == o } ?? true, "ParameterSquares: replacing another block than old")
        }
        self.ends = ends
        pieces = withUnsafeTemporaryAllocation(of: Float.self, capacity: Self.produceBlock) { scratch in
            var start = 0
            return ends.map { end in
                defer { start = end }
                return Self.squares(new: new, old: old, range: start..<end, replacing: replacing, scratch: scratch.baseAddress!,
                                    producing: produce)
            }
        }
    }

    /// The sums between two blocks.
    init(new: UnsafePointer<Float>, old: UnsafePointer<Float>, ends: [Int], replacing: UnsafeMutablePointer<Float>? = nil) {
        self.init(new: new, old: .block(old), ends: ends, replacing: replacing)
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
    /// in `init`, on blocks of `produceBlock` elements and the tail; `scratch` (`produceBlock`
    /// floats) holds a block's old values when `old` is `.overwritten`.
    static func squares(new: UnsafePointer<Float>, old: Old, range: Range<Int>, replacing: UnsafeMutablePointer<Float>?,
                        scratch: UnsafeMutablePointer<Float>,
                        producing produce: (Range<Int>) -> Void) -> (delta: Double, norm: Double) {
        // The old values of `count` elements from `first`, taken before `produce` rewrites them.
        @inline(__always) func oldValues(_ first: Int, _ count: Int) -> UnsafePointer<Float> {
            switch old {
            case .block(let o): return o + first
            case .overwritten:
                scratch.update(from: new + first, count: count)
                return UnsafePointer(scratch)
            }
        }
        // Lanes 0-3 and 4-7 as two SIMD4 halves (`loadWidened4`).
        var dLow = SIMD4<Double>(), dHigh = SIMD4<Double>(), nLow = SIMD4<Double>(), nHigh = SIMD4<Double>()
        var i = range.lowerBound
        let lanesEnd = range.lowerBound + range.count / 8 * 8
        while i < lanesEnd {
            let count = min(produceBlock, lanesEnd - i)
            let o = oldValues(i, count)
            produce(i..<i + count)
            let n = new + i, r = replacing.map { $0 + i }
            var j = 0
            while j < count {
                let aLow = loadWidened4(n + j), bLow = loadWidened4(o + j)
                let aHigh = loadWidened4(n + j + 4), bHigh = loadWidened4(o + j + 4)
                let low = aLow - bLow, high = aHigh - bHigh
                dLow.addProduct(low, low)
                nLow.addProduct(bLow, bLow)
                dHigh.addProduct(high, high)
                nHigh.addProduct(bHigh, bHigh)
                if let r {
                    UnsafeMutableRawPointer(r + j).storeBytes(
                        of: UnsafeRawPointer(n + j).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                }
                j += 8
            }
            i += count
        }
        let d8 = SIMD8(lowHalf: dLow, highHalf: dHigh), n8 = SIMD8(lowHalf: nLow, highHalf: nHigh)
        var delta = 0.0, norm = 0.0
        for j in 0..<8 { delta += d8[j]; norm += n8[j] }
        if i < range.upperBound {
            let o = oldValues(i, range.upperBound - i)
            produce(i..<range.upperBound)
            for j in 0..<(range.upperBound - i) {
                let d = Double(new[i + j]) - Double(o[j])
                delta += d * d
                norm += Double(o[j]) * Double(o[j])
                replacing?[i + j] = new[i + j]
            }
        }
        return (delta, norm)
    }
}
