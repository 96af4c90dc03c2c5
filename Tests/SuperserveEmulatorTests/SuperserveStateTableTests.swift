@testable import SuperserveEmulator
import Foundation
import HTTPWire
import XCTest

/// superserve.md §4's operation × status table, cell by cell, with the hold and fail
/// switches reaching the transitional and failed statuses (§10.4).
final class SuperserveStateTableTests: XCTestCase {
    /// Expected answers per status: activate (status, code), resume, pause, PATCH
    /// metadata, PATCH network, delete, data plane.
    struct Row {
        var status: String
        var activate: (Int, String?)
        var resume: Int
        var pause: Int
        var patchNetwork: Int
        var delete: Int
        var dataPlane: Int
    }

    static let rows: [Row] = [
        Row(status: "active", activate: (200, nil), resume: 409, pause: 204, patchNetwork: 204, delete: 204, dataPlane: 200),
        Row(status: "paused", activate: (200, nil), resume: 200, pause: 409, patchNetwork: 409, delete: 204, dataPlane: 503),
        Row(status: "pausing", activate: (409, "sandbox_pausing"), resume: 409, pause: 409, patchNetwork: 409, delete: 409, dataPlane: 503),
        Row(status: "starting", activate: (409, "sandbox_starting"), resume: 409, pause: 409, patchNetwork: 409, delete: 409, dataPlane: 200),
        Row(status: "resuming", activate: (409, "sandbox_resuming"), resume: 409, pause: 409, patchNetwork: 409, delete: 409, dataPlane: 200),
        Row(status: "failed", activate: (409, "sandbox_failed"), resume: 409, pause: 409, patchNetwork: 409, delete: 204, dataPlane: 502),
    ]

    /// A fresh sandbox brought into `status`; transitional ones are held for a
    /// minute, far longer than the test.
    func sandbox(in status: String, _ h: SuperserveHarness) async -> (id: String, token: String) {
        let s = await h.create()
        switch status {
        case "active": break
        case "paused":
            let awaited1 = await h.pause(s.id).status
            XCTAssertEqual(awaited1, 204)
        case "failed": await h.fail(s.id)
        default: await h.hold(s.id, status, ms: 60_000)
        }
        let awaited2 = await h.status(s.id)
        XCTAssertEqual(awaited2, status)
        return s
    }

