@testable import SuperserveEmulator
import Foundation
import HTTPWire
import XCTest

/// Templates (superserve.md §6, §10.9) and the test switches (§10.10).
final class SuperserveTemplateAndSwitchTests: XCTestCase {
    func testStartupTemplateIsReadyAndListedByNamePrefix() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let list = await h.control(.GET, "/templates?name_prefix=cma-")
        guard case .array(let items)? = list.json else { return XCTFail(list.text) }
        XCTAssertEqual(items.count, 1)
        XCTAssertEqual(items.first?["name"]?.stringValue, "cma-runner")
        XCTAssertEqual(items.first?["status"]?.stringValue, "ready")
        guard case .array(let all)? = await h.control(.GET, "/templates").json else { return XCTFail() }
        XCTAssertTrue(all.contains { $0["name"]?.stringValue == "superserve/base" }, "system templates are listed too")
        let byName = await h.control(.GET, "/templates/cma-runner")
        XCTAssertEqual(byName.status, 200)
        let id = byName.json?["id"]?.stringValue ?? ""
        let awaited1 = await h.control(.GET, "/templates/\(id)").json?["name"]?.stringValue
        XCTAssertEqual(awaited1, "cma-runner")
        let awaited2 = await h.control(.GET, "/templates/none").status
        XCTAssertEqual(awaited2, 404)
    }

    func testTemplateBuildGoesPendingToReadyAndNamesAreValidatedAndUnique() async {
        let h = SuperserveHarness { $0.templateBuildDelay = .milliseconds(300) }
        addTeardownBlock { await h.close() }
        let created = await h.control(.POST, "/templates", json: """
            {"name":"my-runner","vcpu":2,"memory_mib":2048,"build_spec":{"from":"python:3.12-slim",
             "steps":[{"run":"pip install anthropic==2.10.0"},{"env":{"key":"A","value":"b"}},{"workdir":"/workspace"}],
             "start_cmd":"sleep infinity"}}
            """)
        XCTAssertEqual(created.status, 202, created.text)
        XCTAssertEqual(created.json?["status"]?.stringValue, "building")
        let templateID = created.json?["id"]?.stringValue ?? ""
        let buildID = created.json?["build_id"]?.stringValue ?? ""
        XCTAssertFalse(buildID.isEmpty)
        let first = await h.control(.GET, "/templates/\(templateID)/builds/\(buildID)")
        XCTAssertEqual(first.json?["status"]?.stringValue, "pending")
        XCTAssertNotNil(first.json?["build_spec_hash"]?.stringValue)
        var seen: Set<String> = []
        let ready = await superserveEventually {
            let status = await h.control(.GET, "/templates/\(templateID)/builds/\(buildID)").json?["status"]?.stringValue ?? ""
            seen.insert(status)
            return status == "ready"
        }
        XCTAssertTrue(ready)
        XCTAssertTrue(seen.isSubset(of: ["pending", "building", "snapshotting", "ready"]), "\(seen)")
        let awaited3 = await h.control(.GET, "/templates/my-runner").json?["status"]?.stringValue
        XCTAssertEqual(awaited3, "ready")
        let awaited4 = await h.control(.POST, "/sandboxes", json: #"{"name":"x","from_template":"my-runner"}"#).status
        XCTAssertEqual(awaited4, 201)

        let duplicate = await h.control(.POST, "/templates", json: #"{"name":"my-runner","build_spec":{"from":"debian"}}"#)
        XCTAssertEqual(duplicate.status, 409)
        XCTAssertEqual(duplicate.code, "conflict")
        for body in [#"{"name":"Upper","build_spec":{"from":"debian"}}"#, #"{"name":"superserve/x","build_spec":{"from":"debian"}}"#,
                     #"{"name":"-x","build_spec":{"from":"debian"}}"#, #"{"name":"x-","build_spec":{"from":"debian"}}"#,
                     #"{"name":"ok","build_spec":{"from":"alpine:3"}}"#, #"{"name":"ok","vcpu":8,"build_spec":{"from":"debian"}}"#,
                     #"{"name":"ok","build_spec":{"from":"debian","steps":[{"run":"a","env":{"key":"k","value":"v"}}]}}"#,
                     #"{"name":"ok","start_cmd":"x","build_spec":{"from":"debian"}}"#, #"{"name":"ok"}"#] {
            let answer = await h.control(.POST, "/templates", json: body)
            XCTAssertEqual(answer.status, 400, body)
        }
    }

    func testFaultSwitchInjects429WithRetryAfterAnd5xxByMethodThenClears() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let set = await h.send(.POST, "/_emulator/superserve/faults", body: Array(#"{"error_rate":1,"statuses":[429],"retry_after_seconds":3}"#.utf8))
        XCTAssertEqual(set.status, 200, set.text)
        let limited = await h.control(.GET, "/sandboxes")
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.code, "rate_limited")
        XCTAssertEqual(limited.headers[first: "Retry-After"], "3")

        _ = await h.send(.POST, "/_emulator/superserve/faults", body: Array(#"{"error_rate":1,"statuses":[503]}"#.utf8))
        let awaited5 = await h.control(.GET, "/sandboxes").status
        XCTAssertEqual(awaited5, 503)
        let created = await h.control(.POST, "/sandboxes", json: #"{"name":"x","from_template":"cma-runner"}"#)
        XCTAssertEqual(created.status, 201, "502/503/504 only hit GET and DELETE")

        _ = await h.send(.POST, "/_emulator/superserve/faults", body: Array(#"{"error_rate":1,"statuses":[500],"remaining":1}"#.utf8))
        let awaited6 = await h.control(.POST, "/sandboxes", json: #"{"name":"x","from_template":"cma-runner"}"#).status
        XCTAssertEqual(awaited6, 500)
        let awaited7 = await h.control(.POST, "/sandboxes", json: #"{"name":"x","from_template":"cma-runner"}"#).status
        XCTAssertEqual(awaited7, 201, "remaining bounds the injected errors")

        _ = await h.send(.POST, "/_emulator/superserve/faults", body: Array(#"{"error_rate":1,"statuses":[504],"routes":["sandboxes.get"]}"#.utf8))
        let awaited8 = await h.control(.GET, "/sandboxes").status
        XCTAssertEqual(awaited8, 200, "route filter")
        let awaited9 = await h.control(.GET, "/sandboxes/x").status
        XCTAssertEqual(awaited9, 504)

        let cleared = await h.send(.DELETE, "/_emulator/superserve/faults")
        XCTAssertEqual(cleared.status, 200)
        XCTAssertEqual(cleared.text, #"{"faults":null}"#)
        let awaited11 = await h.control(.GET, "/sandboxes/x").status
        XCTAssertEqual(awaited11, 404)
        for bad in [#"{"error_rate":1,"statuses":[418]}"#, #"{"error_rate":1.5}"#, #"{"error_rate":0.6,"drop_rate":0.6}"#, #"{"chaos":true}"#] {
            let awaited12 = await h.send(.POST, "/_emulator/superserve/faults", body: Array(bad.utf8)).status
            XCTAssertEqual(awaited12, 400, bad)
        }
    }

    func testLatencySwitchSlowsTheChosenEndpoints() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        _ = await h.send(.POST, "/_emulator/superserve/faults", body: Array(#"{"latency_ms":300,"routes":["sandboxes.create"]}"#.utf8))
        let started = ContinuousClock.now
        _ = await h.create()
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(300))
    }

    func testCallsSwitchCountsEveryCallPerEndpointAndResets() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        _ = await h.control(.GET, "/sandboxes?metadata.cma.session_id=x")
        _ = await h.control(.POST, "/sandboxes/\(s.id)/activate")
        _ = await h.data(.POST, "/files?path=/srv/a", sandbox: s.id, token: s.token, body: [1])
        _ = await h.exec(s.id, s.token, #"{"command":"true"}"#)
        _ = await h.send(.GET, "/sandboxes")   // unauthenticated: still a call
        let calls = await h.send(.GET, "/_emulator/superserve/calls")
        XCTAssertEqual(calls.json, .object([
            ("total", .int(6)),
            ("calls", .object([("exec", .int(1)), ("files.write", .int(1)), ("sandboxes.activate", .int(1)), ("sandboxes.create", .int(1)), ("sandboxes.list", .int(2))])),
            ("rejected", .object([])),
            ("active_sandboxes", .int(1)),
        ]))
        let awaited13 = await h.send(.DELETE, "/_emulator/superserve/calls").status
        XCTAssertEqual(awaited13, 204)
        let awaited14 = await h.send(.GET, "/_emulator/superserve/calls").json?["total"]?.intValue
        XCTAssertEqual(awaited14, 0)
    }

    func testHoldSwitchValidatesItsBody() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        for bad in [#"{"status":"active","ms":10}"#, #"{"status":"pausing"}"#, #"{"status":"pausing","ms":-1}"#, ""] {
            let awaited15 = await h.send(.POST, "/_emulator/superserve/hold", body: Array(bad.utf8)).status
            XCTAssertEqual(awaited15, 400, bad)
        }
        let awaited16 = await h.send(.POST, "/_emulator/superserve/hold", body: Array(#"{"status":"pausing","ms":10,"sandbox_id":"nope"}"#.utf8)).status
        XCTAssertEqual(awaited16, 404)
    }
}
