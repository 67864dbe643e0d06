import Foundation
import SweepStore

/// The report of a results directory, as `regime report` writes it: the first page
/// (`report.html`) and, in the folder beside it named like it (`report/`), a page per trial
/// (`trials/<trial_id>.html`) and, for a sweep of more than ``ReportBuilder/inlineGroupLimit``
/// groups, a page per group (`groups/<group_id>.html`). Every page is self-contained; the same
/// directory always gives the same bytes.
public enum ReportPage {
    /// The first page's HTML.
    public static func html(directory: URL, pageName: String = "report.html") throws -> String {
        ReportBuilder(input: try ReportInput.load(directory), pageName: pageName).html()
    }

    /// The pages a report has besides its first page, by path relative to the folder beside it,
    /// made one group at a time.
    public static func forEachLinkedPage(directory: URL, pageName: String = "report.html",
                                         _ body: (_ path: String, _ html: String) throws -> Void) throws {
        let builder = ReportBuilder(input: try ReportInput.load(directory), pageName: pageName)
        for (g, group) in builder.groups.enumerated() { try builder.linkedPages(of: builder.withCurves(group), number: g + 1, body) }
    }

    /// Writes the report of `directory` with its first page at `page`; returns how many pages it
    /// wrote in all. The folder beside the page is replaced whole once every page is written.
    @discardableResult
    public static func write(directory: URL, page: URL) throws -> Int {
        let manager = FileManager.default
        let builder = ReportBuilder(input: try ReportInput.load(directory), pageName: page.lastPathComponent)
        let parent = page.deletingLastPathComponent()
        let folder = parent.appendingPathComponent(builder.folderName)
        let staging = parent.appendingPathComponent(".\(builder.folderName).staging-\(getpid())")
        try? manager.removeItem(at: staging)
        defer { try? manager.removeItem(at: staging) }
        var written = 1
        let first = try builder.html { path, html in
            let url = staging.appendingPathComponent(path)
            try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(Data(html.utf8), to: url, durable: false)
            written += 1
        }
        try AtomicFile.syncFileSystem(containing: parent)
        let old = parent.appendingPathComponent(".\(builder.folderName).old-\(getpid())")
        if manager.fileExists(atPath: folder.path) { try manager.moveItem(at: folder, to: old) }
        try AtomicFile.move(staging, to: folder)
        try? manager.removeItem(at: old)
        try AtomicFile.write(Data(first.utf8), to: page)
        return written
    }
}

extension ReportBuilder {
    /// A group's pages besides the first page (`view` with its curves): the group's page (large
    /// sweeps), then its trials' pages.
    func linkedPages(of view: GroupView, number: Int, _ body: (_ path: String, _ html: String) throws -> Void) rethrows {
        if !inlineGroups { try body("groups/\(view.group.id).html", groupPage(view, number: number)) }
        for trial in view.trials {
            try body("trials/\(trial.trialID).html", trialPage(trial, group: view, groupNumber: number))
        }
    }
}
