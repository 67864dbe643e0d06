/// A network architecture named by the string that sweep files and `--arch` use.
///
/// - `mlp:D0-D1-...-DL`: a fully-connected ReLU network with input width D0, hidden widths
///   D1..D(L-1) (ReLU after each) and DL classes, e.g. `mlp:784-256-256-10`.
/// - `cnn:CxHxW-<layer>-...-<layer>-K`: a convolutional ReLU network on C x H x W images with K
///   classes, e.g. `cnn:1x28x28-c16k3-p-c32k3-p-fc128-10`. Layers (docs/architectures.md):
///   `c<N>k<S>[s<T>][v]` convolution with N output channels, S x S kernel, stride T (default 1),
///   "same" padding floor(S/2) (S odd) or, with `v`, "valid" padding 0, followed by ReLU; `p` 2x2
///   max-pool with stride 2; `fc<N>` fully-connected layer of N units followed by ReLU. Convolutions
///   and pools come before the fully-connected layers; the last field is the linear classifier.
/// - `vit:CxHxW-p<P>-d<D>-h<H>-l<L>[-cls]-K`: a ViT-style classifier on P x P patches, width D, H
///   attention heads, L pre-LayerNorm blocks with ReLU feed-forward D -> 4D -> D, mean-pooled tokens
///   (or a class token with `-cls`) and K classes, e.g. `vit:1x28x28-p7-d64-h4-l2-10`.
public enum Architecture: Hashable, Sendable, CustomStringConvertible {
    case mlp(widths: [Int])
    case cnn(CNNSpec)
    case vit(ViTSpec)

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw ParseError(description: "arch '\(text)': expected '<kind>:<fields>' with kind mlp, cnn or vit, e.g. 'mlp:784-256-10'")
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
        case "cnn":
            self = .cnn(try CNNSpec(parsing: parts[1], arch: text))
        case "vit":
            self = .vit(try ViTSpec(parsing: parts[1], arch: text))
        default:
            throw ParseError(description: "arch '\(text)': unknown architecture '\(parts[0])' (known: mlp, cnn, vit)")
        }
        // Every size the engine computes from the shapes must fit a 64-bit integer.
        do { _ = try ArchitectureSizes(self) } catch { throw ParseError(description: "arch '\(text)': \(error)") }
    }

    public var description: String {
        switch self {
        case .mlp(let widths): return "mlp:" + widths.map(String.init).joined(separator: "-")
        case .cnn(let spec): return spec.description
        case .vit(let spec): return spec.description
        }
    }

    /// Number of input features per example.
    public var inputSize: Int {
        switch self {
        case .mlp(let widths): return widths[0]
        case .cnn(let spec): return spec.input.count
        case .vit(let spec): return spec.input.count
        }
    }

    public var classCount: Int {
        switch self {
        case .mlp(let widths): return widths.last!
        case .cnn(let spec): return spec.classes
        case .vit(let spec): return spec.classes
        }
    }

    /// Builds the network (its parameter layout and workspaces).
    public func makeNetwork() -> Network {
        switch self {
        case .mlp(let widths): return MLP(widths: widths)
        case .cnn(let spec): return CNN(spec: spec)
        case .vit(let spec): return VisionTransformer(spec: spec)
        }
    }
}

/// The shape of one image example, stored channel-major (C, H, W) in a data set row.
public struct ImageShape: Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
    public var count: Int { channels * height * width }
    public var description: String { "\(channels)x\(height)x\(width)" }
    /// `count`, or nil when the product does not fit a 64-bit integer.
    var checkedCount: Int? { try? checkedProduct(channels, height, width) }

    /// Parses `CxHxW` (three positive integers).
    static func parse(_ field: Substring, arch: String) throws -> ImageShape {
        let numbers = field.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard numbers.count == 3, let c = numbers[0], let h = numbers[1], let w = numbers[2], c > 0, h > 0, w > 0 else {
            throw Architecture.ParseError(description: "arch '\(arch)': expected the input shape 'CxHxW' (three positive integers, e.g. 1x28x28) as the first field, got '\(field)'")
        }
        let shape = ImageShape(channels: c, height: h, width: w)
        guard shape.checkedCount != nil else {
            throw Architecture.ParseError(description: "arch '\(arch)': the input shape \(field) has more values than a 64-bit integer counts")
        }
        return shape
    }
}

/// Parses a field `<prefix><integer>` (e.g. `d64`), or nil when it does not have that form.
private func prefixed(_ field: Substring, _ prefix: String) -> Int? {
    guard field.hasPrefix(prefix) else { return nil }
    return Int(field.dropFirst(prefix.count))
}

