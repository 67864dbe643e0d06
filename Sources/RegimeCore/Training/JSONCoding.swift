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
    public mutating func encodeOrNull<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
}

/// The JSON forms regime writes: sorted keys so files are byte-stable, slashes unescaped.
public enum JSONFormat {
    public static func pretty<T: Encodable>(_ value: T) throws -> Data {
        var data = try JSONCoding.encoder(pretty: true).encode(value)
        data.append(0x0A)
        return data
    }

    /// One line, for JSON Lines journals.
    public static func line<T: Encodable>(_ value: T) throws -> Data {
        try JSONCoding.encoder().encode(value)
    }
}
