import ArgumentParser
import RegimeReport
import Foundation
import SweepStore

/// `regime report DIR`: writes `DIR/report.html`, a self-contained page of the sweep's curves,
/// markers, ratio distributions and tables (see ``ReportBuilder``).
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write DIR/report.html: the sweep's curves, decay markers and summary tables in one self-contained page.",
        discussion: """
        The page has inline SVG plots and CSS only (no script, no network): open it in any browser.
        The same directory always gives the same file.
        """)

    @Argument(help: "The sweep's output directory.") var directory: String
    @Option(name: .shortAndLong, help: "Write the page here instead of DIR/report.html.") var output: String?

    func run() throws {
        let url = URL(fileURLWithPath: directory)
        let target = output.map { URL(fileURLWithPath: $0) } ?? url.appendingPathComponent("report.html")
        do {
            let html = try Self.build(directory: url)
            try AtomicFile.write(Data(html.utf8), to: target)
        } catch {
            FileHandle.standardError.write(Data("regime report: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("report: \(target.path)")
    }

    /// The report page of a sweep directory.
    static func build(directory: URL) throws -> String {
        try ReportPage.html(directory: directory)
    }
}
