import Foundation
import XCTest

/// Renders the report of a real (small, synthetic) sweep in a headless Chromium, as a reader's
/// browser would: the screenshot must show the plots (not a blank page), the page must log no
/// console message (it has no script, so any message is an error), and the parsed DOM must hold
/// every plot. Chromium is a test dependency (`APT_PACKAGES` in the Makefile); without it this
/// test fails and says how to install it.
final class BrowserRenderTests: XCTestCase {
    static let installHint = "install it with `sudo apt-get install -y chromium` (Debian; `make setup` installs it with the other APT_PACKAGES)"

    /// The Chromium binary on PATH (Debian: chromium, Ubuntu: chromium-browser), or nil.
    static func chromium() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin", "/snap/bin"]
        for name in ["chromium", "chromium-browser"] {
            for directory in directories {
                let candidate = directory + "/" + name
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    func headless(_ chromium: String, profile: URL, _ arguments: [String]) throws -> TestSupport.Run {
        try TestSupport.run(chromium, ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
                                       "--user-data-dir=\(profile.path)", "--enable-logging=stderr", "--v=0"] + arguments,
                            timeout: 180)
    }

    /// Console messages the page produced (Chromium logs them as `INFO:CONSOLE` lines), and
    /// uncaught exceptions.
    static func pageErrors(_ log: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.contains(":CONSOLE") || $0.contains("Uncaught") }
    }

    func testReportRendersInHeadlessChromium() throws {
        guard let chromium = Self.chromium() else {
            XCTFail("chromium not found on PATH: the browser render test needs it; \(Self.installHint)")
            return
        }
        let dir = try ReportFixture.tinySweep()
        let page = dir.appendingPathComponent("browser-report.html")
        let build = try TestSupport.run(TestSupport.regimeBinary.path, ["report", dir.path, "--output", page.path])
        XCTAssertEqual(build.status, 0, build.stderr)
        let html = try String(contentsOf: page, encoding: .utf8)
        let work = TestSupport.temporaryDirectory("browser")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        // The detector works: a page with a console error and an uncaught exception is caught.
        let probe = work.appendingPathComponent("probe.html")
        try "<!DOCTYPE html><html><body><p>probe</p><script>console.error('probe-console'); throw new Error('probe-uncaught')</script></body></html>"
            .write(to: probe, atomically: true, encoding: .utf8)
        let probeRun = try headless(chromium, profile: work.appendingPathComponent("profile-probe"),
                                    ["--screenshot=\(work.appendingPathComponent("probe.png").path)", "--window-size=400,300", probe.absoluteString])
        let probeErrors = Self.pageErrors(probeRun.stderr)
        XCTAssertTrue(probeErrors.contains { $0.contains("probe-console") } && probeErrors.contains { $0.contains("probe-uncaught") },
                      "chromium's console log is not visible to the test (so it could not see the report's errors):\n\(probeRun.stderr)")

        // Screenshot of the report.
        let png = work.appendingPathComponent("report.png")
        let shot = try headless(chromium, profile: work.appendingPathComponent("profile-shot"),
                                ["--screenshot=\(png.path)", "--window-size=1200,2000", page.absoluteString])
        XCTAssertEqual(shot.status, 0, shot.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: png.path), "no screenshot written:\n\(shot.stderr)")
        XCTAssertEqual(Self.pageErrors(shot.stderr), [], "the page logged errors")

        let stats = try pixelStatistics(png, work: work)
        XCTAssertEqual(stats["width"], 1200)
        XCTAssertEqual(stats["height"], 2000)
        // Not blank: a fair share of the page is ink, and the two curve colours are drawn.
        let pixels = Double(stats["width"]! * stats["height"]!)
        XCTAssertGreaterThan(Double(stats["non_white"]!) / pixels, 0.05, "\(stats)")
        XCTAssertGreaterThan(stats["weight_blue"]!, 300, "too few weight-update (blue) pixels: \(stats)")
        XCTAssertGreaterThan(stats["pattern_orange"]!, 300, "too few pattern-change (orange) pixels: \(stats)")
        XCTAssertGreaterThan(stats["colors"]!, 50, "\(stats)")

