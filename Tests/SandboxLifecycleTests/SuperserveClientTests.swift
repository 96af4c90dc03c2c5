import APIClient
import Foundation
import Logging
import Synchronization
import TestSupport
import XCTest
@testable import SandboxLifecycle

final class SuperserveClientTests: XCTestCase {
    static let apiKey = "ss-key-TEST"

    func client(_ transport: HandlerTransport, configure: (inout SuperserveConfiguration) -> Void = { _ in }) -> SuperserveClient {
        var config = SuperserveConfiguration(controlPlaneURL: URL(string: "http://control.test")!,
                                             dataPlaneURL: URL(string: "http://data.test/")!, apiKey: Self.apiKey)
        configure(&config)
        return SuperserveClient(configuration: config, transport: transport, logger: Logger(label: "test"),
                                sleeper: RecordingSleeper())
    }

    func testControlPlaneSendsTheAPIKeyAndPercentEncodesMetadataFilters() async throws {
        let transport = HandlerTransport { _ in json(200, [sandboxJSON("sb1", token: nil)]) }
        let list = try await client(transport).listSandboxes(metadata: ["cma.session_id": "a+b&c=d#e f"], status: ["active"])
        XCTAssertEqual(list.map(\.id), ["sb1"])
        let request = try XCTUnwrap(transport.requests.first)
        XCTAssertEqual(request.method, "GET")
        XCTAssertEqual(request.header("X-API-Key"), Self.apiKey)
        XCTAssertNil(request.header("X-Access-Token"))
        XCTAssertEqual(request.url.query, "metadata.cma.session_id=a%2Bb%26c%3Dd%23e%20f&status=active")
        XCTAssertEqual(request.queryItems["metadata.cma.session_id"], "a+b&c=d#e f")
        XCTAssertEqual(request.timeout, .seconds(30))
    }

    func testCreateBodyIsStrictAndGetsTheLongTimeout() async throws {
        let transport = HandlerTransport { _ in json(201, sandboxJSON("sb1")) }
        let c = client(transport)
        let body = CreateSandboxRequest(name: "cma-s", fromTemplate: "cma-runner", metadata: ["cma.session_id": "s"],
                                        network: NetworkPolicy(allowOut: ["api.anthropic.com"], denyOut: ["0.0.0.0/0"]))
        _ = try await c.createSandbox(body)
        var withTimeouts = body
        withTimeouts.timeoutSeconds = 3600
        withTimeouts.autoDeleteSeconds = 0
        _ = try await c.createSandbox(withTimeouts)
        let (first, second) = (transport.requests[0], transport.requests[1])
        XCTAssertEqual(Set(first.jsonBody.keys), ["name", "from_template", "metadata", "network"])
        XCTAssertEqual(first.jsonBody["network"] as? [String: [String]],
                       ["allow_out": ["api.anthropic.com"], "deny_out": ["0.0.0.0/0"]])
        XCTAssertEqual(Set(second.jsonBody.keys), ["name", "from_template", "metadata", "network", "timeout_seconds", "auto_delete_seconds"])
        XCTAssertGreaterThanOrEqual(first.timeout, .seconds(75), "rule 21")
        XCTAssertEqual(first.header("Content-Type"), "application/json")
    }