/// A convolutional network `cnn:CxHxW-<layer>-...-K` (see `Architecture` and docs/architectures.md).
public struct CNNSpec: Hashable, Sendable, CustomStringConvertible {
    public enum Layer: Hashable, Sendable {
        /// `c<channels>k<kernel>[s<stride>][v]`: convolution + ReLU; `same` pads floor(kernel/2).
        case conv(channels: Int, kernel: Int, stride: Int, same: Bool)
        /// `p`: 2x2 max-pool, stride 2 (an odd last row or column is dropped).
        case maxPool
        /// `fc<units>`: fully-connected + ReLU.
        case dense(units: Int)

        var text: String {
            switch self {
            case .conv(let c, let k, let s, let same):
                return "c\(c)k\(k)" + (s == 1 ? "" : "s\(s)") + (same ? "" : "v")
            case .maxPool: return "p"
            case .dense(let units): return "fc\(units)"
            }
        }
    }

    public var input: ImageShape
    public var layers: [Layer]
    public var classes: Int

    public init(input: ImageShape, layers: [Layer], classes: Int) {
        self.input = input; self.layers = layers; self.classes = classes
    }

    public var description: String {
        (["cnn:" + input.description] + layers.map(\.text) + [String(classes)]).joined(separator: "-")
    }

    /// The feature-map shape after each layer (for `dense`: channels = units, height = width = 1).
    public var shapes: [ImageShape] {
        var shape = input
        // Parsing applied `outputShape` to every layer already, so it cannot fail here.
        return layers.map { shape = try! Self.outputShape(of: $0, after: shape); return shape }
    }

    /// The shape a layer makes of its input, by the rules of docs/architectures.md: a convolution
    /// gives `floor((I + 2*pad - S) / T) + 1` per dimension and needs `I + 2*pad >= S` ("same"
    /// padding `floor(S/2)` needs an odd S); a pool gives `floor(I / 2)` and needs `I >= 2`; a
    /// fully-connected layer gives `units x 1 x 1`. Every output dimension must be at least 1 and
    /// every size must fit a 64-bit integer. The error says which rule the layer breaks.
    static func outputShape(of layer: Layer, after shape: ImageShape) throws -> ImageShape {
        let output: ImageShape
        switch layer {
        case .conv(let c, let k, let s, let same):
            if same && k % 2 == 0 {
                throw ShapeRuleError("'same' padding needs an odd kernel size (3, 5, ...); add 'v' for valid padding")
            }
            let pad = same ? k / 2 : 0
            // I + 2*pad >= S <=> I - S >= -2*pad: no sum that could overflow.
            guard shape.height - k >= -2 * pad, shape.width - k >= -2 * pad else {
                throw ShapeRuleError("kernel \(k)x\(k) is larger than the \(shape.height)x\(shape.width) feature map" + (same ? " (padded by \(pad))" : ""))
            }
            output = ImageShape(channels: c, height: (shape.height - k + 2 * pad) / s + 1, width: (shape.width - k + 2 * pad) / s + 1)
        case .maxPool:
            guard shape.height >= 2, shape.width >= 2 else {
                throw ShapeRuleError("a 2x2 max-pool needs a feature map of at least 2x2, got \(shape.height)x\(shape.width)")
            }
            output = ImageShape(channels: shape.channels, height: shape.height / 2, width: shape.width / 2)
        case .dense(let units):
            output = ImageShape(channels: units, height: 1, width: 1)
        }
        guard output.height >= 1, output.width >= 1, output.channels >= 1 else {
            throw ShapeRuleError("leaves an empty \(output.height)x\(output.width)x\(output.channels) feature map")
        }
        guard output.checkedCount != nil else {
            throw ShapeRuleError("its \(output.channels)x\(output.height)x\(output.width) output has more values than a 64-bit integer counts")
        }
        return output
    }

    init(parsing body: String, arch: String) throws {
        func fail(_ why: String) -> Architecture.ParseError { Architecture.ParseError(description: "arch '\(arch)': \(why)") }
        let fields = body.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 2 else {
            throw fail("expected 'cnn:CxHxW-<layers>-K', e.g. cnn:1x28x28-c16k3-p-c32k3-p-fc128-10")
        }
        input = try ImageShape.parse(fields[0], arch: arch)
        guard let k = Int(fields.last!), k >= 2 else {
            throw fail("the last field is the number of classes and must be an integer >= 2, got '\(fields.last!)'")
        }
        classes = k
        layers = []
        var shape = input
        var flattened = false
        for field in fields.dropFirst().dropLast() {
            let layer: Layer
            if field == "p" {
                guard !flattened else { throw fail("layer 'p': a max-pool cannot follow a fully-connected layer") }
                layer = .maxPool
            } else if let units = prefixed(field, "fc") {
                guard units > 0 else { throw fail("layer '\(field)': expected 'fc<units>' with a positive number of units") }
                layer = .dense(units: units)
                flattened = true
            } else if field.hasPrefix("c") {
                guard !flattened else { throw fail("layer '\(field)': a convolution cannot follow a fully-connected layer") }
                layer = try Self.parseConv(field, fail: fail)
            } else {
                throw fail("unknown layer '\(field)': expected 'c<channels>k<kernel>[s<stride>][v]', 'p' or 'fc<units>'")
            }
            do { shape = try Self.outputShape(of: layer, after: shape) } catch { throw fail("layer '\(field)': \(error)") }
            layers.append(layer)
        }
    }

