import Foundation

/// The one JSON configuration regime reads and writes: keys sorted so files are byte-stable,
/// slashes unescaped, and non-finite numbers (a weight update relative to a zero norm, say) written
/// as the strings "nan", "inf", "-inf" rather than failing the whole encode.
public enum JSONCoding {
    static let nonFinite = (positive: "inf", negative: "-inf", nan: "nan")

    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFinite.positive, negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: nonFinite.positive, negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        return decoder
    }
}

extension KeyedEncodingContainer {
    /// Writes `value`, or an explicit JSON null when it is nil: in regime's files a censored or
    /// missing value is data, so the key is always present.
    mutating func encodeOrNull<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
}