    func testDataPlaneCallsCarryTheSandboxHeadersAndNeverTheAPIKey() async throws {
        let transport = HandlerTransport { request in
            request.url.path == "/exec" ? json(200, ["stdout": "{\"pid\":9}\n", "stderr": "", "exit_code": 0])
                                        : json(200, ["path": "/srv/cma/.bundle.tar", "size": 3])
        }
        let c = client(transport)
        let access = SandboxAccess(sandboxID: "sb1", accessToken: "tok-1-TEST", routingHint: "hint-1")
        try await c.writeFile(access, path: "/srv/cma/.bundle.tar", contents: Data([1, 2, 3]))
        let result = try await c.exec(access, command: "sh /srv/cma/launch.sh", workingDirectory: "/srv/cma",
                                      environment: ["ANTHROPIC_WORK_ID": "w"], timeoutSeconds: 45)
        XCTAssertEqual(result.exitCode, 0)
        let (write, exec) = (transport.requests[0], transport.requests[1])
        XCTAssertEqual(write.url.host, "data.test")
        XCTAssertEqual(write.url.path, "/files")
        XCTAssertEqual(write.url.query, "path=%2Fsrv%2Fcma%2F.bundle.tar")
        XCTAssertEqual(write.header("Content-Type"), "application/octet-stream")
        XCTAssertEqual(write.body, Data([1, 2, 3]))
        for request in [write, exec] {
            XCTAssertEqual(request.header("X-Superserve-Sandbox-Id"), "sb1")
            XCTAssertEqual(request.header("X-Access-Token"), "tok-1-TEST")
            XCTAssertEqual(request.header("X-Superserve-Routing-Hint"), "hint-1")
            XCTAssertNil(request.header("X-API-Key"))
        }
        XCTAssertEqual(exec.jsonBody["timeout_s"] as? Int, 45)
        XCTAssertEqual(exec.jsonBody["working_dir"] as? String, "/srv/cma")
        XCTAssertEqual(exec.jsonBody["env"] as? [String: String], ["ANTHROPIC_WORK_ID": "w"])
        XCTAssertEqual(exec.timeout, .seconds(50))
    }

