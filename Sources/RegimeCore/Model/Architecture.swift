/// A network architecture named by the string that sweep files and `--arch` use.
///
/// - `mlp:D0-D1-...-DL`: a fully-connected ReLU network with input width D0, hidden widths
///   D1..D(L-1) (ReLU after each) and DL classes, e.g. `mlp:784-256-256-10`.
public enum Architecture: Hashable, Sendable, CustomStringConvertible {
    case mlp(widths: [Int])

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw ParseError(description: "arch '\(text)': expected 'mlp:D0-D1-...-DL'")
        }
        switch parts[0] {
        case "mlp":
            let fields = parts[1].split(separator: "-", omittingEmptySubsequences: false)
            let widths = fields.compactMap { Int($0) }
            guard widths.count == fields.count, widths.count >= 2 else {
                throw ParseError(description: "arch '\(text)': expected 'mlp:' and at least two widths separated by '-', e.g. mlp:784-256-10")
            }
            guard widths.allSatisfy({ $0 > 0 }) else {
                throw ParseError(description: "arch '\(text)': every width must be a positive integer")
            }
            guard widths.last! >= 2 else {
                throw ParseError(description: "arch '\(text)': the last width is the number of classes and must be at least 2")
            }
            self = .mlp(widths: widths)
        default:
            throw ParseError(description: "arch '\(text)': unknown architecture '\(parts[0])' (known: mlp)")
        }
    }

    public var description: String {
        switch self {
        case .mlp(let widths): return "mlp:" + widths.map(String.init).joined(separator: "-")
        }
    }

    /// Number of input features per example.
    public var inputSize: Int {
        switch self {
        case .mlp(let widths): return widths[0]
        }
    }

    public var classCount: Int {
        switch self {
        case .mlp(let widths): return widths.last!
        }
    }

    /// Builds the network (its parameter layout and workspaces).
    public func makeNetwork() -> Network {
        switch self {
        case .mlp(let widths): return MLP(widths: widths)
        }
    }
}