        // The DOM as parsed: complete, with every plot.
        let dom = try headless(chromium, profile: work.appendingPathComponent("profile-dom"), ["--dump-dom", page.absoluteString])
        XCTAssertEqual(dom.status, 0, dom.stderr)
        XCTAssertEqual(Self.pageErrors(dom.stderr), [], "the page logged errors")
        XCTAssertTrue(dom.stdout.contains("</html>"), String(dom.stdout.suffix(300)))
        let svgInSource = ReportFixture.count("<svg ", in: html)
        XCTAssertEqual(ReportFixture.count("<svg ", in: dom.stdout), svgInSource)
        XCTAssertEqual(ReportFixture.count("</svg>", in: dom.stdout), svgInSource)
        XCTAssertEqual(ReportFixture.count("<section class=\"card trial\"", in: dom.stdout), 0, "trials have pages of their own")

        // A trial's page, linked from the first, renders too: complete, with its 8 plots and its instruments' 11
        // (margins at 3 δ, flip sensitivity, excess flips, each on 2 scales, and its distance to the final state).
        let link = try XCTUnwrap(ReportScaleTests.hrefs(html).first { $0.contains("/trials/") })
        let trialPage = dir.appendingPathComponent(link)
        let trialDOM = try headless(chromium, profile: work.appendingPathComponent("profile-trial"), ["--dump-dom", trialPage.absoluteString])
        XCTAssertEqual(trialDOM.status, 0, trialDOM.stderr)
        XCTAssertEqual(Self.pageErrors(trialDOM.stderr), [], "the trial page logged errors")
        XCTAssertEqual(ReportFixture.count("<section class=\"card trial\"", in: trialDOM.stdout), 1)
        XCTAssertEqual(ReportFixture.count("</svg>", in: trialDOM.stdout), 8 + 5 * 2 + 1)
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("browser-report"))
    }

    /// Decodes the PNG (8-bit RGB or RGBA, not interlaced, as Chromium writes) with Python's zlib
    /// and counts: non-white pixels, pixels of the two curve colours, distinct colours.
    func pixelStatistics(_ png: URL, work: URL) throws -> [String: Int] {
        let script = work.appendingPathComponent("png_stats.py")
        try """
        import json, struct, sys, zlib
        data = open(sys.argv[1], 'rb').read()
        assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'not a PNG'
        pos, idat = 8, b''
        while pos < len(data):
            length, = struct.unpack('>I', data[pos:pos + 4]); kind = data[pos + 4:pos + 8]; body = data[pos + 8:pos + 8 + length]
            pos += 12 + length
            if kind == b'IHDR':
                width, height, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            elif kind == b'IDAT':
                idat += body
        assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        bpp = 3 if ctype == 2 else 4
        raw = zlib.decompress(idat); stride = width * bpp
        prev = bytearray(stride); i = 0
        non_white = blue = orange = 0; colors = set()
        for y in range(height):
            f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
                if f == 1: line[x] = (line[x] + a) & 255
                elif f == 2: line[x] = (line[x] + b) & 255
                elif f == 3: line[x] = (line[x] + ((a + b) >> 1)) & 255
                elif f == 4:
                    p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            for x in range(0, stride, bpp):
                r, g, bl = line[x], line[x + 1], line[x + 2]
                if r < 235 or g < 235 or bl < 235: non_white += 1
                if abs(r - 0) < 40 and abs(g - 114) < 40 and abs(bl - 178) < 40: blue += 1
                if abs(r - 213) < 40 and abs(g - 94) < 40 and abs(bl - 0) < 50: orange += 1
                if len(colors) < 5000: colors.add((r, g, bl))
            prev = line
        print(json.dumps({'width': width, 'height': height, 'non_white': non_white, 'weight_blue': blue,
                          'pattern_orange': orange, 'colors': len(colors)}))
        """.write(to: script, atomically: true, encoding: .utf8)
        let run = try TestSupport.run("/usr/bin/env", ["python3", script.path, png.path], timeout: 300)
        guard run.status == 0, let data = run.stdout.split(separator: "\n").last.map({ Data($0.utf8) }),
              let stats = try? JSONDecoder().decode([String: Int].self, from: data) else {
            XCTFail("decoding the screenshot failed (python3 is needed): \(run.stderr)\(run.stdout)")
            return ["width": 0, "height": 0, "non_white": 0, "weight_blue": 0, "pattern_orange": 0, "colors": 0]
        }
        return stats
    }
}
