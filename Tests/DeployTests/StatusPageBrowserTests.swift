import Foundation
import LocalSandboxes
import TestSupport
import XCTest

/// The status page in a real headless Chromium (Debian's `chromium`), driven over the
/// DevTools protocol by `Tests/Browser/status_page.py` (websocket-client from a venv
/// under `.build/`), against the built binary's `serve --emulated`. The script's
/// checks: no console error, exception or CSP violation; the page's numbers equal
/// `/status`; the environments table, upstreams, Superserve budget, reconciler and warm
/// pool equal `/status` (the warm pool hidden when `/status` has none); no "undefined"
/// or "NaN" drawn; a failed launch in red with its reason; every URL relative (loaded
/// under a `/cma/` prefix proxy); no sideways scroll at 320 px; the state filters work
/// from the keyboard. It writes `.build/status-page.png` (`status-page-warm-pool.png`
/// with a pool).
final class StatusPageBrowserTests: XCTestCase {
    static let browserPython = PythonEnvironment(
        directory: DeployFiles.root.appendingPathComponent(".build/browser-venv"),
        requirements: ["websocket-client==1.8.0"])

    func testTheStatusPageShowsWhatStatusSaysInARealBrowser() async throws {
        try await checkThePage(warmPool: nil, screenshotName: "status-page.png")
    }

    func testTheStatusPageShowsTheWarmPoolWhenOneIsConfigured() async throws {
        try await checkThePage(warmPool: 2, screenshotName: "status-page-warm-pool.png")
    }

    /// Starts `serve --emulated` (with `CMA_WARM_POOL` when `warmPool` is set), makes one
    /// failed launch, and runs the browser script against it.
    private func checkThePage(warmPool: Int?, screenshotName: String) async throws {
        // Fails, never skips, without the browser: .ci/run installs it.
        let chromium = try DeployTool.require("chromium", package: "chromium")
        let python = try Self.browserPython.ensure()
        let scratch = try DeployFiles.scratch(self, "browser")
        let curl = try Curl(scratch: scratch)

        let serve = try await ServeProcess(pythonBin: "/usr/bin", sandboxes: scratch.appendingPathComponent("sandboxes"),
                                           environment: warmPool.map { ["CMA_WARM_POOL": String($0)] } ?? [:])
        defer { serve.stop() }
        func status() throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(try curl.send("\(serve.base)/status").body.utf8)) as? [String: Any] ?? [:]
        }

        if let size = warmPool {
            // The pool filled: the page then shows a settled ready / target.
            try eventually("a full warm pool in /status", within: 60) {
                (try status()["warm_pool"] as? [String: Any])?["ready"] as? Int == size
            }
        }

        // A failed launch (rules 12, 37): the session names a prepared sandbox that
        // does not exist, so the launch fails and the item is force-stopped.
        let created = try curl.send("\(serve.base)/_emulator/sessions", method: "POST",
                                    headers: ["Content-Type: application/json"],
                                    body: Array(#"{"metadata":{"superserve.sandbox_id":"sbx-does-not-exist"},"tool_calls":[]}"#.utf8))
        XCTAssertEqual(created.status, 200, created.body)
        let session = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])?["session_id"] as? String)
        try eventually("the failed session in /status", within: 60) {
            let rows = (try status()["sessions"] as? [String: Any])?["rows"] as? [[String: Any]] ?? []
            return rows.contains { $0["session_id"] as? String == session && $0["state"] as? String == "failed" }
        }

        let screenshot = DeployFiles.root.appendingPathComponent(".build/" + screenshotName)
        try? FileManager.default.removeItem(at: screenshot)
        let script = DeployFiles.root.appendingPathComponent("Tests/Browser/status_page.py")
        let run = try LifecycleProcess.run(python.path, [script.path, chromium.path, serve.base, session, screenshot.path,
                                                         scratch.path, warmPool == nil ? "no-warm-pool" : "warm-pool"],
                                           environment: ServeProcess.baseEnvironment(), timeout: 240)
        XCTAssertEqual(run.status, 0, run.output + "\n--- chromium:\n"
            + ((try? String(contentsOf: scratch.appendingPathComponent("chromium.log"), encoding: .utf8)) ?? "").suffix(2000))
        let png = try Data(contentsOf: screenshot)
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "the screenshot is a PNG")
    }
}
