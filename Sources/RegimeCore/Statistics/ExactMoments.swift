/// Per-index count, sum and sum of squares of many curves, accumulated exactly in fixed point so
/// that any grouping of the additions (which rank ran which trial, the shape of an MPI reduction
/// tree, a resumed sweep adding old curves from disk) gives bit-identical statistics.
///
/// Each finite value x with |x| < 2^40 is truncated to a multiple of 2^-120 (an absolute error
/// below 1e-36, far under any instrument's resolution) and kept as signed 32-bit digits spread
/// over `limbs` Int64 words; x^2 likewise (computed in Double, |x^2| < 2^40 else skipped). Integer
/// addition is associative, so sums over any partition are identical, and an MPI reduction with
/// `MPI_SUM` on the `Int64` words is exact. Each word can absorb 2^31 additions before overflow.
/// Non-finite or out-of-range values are counted in `skipped` and left out.
public struct ExactMoments: Equatable, Sendable {
    public static let limbs = 5
    static let fractionBits = 120
    static let limitExponent = 40

    public let length: Int
    /// Layout per index i: [count, skipped, sum limbs (5), square limbs (5)].
    public private(set) var words: [Int64]
    static let wordsPerIndex = 2 + 2 * limbs

    public init(length: Int) {
        self.length = length
        words = [Int64](repeating: 0, count: length * Self.wordsPerIndex)
    }

    /// Rebuilds from `words` (e.g. after an MPI reduction).
    public init?(length: Int, words: [Int64]) {
        guard words.count == length * Self.wordsPerIndex else { return nil }
        self.length = length
        self.words = words
    }

    /// Adds one curve; values past `length` are ignored, NaN/Inf counted as skipped.
    public mutating func add(_ values: [Double]) {
        for (i, x) in values.prefix(length).enumerated() { add(x, at: i) }
    }

    public mutating func add(_ x: Double, at i: Int) {
        let base = i * Self.wordsPerIndex
        let square = x * x
        guard x.isFinite, Swift.abs(x) < 0x1p40, square < 0x1p40 else {
            words[base + 1] += 1
            return
        }
        words[base] += 1
        Self.accumulate(x, into: &words, at: base + 2)
        Self.accumulate(square, into: &words, at: base + 2 + Self.limbs)
    }

    /// Element-wise sum (what an MPI_SUM reduction of `words` computes).
    public mutating func merge(_ other: ExactMoments) {
        precondition(other.length == length)
        for i in words.indices { words[i] &+= other.words[i] }
    }

    public func count(at i: Int) -> Int { Int(words[i * Self.wordsPerIndex]) }
    public func skipped(at i: Int) -> Int { Int(words[i * Self.wordsPerIndex + 1]) }
    public func sum(at i: Int) -> Double { Self.value(words, at: i * Self.wordsPerIndex + 2) }
    public func sumOfSquares(at i: Int) -> Double { Self.value(words, at: i * Self.wordsPerIndex + 2 + Self.limbs) }

    /// Mean at index i (nil with no values).
    public func mean(at i: Int) -> Double? {
        let n = count(at: i)
        return n > 0 ? sum(at: i) / Double(n) : nil
    }

    /// Sample standard deviation at index i (nil with fewer than two values), from the exact sums:
    /// (Q - S^2/n) / (n - 1), clamped at 0 against rounding in the final Double arithmetic.
    public func standardDeviation(at i: Int) -> Double? {
        let n = count(at: i)
        guard n > 1 else { return nil }
        let s = sum(at: i), q = sumOfSquares(at: i)
        let variance = (q - s * s / Double(n)) / Double(n - 1)
        return max(variance, 0).squareRoot()
    }

    /// Adds x (finite, |x| < 2^40) as truncated fixed point: digit j holds bits [32j, 32j+32) of
    /// |x| * 2^120, with the sign of x.
    static func accumulate(_ x: Double, into words: inout [Int64], at offset: Int) {
        guard x != 0 else { return }
        let negative = x < 0
        let magnitude = Swift.abs(x)
        // magnitude = significand * 2^exponent with an integer significand < 2^53.
        let exponent = Int(magnitude.exponent) - 52
        var significand = magnitude.significandBitPattern | (magnitude.isNormal ? (1 << 52) : 0)
        var shift = exponent + fractionBits  // position of the significand's lowest bit
        if shift < 0 {
            guard shift > -64 else { return }
            significand >>= UInt64(-shift)
            shift = 0
        }
        // Spread significand << shift over 32-bit digits.
        var digit = shift / 32
        var bits = UInt64(shift % 32)
        var remaining = significand
        while remaining != 0 {
            let chunk: UInt64
            if bits > 0 {
                chunk = (remaining << bits) & 0xFFFF_FFFF
                remaining >>= (32 - bits)
                bits = 0
            } else {
                chunk = remaining & 0xFFFF_FFFF
                remaining >>= 32
            }
            if digit < limbs {
                words[offset + digit] += negative ? -Int64(chunk) : Int64(chunk)
            }
            digit += 1
        }
    }

    /// The exact integer sum of the digits, then one conversion to Double (digits normalised
    /// from the lowest up, so the conversion does not depend on how the sum was grouped).
    static func value(_ words: [Int64], at offset: Int) -> Double {
        var digits = Array(words[offset..<(offset + limbs)])
        var carry: Int64 = 0
        for j in 0..<limbs {
            let total = digits[j] + carry
            carry = total >> 32  // arithmetic shift: floor division
            digits[j] = total - (carry << 32)
        }
        // digits[0..<limbs] in [0, 2^32), value = carry * 2^(32*limbs) + sum digits[j] 2^(32j), all times 2^-120.
        var result = Double(carry) * pow2(32 * limbs - fractionBits)
        for j in stride(from: limbs - 1, through: 0, by: -1) {
            result += Double(digits[j]) * pow2(32 * j - fractionBits)
        }
        return result
    }

    static func pow2(_ e: Int) -> Double { Double(sign: .plus, exponent: e, significand: 1) }
}
