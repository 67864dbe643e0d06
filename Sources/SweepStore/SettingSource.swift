import Yams

/// Where a trial's setting was written in its sweep file: the top-level key (`arch`) or a grid
/// value (`grid.arch[2]`), and its line.
public struct SettingSource: Sendable, Equatable {
    public var label: String
    public var line: Int?
    public var isGrid: Bool

    init(key: String, node: Node) {
        label = key; line = node.mark?.line; isGrid = false
    }

    init(grid key: String, index: Int, node: Node) {
        label = "grid.\(key)[\(index)]"; line = node.mark?.line; isGrid = true
    }
}