    /// Rule 32: a 401 on the data plane activates once (single flight across
    /// concurrent callers) and retries once with the new token.
    func testUnauthorizedDataPlaneCallsShareOneRefreshAndRetry() async throws {
        let activations = Mutex(0)
        let unauthorized = Mutex(0)
        let transport = HandlerTransport { request in
            if request.url.path.hasSuffix("/activate") {
                activations.withLock { $0 += 1 }
                // Keep the refresh in flight until every caller has had its 401.
                _ = await ManualSleeper.waitUntil { unauthorized.withLock { $0 } >= 4 }
                return json(200, sandboxJSON("sb1", token: "tok-2-TEST"))
            }
            if request.header("X-Access-Token") == "tok-2-TEST" { return json(200, ["path": "/f", "size": 1]) }
            unauthorized.withLock { $0 += 1 }
            return InboundResponse(status: 401, headers: [:], body: Data("unauthorized\n".utf8))
        }
        let c = client(transport)
        let access = SandboxAccess(sandboxID: "sb1", accessToken: "tok-1-TEST", routingHint: nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { try await c.writeFile(access, path: "/f", contents: Data([1])) }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(activations.withLock { $0 }, 1)
        XCTAssertEqual(access.credentials.accessToken, "tok-2-TEST")
        XCTAssertEqual(transport.calls.filter { $0 == "POST /files" }.count, 8)
    }

    func testRefreshTriggersFollowSuperserve0_11_4() async throws {
        // (first answer, refresh expected)
        let cases: [(InboundResponse, Bool)] = [
            (InboundResponse(status: 403, headers: [:], body: Data()), true),
            (errorResponse(404, "sandbox_route_stale"), true),
            (errorResponse(404, "not_found"), false),
            (errorResponse(503, "sandbox_unavailable"), true),
            (InboundResponse(status: 502, headers: ["retry-after": "2"], body: Data("bad gateway".utf8)), false),
            (errorResponse(400, "bad_request"), false),
        ]
        for (first, refresh) in cases {
            let answered = Mutex(false)
            let transport = HandlerTransport { request in
                if request.url.path.hasSuffix("/activate") { return json(200, sandboxJSON("sb1", token: "tok-2-TEST")) }
                let firstCall = answered.withLock { done in defer { done = true }; return !done }
                return firstCall ? first : json(200, ["path": "/f", "size": 1])
            }
            let access = SandboxAccess(sandboxID: "sb1", accessToken: "tok-1-TEST", routingHint: nil)
            let result = await capture { () async throws(SandboxLifecycleError) in
                try await self.client(transport).writeFile(access, path: "/f", contents: Data())
            }
            XCTAssertEqual(transport.calls.contains("POST /sandboxes/sb1/activate"), refresh, "status \(first.status)")
            switch result {
            case .success: XCTAssertTrue(refresh, "status \(first.status)")
            case .failure(let error):
                XCTAssertFalse(refresh, "status \(first.status)")
                XCTAssertEqual(error.status, first.status)
                XCTAssertFalse(error.description.contains("tok-1-TEST"))
            }
        }
    }

    func testPauseIsAsyncAndTreatsPausingAnd409AsOutcomes() async throws {
        let answers = Mutex([InboundResponse(status: 204, headers: [:], body: Data()),
                             json(202, ["status": "pausing"]),
                             errorResponse(409, "conflict"),
                             errorResponse(404, "not_found")])
        let transport = HandlerTransport { _ in answers.withLock { $0.removeFirst() } }
        let c = client(transport)
        var outcomes: [SuperserveClient.PauseOutcome] = []
        for _ in 0..<4 { outcomes.append(try await c.pause(id: "sb1")) }
        XCTAssertEqual(outcomes, [.accepted, .accepted, .notActive, .gone])
        XCTAssertTrue(transport.requests.allSatisfy { $0.header("Prefer") == "respond-async" })
        XCTAssertTrue(transport.requests.allSatisfy { $0.timeout >= .seconds(75) }, "rule 21")
    }

    func testErrorsCarryStatusCodeAndMessageOnly() async {
        let transport = HandlerTransport { _ in
            json(409, ["error": ["code": "sandbox_pausing", "message": "Sandbox is pausing"]], headers: ["retry-after": "3"])
        }
        let result = await capture { () async throws(SandboxLifecycleError) in
            try await self.client(transport).activate(id: "sb1")
        }
        guard case .failure(let error) = result else { return XCTFail("expected failure") }
        XCTAssertEqual(error.status, 409)
        XCTAssertEqual(error.code, "sandbox_pausing")
        XCTAssertEqual(error.description, "HTTP 409 sandbox_pausing: Sandbox is pausing")
        XCTAssertFalse(error.description.contains(Self.apiKey))
    }

    func testUpdateNeedsSomethingToChangeAndSendsOnlyWhatIsGiven() async throws {
        let transport = HandlerTransport { _ in InboundResponse(status: 204, headers: [:], body: Data()) }
        let c = client(transport)
        try await c.updateSandbox(id: "sb1", metadata: ["cma.session_id": "s"])
        XCTAssertEqual(Set(transport.requests[0].jsonBody.keys), ["metadata"])
        try await c.updateSandbox(id: "sb1", network: NetworkPolicy(allowOut: ["h"], denyOut: ["0.0.0.0/0"]))
        XCTAssertEqual(transport.requests[1].jsonBody["network"] as? [String: [String]], ["allow_out": ["h"], "deny_out": ["0.0.0.0/0"]])
        let empty = await capture { () async throws(SandboxLifecycleError) in try await c.updateSandbox(id: "sb1") }
        guard case .failure = empty else { return XCTFail("an empty PATCH is a 400 upstream; refuse it") }
        XCTAssertEqual(transport.requests.count, 2)
    }

    func testTemplateBuildPollsUntilReadyAndFailsOnFailedBuilds() async throws {
        for final in ["ready", "failed", "cancelled"] {
            let polls = Mutex(0)
            let transport = HandlerTransport { request in
                switch (request.method, request.url.path) {
                case ("POST", "/templates"):
                    return json(202, ["id": "t1", "team_id": "team", "name": "cma-runner", "status": "building",
                                      "created_at": "2026-11-01T12:00:00Z", "build_id": "b1"])
                case ("GET", "/templates/t1/builds/b1"):
                    let n = polls.withLock { $0 += 1; return $0 }
                    return json(200, ["id": "b1", "template_id": "t1", "status": n < 3 ? "building" : final,
                                      "build_spec_hash": "h", "created_at": "2026-11-01T12:00:00Z", "error_message": "step_failed: x"])
                default:
                    return json(200, ["id": "t1", "team_id": "team", "name": "cma-runner", "status": "ready",
                                      "created_at": "2026-11-01T12:00:00Z"])
                }
            }
            let sleeper = RecordingSleeper()
            var config = SuperserveConfiguration(controlPlaneURL: URL(string: "http://control.test")!, apiKey: Self.apiKey)
            config.buildPollInterval = .seconds(2)
            let c = SuperserveClient(configuration: config, transport: transport, logger: Logger(label: "t"), sleeper: sleeper)
            let result = await capture { () async throws(SandboxLifecycleError) in try await c.buildTemplate(body: Data("{}".utf8)) }
            XCTAssertEqual(sleeper.durations, [.seconds(2), .seconds(2)], final)
            switch (final, result) {
            case ("ready", .success(let template)): XCTAssertEqual(template.status, "ready")
            case (_, .failure(.buildFailed(let detail))): XCTAssertTrue(detail.hasPrefix(final), detail)
            default: XCTFail("\(final): \(result)")
            }
        }
    }
}

extension SuperserveClientTests {
    /// Rule 35: a 429 pauses the shared bucket for `Retry-After`; the next call waits.
    func testRateLimitAnswerPausesTheSharedBucket() async throws {
        let sleeper = ManualSleeper()
        let first = Mutex(true)
        let transport = HandlerTransport { _ in
            let isFirst = first.withLock { f in defer { f = false }; return f }
            return isFirst ? errorResponse(429, "rate_limited", headers: ["retry-after": "3"]) : json(200, [])
        }
        let c = SuperserveClient(configuration: SuperserveConfiguration(controlPlaneURL: URL(string: "http://control.test")!,
                                                                        apiKey: Self.apiKey),
                                 transport: transport, logger: Logger(label: "t"), sleeper: sleeper)
        let limited = await capture { () async throws(SandboxLifecycleError) in try await c.listSandboxes(metadata: ["k": "v"]) }
        XCTAssertEqual(limited.failureStatus, 429)
        let next = Task { try await c.listSandboxes(metadata: ["k": "v"]) }
        let parked = await sleeper.waitForSleepers(1)
        XCTAssertTrue(parked)
        XCTAssertEqual(transport.requests.count, 1, "the second call waits for the bucket")
        XCTAssertGreaterThanOrEqual(sleeper.requestedSleeps.last ?? .zero, .seconds(3))
        sleeper.advance(by: .seconds(3))
        // The bucket refills from empty after the pause: let the refill wait pass too.
        while transport.requests.count < 2, await sleeper.waitForSleepers(1, timeout: .milliseconds(300)) {
            XCTAssertLessThan(sleeper.requestedSleeps.last ?? .zero, .seconds(1))
            sleeper.advanceToNextDeadline()
        }
        _ = try await next.value
        XCTAssertEqual(transport.requests.count, 2)
    }

    /// Rule 35: at most `maxInFlight` calls at once.
    func testInFlightCallsAreCapped() async throws {
        let current = Mutex((now: 0, peak: 0))
        let release = Gate()
        let transport = HandlerTransport { _ in
            current.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            await release.wait()
            current.withLock { $0.now -= 1 }
            return json(200, [])
        }
        let c = client(transport) { $0.maxInFlight = 3; $0.burst = 100; $0.ratePerSecond = 1000 }
        let calls = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 { group.addTask { _ = try await c.listSandboxes(metadata: ["k": "v"]) } }
                try await group.waitForAll()
            }
        }
        // All twelve calls accounted for while the transport holds its callers:
        // three in flight, nine queued for a slot.
        let settled = await ManualSleeper.waitUntil { current.withLock { $0.now } == 3 && c.inFlight.waiting == 9 }
        XCTAssertTrue(settled, "in flight: \(current.withLock { $0.now }), queued: \(c.inFlight.waiting)")
        release.open()
        try await calls.value
        XCTAssertEqual(current.withLock { $0.peak }, 3)
    }
}

extension Result where Failure == SandboxLifecycleError {
    var failureStatus: Int? {
        if case .failure(let error) = self { return error.status }
        return nil
    }
}
