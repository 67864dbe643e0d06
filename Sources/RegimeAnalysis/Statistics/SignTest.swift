import Foundation

/// The exact one-sided sign test of "patterns settle before weights": `H0: P(t_a < t_w) = 1/2`
/// against `P(t_a < t_w) > 1/2`, over the trials whose order is known.
///
/// Under `H0` (and independent trials) the number of trials with `t_a < t_w` among the `m`
/// decided ones (`t_a < t_w` or `t_w < t_a`) is `Bin(m, 1/2)`, so the exact p-value of observing
/// `s` of them is
///
///     p = P(Bin(m, 1/2) >= s) = 2^-m sum_{j=s}^{m} C(m, j)
///
/// (``Binomial``; no normal approximation: with a handful of seeds it would be far off).
/// Examples: 10 of 10 gives `2^-10`, 8 of 10 gives `56/1024`. Ties carry no sign and are left
/// out of `m` (the usual convention), but counted. `m == 0` gives `p = 1`: no evidence.
/// Which trials count as decided, and how censored times are ordered, is the caller's rule
/// (``RatioObservation/order``: a time after the run is later than a measured one).
///
/// JSON form: `{"ta_first": int, "tw_first": int, "ties": int, "p_value": x}`.
public struct SignTest: Codable, Hashable, Sendable {
    /// Trials with `t_a < t_w`.
    public var taFirst: Int
    /// Trials with `t_w < t_a`.
    public var twFirst: Int
    /// Trials with `t_a == t_w`, excluded from the test.
    public var ties: Int
    /// `P(Bin(taFirst + twFirst, 1/2) >= taFirst)`.
    public var pValue: Double

    /// - Precondition: all counts `>= 0`.
    public init(taFirst: Int, twFirst: Int, ties: Int) {
        precondition(taFirst >= 0 && twFirst >= 0 && ties >= 0, "SignTest: negative count")
        self.taFirst = taFirst
        self.twFirst = twFirst
        self.ties = ties
        pValue = Binomial.survival(atLeast: taFirst, trials: taFirst + twFirst, probability: 0.5)
    }

    /// Counts `orders` (`nil`: not decided, left out).
    public init(_ orders: [RatioObservation.Order?]) {
        self.init(taFirst: orders.filter { $0 == .activationFirst }.count,
                  twFirst: orders.filter { $0 == .weightFirst }.count,
                  ties: orders.filter { $0 == .tie }.count)
    }

    /// The number of decided trials `m`.
    public var decided: Int { taFirst + twFirst }

    enum CodingKeys: String, CodingKey {
        case taFirst = "ta_first"
        case twFirst = "tw_first"
        case ties
        case pValue = "p_value"
    }
}
