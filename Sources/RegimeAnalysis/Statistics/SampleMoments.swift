import Foundation

/// Mean and sample standard deviation of `n` finite values `x_k`: the one implementation behind
/// every mean and sd regime prints (summaries, group curves, the report's bands).
///
/// - `mean = (1/n) sum x_k`, summed with Neumaier compensation (``NeumaierSum``);
/// - `sd = sqrt( sum (x_k - mean)^2 / (n-1) )` (sample, Bessel-corrected), by the corrected
///   two-pass algorithm `(sum d_k^2 - (sum d_k)^2 / n) / (n-1)`, `d_k = x_k - mean`, which cancels
///   the rounding error of `mean`.
///
/// `n == 0`: both `nil`; `n == 1`: `sd` is `nil` (one value says nothing about spread). The
/// values are summed in the order given, so equal inputs give equal bits.
public struct SampleMoments: Hashable, Sendable {
    public var n: Int
    public var mean: Double?
    public var sd: Double?

    /// - Precondition: every value is finite (filter censored or unmeasured values first).
    public init(_ xs: [Double]) {
        n = xs.count
        guard n > 0 else { return }
        var total = NeumaierSum()
        for x in xs { total.add(x) }
        let m = total.value / Double(n)
        mean = m
        guard n > 1 else { return }
        var deviations = NeumaierSum()
        var squares = NeumaierSum()
        for x in xs {
            let d = x - m
            deviations.add(d)
            squares.add(d * d)
        }
        let dSum = deviations.value
        let m2 = Swift.max(0, squares.value - dSum * dSum / Double(n))
        sd = (m2 / Double(n - 1)).squareRoot()
    }

    /// The moments of the finite entries of `values` (`nil`, NaN and infinities are left out).
    public init(finite values: [Double?]) {
        self.init(values.compactMap { v in v.flatMap { $0.isFinite ? $0 : nil } })
    }
}

/// Neumaier's improved Kahan summation: `value` carries the rounding error of every addition
/// in a separate compensation term.
public struct NeumaierSum: Hashable, Sendable {
    public private(set) var sum = 0.0
    public private(set) var compensation = 0.0

    public init() {}

    public mutating func add(_ x: Double) {
        let t = sum + x
        if abs(sum) >= abs(x) {
            compensation += (sum - t) + x
        } else {
            compensation += (x - t) + sum
        }
        sum = t
    }

    public var value: Double { sum + compensation }
}
