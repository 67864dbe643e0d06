import Foundation
import RegimeCore

/// A pretty-printed JSON document written with one of its top-level arrays given element by
/// element, so that the whole is never held: the bytes are those of ``JSONFormat/pretty(_:)`` of
/// the complete value. Elements go to a part file as they come; ``finish(envelope:key:into:)``
/// writes the document around them.
///
/// Foundation's pretty printer indents by two spaces per level, writes `[` + newline, the elements
/// separated by `,` + newline, and newline + indentation + `]`; an empty array is `[`, an empty
/// line (no indentation) and the indented `]`. A string never spans lines (newlines are escaped),
/// so an element printed alone, with every non-empty line indented by two levels, is exactly its
/// text inside the document.
struct PrettyJSONArray {
    private let part: FileAppender
    private(set) var count = 0

    init(url: URL) throws { part = try FileAppender(url: url) }

    mutating func append<Element: Encodable>(_ element: Element) throws {
        let text = String(decoding: try JSONCoding.encoder(pretty: true).encode(element), as: UTF8.self)
        let indented = text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")
        try part.append((count > 0 ? ",\n" : "") + indented)
        count += 1
    }

    /// Writes `envelope` (whose array under the top-level `key` must be empty) to `target` with
    /// the appended elements in that array, and removes the part file.
    func finish<Envelope: Encodable>(envelope: Envelope, key: String, into target: URL) throws {
        try part.close()
        defer { try? FileManager.default.removeItem(at: part.url) }
        let document = String(decoding: try JSONFormat.pretty(envelope), as: UTF8.self)
        let empty = "\n  \"\(key)\" : [\n\n  ]"
        guard let range = document.range(of: empty) else {
            throw FileError("\(target.path): the document has no empty top-level array '\(key)' to fill")
        }
        let output = try FileAppender(url: target)
        if count == 0 {
            try output.append(document)
        } else {
            try output.append(document[..<range.lowerBound] + "\n  \"\(key)\" : [\n")
            guard let input = FileHandle(forReadingAtPath: part.url.path) else {
                throw FileError("\(part.url.path): cannot read back")
            }
            defer { try? input.close() }
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { try output.append(chunk) }
            try output.append("\n  ]" + document[range.upperBound...])
        }
        try output.close()
    }
}
