/// Bit-packed activation patterns of a fixed probe set, one bit per (example, ReLU unit).
///
/// Layer l keeps, for each of the P examples, ceil(units / 64) words; bit u of example e is
/// `Z_l[e, u] > 0`. Padding bits past the last unit stay zero, so comparing two sets is an XOR and a
/// population count per word: the number of (example, unit) pairs whose state differs, exactly.
public final class PatternSet: @unchecked Sendable {
    public let exampleCount: Int
    public let unitsPerExample: [Int]
    let wordsPerExample: [Int]
    public private(set) var words: [[UInt64]]
    public init(exampleCount: Int, unitsPerExample: [Int]) {
        self.exampleCount = exampleCount
        self.unitsPerExample = unitsPerExample
        wordsPerExample = unitsPerExample.map { ($0 + 63) / 64 }
        words = wordsPerExample.map { [UInt64](repeating: 0, count: $0 * exampleCount) }
    }

    public convenience init(copying other: PatternSet) {
        self.init(exampleCount: other.exampleCount, unitsPerExample: other.unitsPerExample)
        words = other.words
    }

    /// Restores from words saved by `words` (checkpoints); false when the shapes do not match.
    public func restore(words saved: [[UInt64]]) -> Bool {
        guard saved.count == words.count, zip(saved, words).allSatisfy({ $0.count == $1.count }) else { return false }
        words = saved
        return true
    }

    /// Makes `self` hold `other`'s bits, copied into its own words. Not `words = other.words`: the
    /// two sets would then share their arrays, and the next `store` into either copied them whole
    /// into a new allocation, every recorded iteration (the trainer's previous patterns take the
    /// current ones): the fresh pages' faults and the copy were 1.3% of a tracked CNN step.
    public func copy(from other: PatternSet) {
        precondition(other.unitsPerExample == unitsPerExample && other.exampleCount == exampleCount)
        for layer in words.indices {
            other.words[layer].withUnsafeBufferPointer { source in
                words[layer].withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: source.baseAddress!, count: source.count) }
            }
        }
    }

    /// Packs the signs of `rows` rows of pre-activations (row-major, `width` per row) as examples
    /// `firstExample...`. A whole word (64 units) is four SIMD16 compares z > 0, each one's mask
    /// taken as 16 bits (`laneBits`; NaN compares false, as in the scalar rule). The tail of a row
    /// that does not fill a word goes bit by bit.
    public func store(layer: Int, firstExample: Int, rows: Int, preActivations z: UnsafePointer<Float>, width: Int) {
        precondition(width == unitsPerExample[layer] && firstExample + rows <= exampleCount)
        let perExample = wordsPerExample[layer], wholeWords = width / 64
        words[layer].withUnsafeMutableBufferPointer { storage in
            for row in 0..<rows {
                let source = z + row * width
                let destination = storage.baseAddress! + (firstExample + row) * perExample
                for w in 0..<wholeWords {
                    let p = source + w * 64
                    let q0 = UInt64(laneBits(load16(p) .> 0)), q1 = UInt64(laneBits(load16(p + 16) .> 0))
                    let q2 = UInt64(laneBits(load16(p + 32) .> 0)), q3 = UInt64(laneBits(load16(p + 48) .> 0))
                    destination[w] = q0 | q1 << 16 | q2 << 32 | q3 << 48
                }
                if wholeWords < perExample {
                    let start = wholeWords * 64
                    var word: UInt64 = 0
                    for u in start..<width where source[u] > 0 { word |= 1 << UInt64(u - start) }
                    destination[wholeWords] = word
                }
            }
        }
    }

    /// A `PreActivationTap` that stores the patterns of a probe chunk whose first example is
    /// `chunkFirst` as the pass produces them (examples `chunkFirst + first ...`), while they are
    /// still in cache, then hands the same values to `next`. A pass with it fills every example of
    /// the chunk (the tap sees every example of every pattern layer once), with the bits that
    /// `Network.recordPatterns` would store afterwards: z > 0 exactly where relu(z) > 0.
    public func tap(chunkFirst: Int, then next: PreActivationTap?) -> PreActivationTap {
        { [unowned self] layer, first, rows, z in
            store(layer: layer, firstExample: chunkFirst + first, rows: rows, preActivations: z, width: unitsPerExample[layer])
            next?(layer, first, rows, z)
        }
    }

    /// Copies every layer's bits of example `e` from `other` (same shapes).
    public func copyExample(_ e: Int, from other: PatternSet) {
        precondition(other.wordsPerExample == wordsPerExample && e < exampleCount && e < other.exampleCount)
        for layer in words.indices {
            let n = wordsPerExample[layer]
            for w in 0..<n { words[layer][e * n + w] = other.words[layer][e * n + w] }
        }
    }

    /// Number of (example, unit) pairs of `layer` whose state differs between `self` and `other`.
    public func differingPairs(layer: Int, from other: PatternSet) -> Int {
        precondition(other.wordsPerExample == wordsPerExample && other.exampleCount == exampleCount)
        return words[layer].withUnsafeBufferPointer { a in
            other.words[layer].withUnsafeBufferPointer { b in
                var total = 0
                for i in 0..<a.count { total &+= (a[i] ^ b[i]).nonzeroBitCount }
                return total
            }
        }
    }

    /// (example, unit) pairs per layer: the denominator of the per-layer change fraction.
    public func pairCount(layer: Int) -> Int { exampleCount * unitsPerExample[layer] }

    /// Fraction of differing pairs, per layer and over all layers (total differing / total pairs).
    public func changeFractions(from other: PatternSet) -> (global: Double, perLayer: [Double]) {
        var differing = 0, pairs = 0
        var perLayer: [Double] = []
        for layer in 0..<unitsPerExample.count {
            let d = differingPairs(layer: layer, from: other)
            differing += d
            pairs += pairCount(layer: layer)
            perLayer.append(pairCount(layer: layer) > 0 ? Double(d) / Double(pairCount(layer: layer)) : 0)
        }
        return (pairs > 0 ? Double(differing) / Double(pairs) : 0, perLayer)
    }

    /// The bit of (example, unit) of `layer`, for tests.
    public func bit(layer: Int, example: Int, unit: Int) -> Bool {
        let word = words[layer][example * wordsPerExample[layer] + unit / 64]
        return (word >> UInt64(unit % 64)) & 1 == 1
    }
}