    /// `c<N>k<K>[s<S>][v]`.
    private static func parseConv(_ field: Substring, fail: (String) -> Architecture.ParseError) throws -> Layer {
        let expected = "expected 'c<channels>k<kernel>[s<stride>][v]', e.g. c16k3, c32k5s2 or c8k3v"
        var rest = field.dropFirst()  // "c"
        var same = true
        if rest.hasSuffix("v") { same = false; rest = rest.dropLast() }
        let kParts = rest.split(separator: "k", omittingEmptySubsequences: false)
        guard kParts.count == 2, let channels = Int(kParts[0]), channels > 0 else { throw fail("layer '\(field)': \(expected)") }
        let sParts = kParts[1].split(separator: "s", omittingEmptySubsequences: false)
        guard sParts.count <= 2, let kernel = Int(sParts[0]), kernel > 0 else { throw fail("layer '\(field)': \(expected)") }
        var stride = 1
        if sParts.count == 2 {
            guard let s = Int(sParts[1]), s > 0 else { throw fail("layer '\(field)': \(expected)") }
            stride = s
        }
        return .conv(channels: channels, kernel: kernel, stride: stride, same: same)
    }
}

/// A ViT-style classifier `vit:CxHxW-p<P>-d<D>-h<H>-l<L>[-cls]-K` (see docs/architectures.md).
public struct ViTSpec: Hashable, Sendable, CustomStringConvertible {
    public var input: ImageShape
    public var patch: Int
    public var dim: Int
    public var heads: Int
    public var depth: Int
    /// A learned class token read by the head, instead of mean-pooling the tokens.
    public var classToken: Bool
    public var classes: Int

    public init(input: ImageShape, patch: Int, dim: Int, heads: Int, depth: Int, classToken: Bool, classes: Int) {
        self.input = input; self.patch = patch; self.dim = dim; self.heads = heads; self.depth = depth
        self.classToken = classToken; self.classes = classes
    }

    /// Patches per example ((H/P) * (W/P)).
    public var patchCount: Int { (input.height / patch) * (input.width / patch) }
    /// Tokens per example: the patches, plus the class token if any.
    public var tokenCount: Int { patchCount + (classToken ? 1 : 0) }
    /// Hidden units of each feed-forward block: 4D.
    public var ffnWidth: Int { 4 * dim }

    public var description: String {
        "vit:\(input)-p\(patch)-d\(dim)-h\(heads)-l\(depth)" + (classToken ? "-cls" : "") + "-\(classes)"
    }

    init(parsing body: String, arch: String) throws {
        func fail(_ why: String) -> Architecture.ParseError { Architecture.ParseError(description: "arch '\(arch)': \(why)") }
        let expected = "expected 'vit:CxHxW-p<patch>-d<dim>-h<heads>-l<blocks>[-cls]-K', e.g. vit:1x28x28-p7-d64-h4-l2-10"
        var fields = body.split(separator: "-", omittingEmptySubsequences: false)
        let classToken = fields.count == 7 && fields[5] == "cls"
        if classToken { fields.remove(at: 5) }
        guard fields.count == 6 else { throw fail(expected) }
        input = try ImageShape.parse(fields[0], arch: arch)
        guard let p = prefixed(fields[1], "p"), p > 0 else { throw fail("field '\(fields[1])': \(expected)") }
        guard let d = prefixed(fields[2], "d"), d > 0 else { throw fail("field '\(fields[2])': \(expected)") }
        guard let h = prefixed(fields[3], "h"), h > 0 else { throw fail("field '\(fields[3])': \(expected)") }
        guard let l = prefixed(fields[4], "l"), l > 0 else { throw fail("field '\(fields[4])': \(expected)") }
        guard let k = Int(fields[5]), k >= 2 else {
            throw fail("the last field is the number of classes and must be an integer >= 2, got '\(fields[5])'")
        }
        guard input.height % p == 0, input.width % p == 0 else {
            throw fail("patch size \(p) must divide the image height and width (\(input.height)x\(input.width))")
        }
        guard d % h == 0 else { throw fail("the width d\(d) must be divisible by the number of heads h\(h)") }
        patch = p; dim = d; heads = h; depth = l; classes = k
        self.classToken = classToken
    }
}
