import Foundation
import TestSupport
import XCTest

/// `deploy/prometheus`: the alert rules and their unit tests under promtool, the
/// dashboard's queries, and a live scrape of `serve --emulated` under promtool's linter.
final class PrometheusTests: XCTestCase {
    func promtool() throws -> DeployTool { try DeployTool.require("promtool", package: "prometheus") }

    /// The alert names, in file order.
    func alertNames() throws -> [String] {
        try DeployFiles.text("prometheus/alerts.yml").split(separator: "\n").compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("- alert: ") ? String(trimmed.dropFirst("- alert: ".count)) : nil
        }
    }

    func testTheAlertRulesPassPromtoolsCheckAndTheirUnitTests() throws {
        let check = try promtool().succeed(["check", "rules", "deploy/prometheus/alerts.yml"])
        XCTAssertTrue(check.contains("SUCCESS: \(try alertNames().count) rules found"), check)
        let test = try promtool().succeed(["test", "rules", "deploy/prometheus/alerts_test.yml"])
        XCTAssertTrue(test.contains("SUCCESS"), test)
    }

    /// An alert renamed in a copy of the rules makes the unit tests fail: each alert is
    /// expected to fire somewhere in alerts_test.yml.
    func testEveryAlertHasAUnitTestThatSeesItFire() throws {
        let names = try alertNames()
        XCTAssertEqual(names.count, 13, "alerts: \(names)")
        let rules = try DeployFiles.text("prometheus/alerts.yml")
        let tests = try DeployFiles.text("prometheus/alerts_test.yml")
        for name in names {
            let dir = try DeployFiles.scratch(self, "alerts")
            try rules.replacingOccurrences(of: "- alert: \(name)\n", with: "- alert: \(name)Renamed\n")
                .write(to: dir.appendingPathComponent("alerts.yml"), atomically: true, encoding: .utf8)
            try tests.write(to: dir.appendingPathComponent("alerts_test.yml"), atomically: true, encoding: .utf8)
            let result = try promtool().run(["test", "rules", dir.appendingPathComponent("alerts_test.yml").path])
            XCTAssertNotEqual(result.status, 0, "\(name) renamed and its unit tests still pass")
            XCTAssertTrue(result.output.contains("alertname: \(name),"), result.output)
        }
    }

    /// The dashboard's panel queries, with Grafana's variables filled in, as recording
    /// rules that `promtool check rules` parses; metric names must be ones the server
    /// exposes (checked against a live scrape below).
    func dashboardQueries() throws -> [String] {
        let data = try Data(contentsOf: DeployFiles.deploy.appendingPathComponent("prometheus/grafana-dashboard.json"))
        let dashboard = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try XCTUnwrap(dashboard["panels"] as? [[String: Any]])
        return panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    func testTheDashboardQueriesAreValidPromQL() throws {
        let queries = try dashboardQueries()
        XCTAssertGreaterThanOrEqual(queries.count, 10)
        func check(_ exprs: [String]) throws -> LifecycleProcess.Result {
            let rules = try exprs.enumerated().map { index, expr in
                let filled = expr.replacingOccurrences(of: "$__rate_interval", with: "5m").replacingOccurrences(of: "$job", with: ".*")
                // JSON is YAML: every query quoted exactly.
                let quoted = String(decoding: try JSONSerialization.data(withJSONObject: [filled]), as: UTF8.self)
                return #"{"record": "dashboard:query\#(index)", "expr": \#(quoted.dropFirst().dropLast())}"#
            }
            let file = try DeployFiles.scratch(self, "dashboard").appendingPathComponent("queries.yml")
            try #"{"groups": [{"name": "dashboard", "rules": [\#(rules.joined(separator: ","))]}]}"#
                .write(to: file, atomically: true, encoding: .utf8)
            return try promtool().run(["check", "rules", file.path])
        }
        let result = try check(queries)
        XCTAssertEqual(result.status, 0, result.output)
        // The control: a broken query fails the same check.
        XCTAssertNotEqual(try check(queries + ["sum by (job (rate(cma_drains_total[5m]))"]).status, 0)
    }

    /// A scrape of `serve --emulated` after a launch whose runner dies (the emulated
    /// sandbox's python3 lacks the SDK), a refused delivery and a refused request, so
    /// that every family exists: promtool's linter finds nothing, and every metric the
    /// alerts and the dashboard use is in it.
    func testALiveScrapePassesPromtoolAndHasEveryMetricTheAlertsAndTheDashboardUse() async throws {
        let dir = try DeployFiles.scratch(self, "scrape")
        let serve = try await ServeProcess(pythonBin: "/usr/bin", sandboxes: dir.appendingPathComponent("sandboxes"))
        defer { serve.stop() }
        let curl = try Curl(scratch: dir)
        let session = try curl.send("\(serve.base)/_emulator/sessions", method: "POST", body: Array("{}".utf8))
        XCTAssertEqual(session.status, 200, session.body)
        let forged = try SignedWebhook(key: "whsec_" + Data(repeating: 9, count: 32).base64EncodedString())
        XCTAssertEqual(try curl.send("\(serve.base)/webhooks", headers: forged.headers, body: forged.body).status, 401)
        XCTAssertEqual(try curl.send("\(serve.base)/healthz", headers: ["Content-Length: 1", "Transfer-Encoding: chunked"]).status, 400)
        try eventually("the runner's late failure to be counted", within: 60) {
            try curl.metric(serve.base, "cma_sandbox_late_failures_total") == 1
        }

        let scrape = dir.appendingPathComponent("metrics.txt")
        try curl.send("\(serve.base)/metrics").body.write(to: scrape, atomically: true, encoding: .utf8)
        let lint = try promtool().run(["check", "metrics"], input: scrape)
        XCTAssertEqual(lint.status, 0, lint.output)
        XCTAssertEqual(lint.output, "", "promtool check metrics found problems")

        let text = try String(contentsOf: scrape, encoding: .utf8)
        let exposed = Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        let used = try [DeployFiles.text("prometheus/alerts.yml")] + dashboardQueries()
        let names = Set(used.flatMap { $0.matches(of: /cma_[a-z_]+/).map { String($0.output) } }.map { name in
            ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
        })
        XCTAssertGreaterThanOrEqual(names.count, 8, "\(names)")
        XCTAssertEqual(names.subtracting(exposed), [], "used by alerts.yml or the dashboard but not exposed")
    }
}
