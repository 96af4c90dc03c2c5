@testable import SuperserveEmulator
import Foundation
import HTTPWire
import XCTest

/// Control-plane contract (superserve.md §2–§3, §10.1–§10.5) through the emulator's
/// router in process.
final class SuperserveControlPlaneTests: XCTestCase {
    func testControlPlaneRejectsMissingOrWrongAPIKeyWithAuthFailedEnvelope() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        for headers in [[], [("X-API-Key", "wrong")], [("Authorization", "Bearer \(SuperserveTestKeys.apiKey)")]] {
            let answer = await h.send(.GET, "/sandboxes", headers: headers)
            XCTAssertEqual(answer.status, 401)
            XCTAssertEqual(answer.code, "auth_failed")
            XCTAssertFalse(answer.text.contains(SuperserveTestKeys.apiKey))
        }
        let ok = await h.control(.GET, "/sandboxes")
        XCTAssertEqual(ok.status, 200)
    }

    func testCreateAnswers201WithTokenActiveStatusMetadataAndNetworkCIDRsFirst() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let answer = await h.control(.POST, "/sandboxes", json: """
            {"name":"cma-sesn_1","from_template":"cma-runner","metadata":{"cma.session_id":"sesn_1"},
             "network":{"allow_out":["api.anthropic.com","10.1.0.0/16","*.example.com","1.2.3.4"],"deny_out":["0.0.0.0/0"]},
             "timeout_seconds":3600}
            """)
        XCTAssertEqual(answer.status, 201, answer.text)
        let json = answer.json
        XCTAssertEqual(json?["status"]?.stringValue, "active")
        XCTAssertEqual(json?["name"]?.stringValue, "cma-sesn_1")
        XCTAssertEqual(json?["metadata"], .object([("cma.session_id", .string("sesn_1"))]))
        XCTAssertEqual(json?["timeout_seconds"]?.intValue, 3600)
        XCTAssertEqual(json?["preview_access"]?.stringValue, "legacy_public")
        XCTAssertEqual(json?["network"], .object([
            ("allow_out", .array([.string("10.1.0.0/16"), .string("1.2.3.4"), .string("api.anthropic.com"), .string("*.example.com")])),
            ("deny_out", .array([.string("0.0.0.0/0")])),
        ]))
        let token = json?["access_token"]?.stringValue ?? ""
        XCTAssertEqual(token.count, 64)
        XCTAssertTrue(token.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        XCTAssertNotNil(json?["created_at"]?.stringValue)
        // The sandbox exists as a directory with the mapped roots.
        let id = json?["id"]?.stringValue ?? ""
        for root in ["/srv", "/workspace", "/mnt", "/home/user"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: h.hostPath(id, root)), root)
        }
        // A sandbox without rules has no `network` and `metadata` is `{}`.
        let plain = await h.control(.POST, "/sandboxes", json: #"{"name":"x","from_template":"cma-runner"}"#)
        XCTAssertNil(plain.json?["network"])
        XCTAssertEqual(plain.json?["metadata"], .object([]))
    }

    func testCreateValidationTable() async {
        let h = SuperserveHarness { $0.templateBuildDelay = .seconds(60) }
        addTeardownBlock { await h.close() }
        let building = await h.control(.POST, "/templates", json: #"{"name":"slow","build_spec":{"from":"python:3.12-slim"}}"#)
        XCTAssertEqual(building.status, 202)
        let manyKeys = (0..<65).map { "\"k\($0)\":\"v\"" }.joined(separator: ",")
        let bigValues = (0..<9).map { "\"k\($0)\":\"\(String(repeating: "v", count: 2000))\"" }.joined(separator: ",")
        let cases: [(String, String, Int, String)] = [
            ("unknown field", #"{"name":"a","from_template":"cma-runner","colour":"red"}"#, 400, "bad_request"),
            ("missing name", #"{"from_template":"cma-runner"}"#, 400, "bad_request"),
            ("long name", "{\"name\":\"\(String(repeating: "n", count: 65))\",\"from_template\":\"cma-runner\"}", 400, "bad_request"),
            ("not JSON", "name=a", 400, "bad_request"),
            ("empty body", "", 400, "bad_request"),
            ("array body", "[]", 400, "bad_request"),
            ("reserved superserve. prefix", #"{"name":"a","from_template":"cma-runner","metadata":{"superserve.sandbox_id":"x"}}"#, 400, "bad_request"),
            ("reserved prefix any case", #"{"name":"a","from_template":"cma-runner","metadata":{"SuperServe.x":"x"}}"#, 400, "bad_request"),
            ("reserved _superserve prefix", #"{"name":"a","from_template":"cma-runner","metadata":{"_superserve_internal":"x"}}"#, 400, "bad_request"),
            ("65 metadata keys", "{\"name\":\"a\",\"from_template\":\"cma-runner\",\"metadata\":{\(manyKeys)}}", 400, "bad_request"),
            ("metadata key too long", "{\"name\":\"a\",\"from_template\":\"cma-runner\",\"metadata\":{\"\(String(repeating: "k", count: 257))\":\"v\"}}", 400, "bad_request"),
            ("metadata value too long", "{\"name\":\"a\",\"from_template\":\"cma-runner\",\"metadata\":{\"k\":\"\(String(repeating: "v", count: 2049))\"}}", 400, "bad_request"),
            ("metadata over 16384 bytes", "{\"name\":\"a\",\"from_template\":\"cma-runner\",\"metadata\":{\(bigValues)}}", 400, "bad_request"),
            ("metadata number value", #"{"name":"a","from_template":"cma-runner","metadata":{"k":1}}"#, 400, "bad_request"),
            ("metadata null", #"{"name":"a","from_template":"cma-runner","metadata":null}"#, 201, ""),
            ("deny_out domain", #"{"name":"a","from_template":"cma-runner","network":{"allow_out":null,"deny_out":["example.com"]}}"#, 400, "bad_request"),
            ("deny_out IPv6", #"{"name":"a","from_template":"cma-runner","network":{"deny_out":["::/0"]}}"#, 400, "bad_request"),
            ("allow_out IPv6", #"{"name":"a","from_template":"cma-runner","network":{"allow_out":["2001:db8::1"]}}"#, 400, "bad_request"),
            ("allow_out garbage", #"{"name":"a","from_template":"cma-runner","network":{"allow_out":["not a host"]}}"#, 400, "bad_request"),
            ("bad CIDR bits", #"{"name":"a","from_template":"cma-runner","network":{"deny_out":["0.0.0.0/33"]}}"#, 400, "bad_request"),
            ("network unknown key", #"{"name":"a","from_template":"cma-runner","network":{"allow":["x.com"]}}"#, 400, "bad_request"),
            ("timeout 0", #"{"name":"a","from_template":"cma-runner","timeout_seconds":0}"#, 400, "bad_request"),
            ("timeout fraction", #"{"name":"a","from_template":"cma-runner","timeout_seconds":1.5}"#, 400, "bad_request"),
            ("auto delete too large", #"{"name":"a","from_template":"cma-runner","auto_delete_seconds":2592001}"#, 400, "bad_request"),
            ("preview access unknown", #"{"name":"a","from_template":"cma-runner","preview_access":"open"}"#, 400, "bad_request"),
            ("env var with =", #"{"name":"a","from_template":"cma-runner","env_vars":{"A=B":"x"}}"#, 400, "bad_request"),
            ("secret collides with env var", #"{"name":"a","from_template":"cma-runner","env_vars":{"K":"x"},"secrets":{"K":"s"}}"#, 400, "bad_request"),
            ("template missing", #"{"name":"a","from_template":"nope"}"#, 404, "not_found"),
            ("template building", #"{"name":"a","from_template":"slow"}"#, 409, "conflict"),
            ("default template", #"{"name":"a"}"#, 201, ""),
            ("allow and deny, both lists", #"{"name":"a","from_template":"cma-runner","network":{"allow_out":["*.example.com","10.0.0.0/8"],"deny_out":["0.0.0.0/0","192.168.1.1"]}}"#, 201, ""),
            ("auto delete 0", #"{"name":"a","from_template":"cma-runner","auto_delete_seconds":0}"#, 201, ""),
        ]
        for (label, body, status, code) in cases {
            let answer = await h.control(.POST, "/sandboxes", json: body)
            XCTAssertEqual(answer.status, status, "\(label): \(answer.text)")
            if !code.isEmpty { XCTAssertEqual(answer.code, code, label) }
        }
    }

    func testListFiltersByDottedMetadataKeysStatusesAndPaginatesNewestFirst() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let a = await h.create(name: "a", extra: #""metadata":{"cma.session_id":"sesn_A","cma.environment_id":"env_1","note":"x y"}"#)
        let b = await h.create(name: "b", extra: #""metadata":{"cma.session_id":"sesn_B","cma.environment_id":"env_1"}"#)
        let c = await h.create(name: "c", extra: #""metadata":{"cma.session_id":"sesn_A","cma.environment_id":"env_2"}"#)
        let gone = await h.create(name: "d", extra: #""metadata":{"cma.session_id":"sesn_A"}"#)
        let awaited1 = await h.control(.DELETE, "/sandboxes/\(gone.id)").status
        XCTAssertEqual(awaited1, 204)
        let awaited2 = await h.pause(b.id).status
        XCTAssertEqual(awaited2, 204)

        func ids(_ query: String) async -> [String]? {
            let answer = await h.control(.GET, "/sandboxes" + query)
            guard answer.status == 200, case .array(let items)? = answer.json else { return nil }
            XCTAssertEqual(answer.headers[first: "X-Total-Count"].flatMap(Int.init) ?? -1 >= items.count, true)
            for item in items { XCTAssertNil(item["access_token"], "list items never carry tokens") }
            return items.compactMap { $0["id"]?.stringValue }
        }
        let all = await ids("")
        XCTAssertEqual(all, [c.id, b.id, a.id], "newest first, deleted absent")
        let awaited3 = await ids("?metadata.cma.session_id=sesn_A")
        XCTAssertEqual(awaited3, [c.id, a.id])
        let awaited4 = await ids("?metadata.cma.session_id=sesn_A&metadata.cma.environment_id=env_1")
        XCTAssertEqual(awaited4, [a.id])
        let awaited5 = await ids("?metadata.note=x%20y")
        XCTAssertEqual(awaited5, [a.id])
        let awaited6 = await ids("?metadata.note=x+y")
        XCTAssertEqual(awaited6, [a.id], "a raw + decodes as a space")
        let awaited7 = await ids("?metadata.cma.session_id=nobody")
        XCTAssertEqual(awaited7, [])
        let awaited8 = await ids("?status=paused")
        XCTAssertEqual(awaited8, [b.id])
        let awaited9 = await ids("?status=active%2Cpaused")
        XCTAssertEqual(awaited9, [c.id, b.id, a.id])
        let awaited10 = await ids("?status=active,failed")
        XCTAssertEqual(awaited10, [c.id, a.id])
        let awaited11 = await ids("?limit=1&offset=1")
        XCTAssertEqual(awaited11, [b.id])
        let awaited12 = await ids("?order=asc")
        XCTAssertEqual(awaited12, [a.id, b.id, c.id])
        let page = await h.control(.GET, "/sandboxes?limit=1")
        XCTAssertEqual(page.headers[first: "X-Total-Count"], "3")
        for bad in ["?status=running", "?status=migrating", "?status=active,", "?metadata.=x",
                    "?metadata.k=1&metadata.k=2", "?limit=-1", "?limit=ten", "?offset=-3"] {
            let answer = await h.control(.GET, "/sandboxes" + bad)
            XCTAssertEqual(answer.status, 400, bad)
            XCTAssertEqual(answer.code, "bad_request", bad)
        }
    }

    func testListLimitIsClampedTo200() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        for i in 0..<201 { _ = await h.control(.POST, "/sandboxes", json: "{\"name\":\"s\(i)\",\"from_template\":\"cma-runner\"}") }
        let answer = await h.control(.GET, "/sandboxes?limit=500")
        XCTAssertEqual(answer.status, 200)
        guard case .array(let items)? = answer.json else { return XCTFail(answer.text) }
        XCTAssertEqual(items.count, 200)
        XCTAssertEqual(answer.headers[first: "X-Total-Count"], "201")
        guard case .array(let everything)? = await h.control(.GET, "/sandboxes").json else { return XCTFail() }
        XCTAssertEqual(everything.count, 201, "without limit the whole list comes back")
    }

    func testPatchReplacesMetadataClearsTimeoutsWithNullAndRejectsEmptyOrUnknown() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create(extra: #""metadata":{"a":"1","b":"2"},"timeout_seconds":60,"auto_delete_seconds":100"#)
        let awaited13 = await h.control(.PATCH, "/sandboxes/\(s.id)", json: #"{"metadata":{"c":"3"}}"#).status
        XCTAssertEqual(awaited13, 204)
        var got = await h.control(.GET, "/sandboxes/\(s.id)").json
        XCTAssertEqual(got?["metadata"], .object([("c", .string("3"))]), "PATCH replaces the whole map")
        let awaited14 = await h.control(.PATCH, "/sandboxes/\(s.id)", json: #"{"timeout_seconds":null,"auto_delete_seconds":5}"#).status
        XCTAssertEqual(awaited14, 204)
        got = await h.control(.GET, "/sandboxes/\(s.id)").json
        XCTAssertNil(got?["timeout_seconds"])
        XCTAssertEqual(got?["auto_delete_seconds"]?.intValue, 5)
        let awaited15 = await h.control(.PATCH, "/sandboxes/\(s.id)", json: #"{"network":{"allow_out":["api.anthropic.com"],"deny_out":["0.0.0.0/0"]}}"#).status
        XCTAssertEqual(awaited15, 204)
        got = await h.control(.GET, "/sandboxes/\(s.id)").json
        XCTAssertEqual(got?["network"]?["deny_out"], .array([.string("0.0.0.0/0")]))
        for bad in ["", "{}", #"{"colour":"red"}"#, #"{"metadata":null}"#, #"{"metadata":{"superserve.sandbox_id":"x"}}"#,
                    #"{"timeout_seconds":0}"#, #"{"network":{"deny_out":["example.com"]}}"#] {
            let answer = await h.control(.PATCH, "/sandboxes/\(s.id)", json: bad)
            XCTAssertEqual(answer.status, 400, bad)
        }
        let awaited16 = await h.control(.PATCH, "/sandboxes/nope", json: #"{"metadata":{}}"#).status
        XCTAssertEqual(awaited16, 404)
    }

    func testTimeoutSecondsAutoPausesAndAutoDeleteRemovesThePausedSandbox() async {
        let h = SuperserveHarness { $0.lifecycleSweepInterval = .milliseconds(20) }
        addTeardownBlock { await h.close() }
        let s = await h.create(extra: #""timeout_seconds":1,"auto_delete_seconds":1"#)
        let paused = await superserveEventually(timeout: .seconds(5)) { await h.status(s.id) == "paused" }
        XCTAssertTrue(paused, "timeout_seconds pauses after that much active time")
        let deleted = await superserveEventually(timeout: .seconds(5)) { await h.control(.GET, "/sandboxes/\(s.id)").status == 404 }
        XCTAssertTrue(deleted, "auto_delete_seconds deletes after that long paused")
        let removed = await superserveEventually { !FileManager.default.fileExists(atPath: h.root.appendingPathComponent(s.id).path) }
        XCTAssertTrue(removed, "and removes its directory")
    }
}
