import APIClient
import Foundation
import HTTPWire
import TestSupport
import XCTest
@testable import SuperserveEmulator

/// The fault plan on the Superserve emulator: `all` covers the data plane too, and a
/// lost answer acts first (superserve.md §10.10, orchestrator rule 16).
final class SuperserveFaultTests: XCTestCase {
    private func setPlan(_ h: SuperserveHarness, _ json: String) async {
        let answer = await h.send(.POST, "/_emulator/superserve/faults", body: Array(json.utf8))
        XCTAssertEqual(answer.status, 200, answer.text)
    }

    /// The raw in-process answer: a lost or dropped one is a broken body, which the
    /// harness's `send` would report as a test failure.
    private func attempt(_ h: SuperserveHarness, _ method: HTTPMethod, _ target: String,
                         headers: [(String, String)], body: String) async -> Result<Int, any Error> {
        let request = OutboundRequest(method: method.description, url: URL(string: "http://superserve.test" + target)!,
                                      headers: headers, body: Data(body.utf8), timeout: .seconds(30))
        do { return .success(try await RouterTransport(router: h.router).send(request).status) } catch { return .failure(error) }
    }

    func testACreateWhoseAnswerIsLostStillCreatesTheSandbox() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        await setPlan(h, #"{"lose_rate":1,"routes":["sandboxes.create"],"remaining":1}"#)
        let lost = await attempt(h, .POST, "/sandboxes", headers: [("X-API-Key", SuperserveTestKeys.apiKey)],
                                 body: #"{"name":"cma-lost","from_template":"cma-runner","metadata":{"cma.session_id":"sesn_lost"}}"#)
        guard case .failure = lost else { return XCTFail("the answer arrived: \(lost)") }
        XCTAssertEqual(h.emulator.faults.counts.losses, 1)
        // The sandbox exists: a lookup by metadata finds it (what rule 16 relies on).
        let listed = await h.control(.GET, "/sandboxes?metadata.cma.session_id=sesn_lost")
        XCTAssertEqual(listed.status, 200, listed.text)
        XCTAssertEqual(listed.json?.arrayValue?.count, 1, listed.text)
        // `remaining` spent: the next create answers.
        _ = await h.create(name: "cma-next")
    }

    func testAllCoversTheDataPlaneAndDataNamesItAlone() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let (id, token) = await h.create()
        let command = #"{"command":"echo hi","timeout_s":5}"#
        await setPlan(h, #"{"error_rate":1,"statuses":[500]}"#)
        let all = await h.exec(id, token, command)
        XCTAssertEqual(all.status, 500, "`all` reaches exec: \(all.text)")
        await setPlan(h, #"{"error_rate":1,"statuses":[500],"routes":"data"}"#)
        let data = await h.exec(id, token, command)
        XCTAssertEqual(data.status, 500, data.text)
        let control = await h.control(.POST, "/sandboxes", json: #"{"name":"x","from_template":"cma-runner"}"#)
        XCTAssertEqual(control.status, 201, "`data` leaves the control plane alone")
        await setPlan(h, #"{"error_rate":1,"statuses":[500],"routes":"control"}"#)
        let exec = await h.exec(id, token, command)
        XCTAssertEqual(exec.status, 200, exec.text)
    }

    /// A lost exec answer: the command ran (launch.sh's idempotence, rule 31, is what
    /// makes the orchestrator's retry of it safe).
    func testAnExecWhoseAnswerIsLostStillRuns() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let (id, token) = await h.create()
        await setPlan(h, #"{"lose_rate":1,"routes":["exec"],"remaining":1}"#)
        let lost = await attempt(h, .POST, "/exec", headers: [("X-Superserve-Sandbox-Id", id), ("X-Access-Token", token)],
                                 body: #"{"command":"echo ran > /srv/marker","timeout_s":5}"#)
        guard case .failure = lost else { return XCTFail("the answer arrived: \(lost)") }
        XCTAssertEqual(try? String(contentsOfFile: h.hostPath(id, "/srv/marker"), encoding: .utf8), "ran\n")
    }
}