    func testEveryOperationAnswersPerTheStateTable() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let network = #"{"network":{"allow_out":["api.anthropic.com"],"deny_out":["0.0.0.0/0"]}}"#
        for row in Self.rows {
            func check(_ op: String, _ answer: SuperserveHarness.Answer, _ status: Int, code: String? = nil) {
                XCTAssertEqual(answer.status, status, "\(op) from \(row.status): \(answer.text)")
                if let code { XCTAssertEqual(answer.code, code, "\(op) from \(row.status)") }
                if status == 409 && code == nil { XCTAssertEqual(answer.code, "conflict", "\(op) from \(row.status)") }
            }
            var s = await sandbox(in: row.status, h)
            check("activate", await h.control(.POST, "/sandboxes/\(s.id)/activate"), row.activate.0, code: row.activate.1)

            s = await sandbox(in: row.status, h)
            check("resume", await h.control(.POST, "/sandboxes/\(s.id)/resume"), row.resume)

            s = await sandbox(in: row.status, h)
            check("pause", await h.pause(s.id), row.pause)

            s = await sandbox(in: row.status, h)
            check("patch metadata", await h.control(.PATCH, "/sandboxes/\(s.id)", json: #"{"metadata":{"k":"v"}}"#), 204)
            check("patch timeouts", await h.control(.PATCH, "/sandboxes/\(s.id)", json: #"{"timeout_seconds":null}"#), 204)
            check("patch network", await h.control(.PATCH, "/sandboxes/\(s.id)", json: network), row.patchNetwork)
            let data = await h.exec(s.id, s.token, #"{"command":"true"}"#)
            XCTAssertEqual(data.status, row.dataPlane, "data plane from \(row.status): \(data.text)")
            if row.dataPlane == 503 { XCTAssertEqual(data.code, "sandbox_unavailable") }

            check("delete", await h.control(.DELETE, "/sandboxes/\(s.id)"), row.delete)
            if row.delete == 204 {
                let awaited3 = await h.control(.GET, "/sandboxes/\(s.id)").status
                XCTAssertEqual(awaited3, 404, "get after delete")
                let awaited4 = await h.control(.DELETE, "/sandboxes/\(s.id)").status
                XCTAssertEqual(awaited4, 404, "delete after delete")
            }
        }
        for op in ["activate", "resume", "pause"] {
            let answer = await h.control(.POST, "/sandboxes/missing/\(op)")
            XCTAssertEqual(answer.status, 404, op)
            XCTAssertEqual(answer.code, "not_found", op)
        }
    }

    func testActivateOnPausedResumesWithANewTokenAndResumeAfterActivateIs409() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let awaited5 = await h.pause(s.id).status
        XCTAssertEqual(awaited5, 204)
        let activated = await h.control(.POST, "/sandboxes/\(s.id)/activate")
        XCTAssertEqual(activated.status, 200)
        XCTAssertEqual(activated.json?["status"]?.stringValue, "active")
        let token = activated.json?["access_token"]?.stringValue
        XCTAssertNotNil(token)
        XCTAssertNotEqual(token, s.token)
        // orchestrator.md rule 19: the upstream guide's resume after connect fails.
        let resumed = await h.control(.POST, "/sandboxes/\(s.id)/resume")
        XCTAssertEqual(resumed.status, 409)
        XCTAssertEqual(resumed.code, "conflict")
        // Activate on active answers at once with a usable token.
        let again = await h.control(.POST, "/sandboxes/\(s.id)/activate")
        XCTAssertEqual(again.status, 200)
        let usable = again.json?["access_token"]?.stringValue ?? ""
        let awaited6 = await h.exec(s.id, usable, #"{"command":"true"}"#).status
        XCTAssertEqual(awaited6, 200)
    }

    func testResumeFromPausedAnswersIdStatusAndToken() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let awaited7 = await h.pause(s.id).status
        XCTAssertEqual(awaited7, 204)
        let answer = await h.control(.POST, "/sandboxes/\(s.id)/resume")
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.json?["id"]?.stringValue, s.id)
        XCTAssertEqual(answer.json?["status"]?.stringValue, "active")
        XCTAssertEqual(answer.json?["access_token"]?.stringValue?.count, 64)
    }

    func testActivateWaitsForAStartingSandboxThatBecomesActive() async {
        let h = SuperserveHarness { $0.activateWait = .seconds(6) }
        addTeardownBlock { await h.close() }
        let s = await h.create()
        await h.hold(s.id, "starting", ms: 300)
        let started = ContinuousClock.now
        let answer = await h.control(.POST, "/sandboxes/\(s.id)/activate")
        XCTAssertEqual(answer.status, 200, answer.text)
        XCTAssertEqual(answer.json?["status"]?.stringValue, "active")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
    }

    func testActivateOnAStuckResumingSandboxWaitsThenAnswers409() async {
        let h = SuperserveHarness { $0.activateWait = .milliseconds(500) }
        addTeardownBlock { await h.close() }
        let s = await h.create()
        await h.hold(s.id, "resuming", ms: 60_000)
        let started = ContinuousClock.now
        let answer = await h.control(.POST, "/sandboxes/\(s.id)/activate")
        XCTAssertEqual(answer.status, 409)
        XCTAssertEqual(answer.code, "sandbox_resuming")
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(500), "waits before the 409")
    }

    func testPauseWithoutPreferWaitsUntilPausedAndWithPreferAnswersPausing() async {
        let h = SuperserveHarness { $0.pausingHold = .milliseconds(300) }
        addTeardownBlock { await h.close() }
        let waited = await h.create()
        let answer = await h.pause(waited.id)
        XCTAssertEqual(answer.status, 204)
        let awaited8 = await h.status(waited.id)
        XCTAssertEqual(awaited8, "paused", "204 means paused")

        let async = await h.create()
        let accepted = await h.control(.POST, "/sandboxes/\(async.id)/pause", headers: [("Prefer", "respond-async")])
        XCTAssertEqual(accepted.status, 202)
        XCTAssertEqual(accepted.json, .object([("status", .string("pausing"))]))
        let awaited9 = await h.status(async.id)
        XCTAssertEqual(awaited9, "pausing")
        let paused = await superserveEventually { await h.status(async.id) == "paused" }
        XCTAssertTrue(paused)
        let awaited10 = await h.control(.GET, "/sandboxes/\(async.id)").json?["snapshot_id"]
        XCTAssertNotNil(awaited10)
    }

    func testCreateWithAStartingHoldIsListedAsStartingUntilItAnswers() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let set = await h.send(.POST, "/_emulator/superserve/hold", body: Array(#"{"status":"starting","ms":400}"#.utf8))
        XCTAssertEqual(set.status, 200)
        async let created = h.create(name: "slow", extra: #""metadata":{"cma.session_id":"sesn_S"}"#)
        let seenStarting = await superserveEventually(timeout: .seconds(5)) {
            guard case .array(let items)? = await h.control(.GET, "/sandboxes?metadata.cma.session_id=sesn_S").json else { return false }
            return items.first?["status"]?.stringValue == "starting"
        }
        XCTAssertTrue(seenStarting, "a concurrent lookup sees the sandbox while create is in flight (rule 13)")
        let s = await created
        let awaited11 = await h.status(s.id)
        XCTAssertEqual(awaited11, "active")
    }

    func testPauseDeleteOnAutoDeleteZeroRemovesTheSandbox() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create(extra: #""auto_delete_seconds":0"#)
        let awaited12 = await h.pause(s.id).status
        XCTAssertEqual(awaited12, 204)
        let awaited13 = await h.control(.GET, "/sandboxes/\(s.id)").status
        XCTAssertEqual(awaited13, 404)
    }
}
