import ArgumentParser
import RegimeReport
import Foundation
import SweepStore

/// `regime report DIR`: writes `DIR/report.html`, self-contained pages of the sweep's verdicts,
/// curves, markers, ratio distributions and tables, and a page per trial (see ``ReportPage``).
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write DIR/report.html (verdicts, overview, groups) and DIR/report/ (a page per trial; per group for large sweeps).",
        discussion: """
        The pages have inline SVG plots and CSS only (no script, no network): open report.html in any
        browser. With --output FILE.html the other pages go to the folder FILE/ beside it. The same
        directory always gives the same files.
        """)

    @Argument(help: "The sweep's output directory.") var directory: String
    @Option(name: .shortAndLong, help: "Write the page here instead of DIR/report.html.") var output: String?

    func run() throws {
        let url = URL(fileURLWithPath: directory)
        let target = output.map { URL(fileURLWithPath: $0) } ?? url.appendingPathComponent("report.html")
        do {
            try ReportPage.write(directory: url, page: target)
        } catch {
            FileHandle.standardError.write(Data("regime report: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("report: \(target.path)")
    }

    /// The first page of a sweep directory's report.
    static func build(directory: URL) throws -> String {
        try ReportPage.html(directory: directory)
    }
}
