import AnthropicEmulator
import Foundation
import HTTPServer
import HTTPWire
import JSON
import Logging
import Synchronization
import TestSupport
import XCTest

/// Contract tests: the emulator on a real `HTTPServer` (port 0) driven by the official
/// Python SDK anthropic 2.10.0 (anthropic.md §10), the client the orchestrator's runner uses.
final class AnthropicSDKContractTests: XCTestCase {
    var emulator: AnthropicEmulator!
    var harness: ServerHarness!
    var base: String { "http://127.0.0.1:\(harness.port)" }
    /// Deliveries received by the test's own webhook route (`/test-hook`).
    let received = Received()

    final class Received: Sendable {
        let deliveries = Mutex<[(headers: [String: String], body: [UInt8])]>([])
    }

    override func setUp() async throws {
        // HTTPServer writes answers with write(2) and does not ignore SIGPIPE (yet): an
        // SDK client that closes a finished event stream or a dropped answer can then
        // kill the whole test process with signal 13. Reported to the lead/server; the
        // server (or `main`) should set SIG_IGN or send with MSG_NOSIGNAL. Remove this then.
        signal(SIGPIPE, SIG_IGN)
        var config = AnthropicTestKeys.configuration()
        config.ssePingInterval = .seconds(1)
        let logger = LogRecorder().logger()
        emulator = AnthropicEmulator(configuration: config, logger: logger)
        var router = emulator.router
        router.add(.POST, "/test-hook", .sync { [received] request in
            var headers: [String: String] = [:]
            for (name, value) in request.headers { headers[name.lowercased()] = value }
            received.deliveries.withLock { $0.append((headers, request.body)) }
            return .json("{\"status\":\"queued\"}")
        })
        harness = try ServerHarness(router: router)
    }

    override func tearDown() async throws {
        await emulator.shutdown()
        await harness.stop()
    }

    /// Runs an SDK script off the cooperative pool (the SDK helper blocks its thread
    /// while the process runs, and the emulator's handlers need the pool meanwhile).
    func runSDK(_ script: String, file: StaticString = #filePath, line: UInt = #line) async throws -> [JSONValue] {
        let env = ["BASE": base, "ENV": "env_test", "KEY": AnthropicTestKeys.environmentKey]
        let result: SDKPython.Result = try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                do { c.resume(returning: try SDKPython.run(script: Self.prelude + script, environment: env, timeout: 120)) }
                catch { c.resume(throwing: error) }
            }
        }
        XCTAssertEqual(result.status, 0, "SDK script failed:\n\(result.stderr.suffix(4000))", file: file, line: line)
        return result.stdout.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
    }

    static let prelude = """
        import asyncio, json, os, sys
        import anthropic
        from anthropic import AsyncAnthropic
        BASE, ENV, KEY = os.environ["BASE"], os.environ["ENV"], os.environ["KEY"]
        def out(**kw): print(json.dumps(kw), flush=True)

        """

    func testOfficialPollerDrainsEveryEnqueuedItemInOrderAndAcksThem() async throws {
        let ids = try (0..<3).map { _ in try emulator.createSession().workID }
        let lines = try await runSDK("""
            async def main():
                client = AsyncAnthropic(base_url=BASE, api_key=None)
                got = []
                async for item in client.beta.environments.work.poller(environment_id=ENV, environment_key=KEY, drain=True,
                        auto_stop=False, block_ms=None, reclaim_older_than_ms=2000):
                    got.append(item.id)
                out(ids=got)
            asyncio.run(main())
            """)
        XCTAssertEqual(lines.last?["ids"], .array(ids.map { .string($0) }))
        let items = emulator.snapshot.items
        XCTAssertEqual(ids.map { items[$0]?.state }, [.starting, .starting, .starting], "acked, and no stop (auto_stop=False)")
        XCTAssertEqual(items[ids[0]]?.calls.map(\.kind), ["poll", "ack"])
    }

    func testRawPollOnAnEmptyQueueReturnsNone() async throws {
        let lines = try await runSDK("""
            async def main():
                work = AsyncAnthropic(base_url=BASE, api_key=None, auth_token=KEY).beta.environments.work
                out(item=await work.poll(ENV), blocking=await work.poll(ENV, block_ms=50))
            asyncio.run(main())
            """)
        XCTAssertEqual(lines.last, .object([("item", .null), ("blocking", .null)]))
    }

    func testSecondAckRaisesConflictErrorAfterOneRequest() async throws {
        let created = try emulator.createSession()
        let lines = try await runSDK("""
            async def main():
                work = AsyncAnthropic(base_url=BASE, api_key=None, auth_token=KEY).beta.environments.work
                item = await work.poll(ENV)
                first = await work.ack(item.id, environment_id=ENV)
                try:
                    await work.ack(item.id, environment_id=ENV)
                    out(conflict=False, state=first.state)
                except anthropic.ConflictError:
                    out(conflict=True, state=first.state)
            asyncio.run(main())
            """)
        XCTAssertEqual(lines.last, .object([("conflict", .bool(true)), ("state", .string("starting"))]))
        let calls = emulator.snapshot.items[created.workID]?.calls ?? []
        XCTAssertEqual(calls.map(\.kind), ["poll", "ack", "ack"], "x-should-retry: false keeps it to one request (§2.4)")
        XCTAssertEqual(calls.map(\.status), [200, 200, 409])
    }

    func testHeartbeatWithAWrongExpectedValueRaisesPreconditionFailedError() async throws {
        let created = try emulator.createSession()
        let lines = try await runSDK("""
            from anthropic.types.beta.environments import BetaHeartbeatPreconditionFailedError
            async def main():
                work = AsyncAnthropic(base_url=BASE, api_key=None, auth_token=KEY).beta.environments.work
                item = await work.poll(ENV)
                await work.ack(item.id, environment_id=ENV)
                beat = await work.heartbeat(item.id, environment_id=ENV, expected_last_heartbeat="NO_HEARTBEAT")
                again = await work.heartbeat(item.id, environment_id=ENV, expected_last_heartbeat=beat.last_heartbeat)
                try:
                    await work.heartbeat(item.id, environment_id=ENV, expected_last_heartbeat="2020-01-01T00:00:00Z")
                    out(raised=False)
                except anthropic.PreconditionFailedError as e:
                    out(raised=True, specific=isinstance(e, BetaHeartbeatPreconditionFailedError), state=again.state,
                        extended=again.lease_extended, current=e.body["error"]["details"]["current_state"]["last_heartbeat"],
                        last=again.last_heartbeat)
            asyncio.run(main())
            """)
        let last = try XCTUnwrap(lines.last)
        XCTAssertEqual(last["raised"]?.boolValue, true)
        XCTAssertEqual(last["specific"]?.boolValue, true)
        XCTAssertEqual(last["state"]?.stringValue, "active")
        XCTAssertEqual(last["extended"]?.boolValue, true)
        XCTAssertEqual(last["current"], last["last"])
        XCTAssertEqual(emulator.snapshot.items[created.workID]?.lastHeartbeat, last["last"]?.stringValue)
    }

    func testSecondStopRaisesConflictError() async throws {
        let created = try emulator.createSession()
        let lines = try await runSDK("""
            async def main():
                work = AsyncAnthropic(base_url=BASE, api_key=None, auth_token=KEY).beta.environments.work
                graceful = await work.stop("\(created.workID)", environment_id=ENV)
                forced = await work.stop("\(created.workID)", environment_id=ENV, force=True)
                try:
                    await work.stop("\(created.workID)", environment_id=ENV, force=True)
                    out(graceful=graceful.state, forced=forced.state, conflict=False)
                except anthropic.ConflictError as e:
                    out(graceful=graceful.state, forced=forced.state, conflict=True, retry=e.response.headers.get("x-should-retry"))
            asyncio.run(main())
            """)
        XCTAssertEqual(lines.last, .object([("graceful", .string("stopping")), ("forced", .string("stopped")),
                                            ("conflict", .bool(true)), ("retry", .string("false"))]))
        XCTAssertEqual(emulator.snapshot.items[created.workID]?.calls.map(\.status), [200, 200, 409])
    }

    /// §8: the SDK worker runs one scripted bash call end to end with the work secret
    /// alone (no environment key), posts `hello`, and force-stops the item at the end.
    func testWorkerHandleItemRunsTheScriptedBashCallEndToEnd() async throws {
        let created = try emulator.createSession(metadata: ["superserve.sandbox_id": "sbx-test"], toolCalls: [
            AnthropicScriptedToolCall(name: "bash", input: .object([("command", .string("echo hello"))])),
        ])
        let lines = try await runSDK("""
            import tempfile
            async def main():
                keyed = AsyncAnthropic(base_url=BASE, api_key=None, auth_token=KEY).beta.environments.work
                item = await keyed.poll(ENV, reclaim_older_than_ms=2000)
                await keyed.ack(item.id, environment_id=ENV)
                client = AsyncAnthropic(base_url=BASE, api_key=None)
                worker = client.beta.environments.work.worker(workdir=tempfile.mkdtemp(), max_idle=5)
                await asyncio.wait_for(worker.handle_item(work_id=item.id, session_id=item.data.id, environment_id=ENV,
                                                          work_secret=item.secret), 90)
                out(work=item.id, session=item.data.id)
            asyncio.run(main())
            """)
        XCTAssertEqual(lines.last?["work"]?.stringValue, created.workID)
        let state = emulator.snapshot
        let events = state.sessions[created.sessionID]?.events ?? []
        let result = try XCTUnwrap(events.first { $0["type"]?.stringValue == "user.tool_result" })
        XCTAssertEqual(result["content"]?.arrayValue?.first?["text"]?.stringValue, "hello")
        XCTAssertEqual(result["is_error"]?.boolValue, false)
        XCTAssertEqual(result["tool_use_id"], events.first?["id"])
        XCTAssertEqual(state.items[created.workID]?.state, .stopped)
        let kinds = state.items[created.workID]?.calls.map(\.kind) ?? []
        XCTAssertTrue(kinds.contains("heartbeat"))
        XCTAssertEqual(kinds.last, "stop")
    }

    /// §8 step 6: after `session.status_idle` with `end_turn` the runner ends once
    /// `max_idle` passes, then force-stops the item.
    func testWorkerEndsAfterMaxIdleWhenTheSessionIdlesWithEndTurn() async throws {
        let created = try emulator.createSession(toolCalls: [
            AnthropicScriptedToolCall(name: "bash", input: .object([("command", .string("exit 3"))])),
        ], end: .idle)
        let lines = try await runSDK("""
            import tempfile, time
            async def main():
                keyed = AsyncAnthropic(base_url=BASE, api_key=None, auth_token=KEY).beta.environments.work
                item = await keyed.poll(ENV)
                await keyed.ack(item.id, environment_id=ENV)
                worker = AsyncAnthropic(base_url=BASE, api_key=None).beta.environments.work.worker(workdir=tempfile.mkdtemp(), max_idle=1)
                started = time.monotonic()
                await asyncio.wait_for(worker.handle_item(work_id=item.id, session_id=item.data.id, environment_id=ENV,
                                                          work_secret=item.secret), 60)
                out(seconds=time.monotonic() - started)
            asyncio.run(main())
            """)
        XCTAssertLessThan(try XCTUnwrap(lines.last?["seconds"]?.doubleValue), 30)
        let state = emulator.snapshot
        let events = state.sessions[created.sessionID]?.events ?? []
        XCTAssertEqual(events.map { $0["type"]?.stringValue ?? "" }, ["agent.tool_use", "user.tool_result", "session.status_idle"])
        XCTAssertEqual(events[1]["is_error"]?.boolValue, true, "a non-zero exit becomes is_error (§8 step 5)")
        XCTAssertEqual(state.sessions[created.sessionID]?.status, "idle")
        XCTAssertEqual(state.items[created.workID]?.state, .stopped)
    }

    /// Fault switches (§8.1) reach the SDK as its own error classes (§10), and a
    /// faulted ack leaves the item untouched.
    func testInjectedFaultsReachTheSDKAsItsErrorClasses() async throws {
        let created = try emulator.createSession()
        let lines = try await runSDK("""
            import urllib.request
            def faults(body):
                req = urllib.request.Request(BASE + "/_emulator/faults", method="POST", data=json.dumps(body).encode())
                urllib.request.urlopen(req).read()
            async def attempt(call):
                try:
                    await call()
                    return "ok"
                except anthropic.APIStatusError as e:
                    return type(e).__name__ + ":" + str(e.status_code) + ":" + str(e.response.headers.get("retry-after"))
                except anthropic.APIConnectionError as e:
                    return type(e).__name__
            async def main():
                work = AsyncAnthropic(base_url=BASE, api_key=None, auth_token=KEY, max_retries=0).beta.environments.work
                results = {}
                faults({"error_rate": 1, "statuses": [429], "routes": "poll", "remaining": 1, "retry_after_seconds": 3})
                results["poll429"] = await attempt(lambda: work.poll(ENV))
                faults({"drop_rate": 1, "routes": ["poll"], "remaining": 1})
                results["pollDrop"] = await attempt(lambda: work.poll(ENV))
                item = await work.poll(ENV)
                faults({"error_rate": 1, "statuses": [500], "routes": "ack", "remaining": 1})
                results["ack500"] = await attempt(lambda: work.ack(item.id, environment_id=ENV))
                results["ack"] = await attempt(lambda: work.ack(item.id, environment_id=ENV))
                faults({"error_rate": 1, "statuses": [529], "routes": ["heartbeat"], "remaining": 1})
                results["beat529"] = await attempt(lambda: work.heartbeat(item.id, environment_id=ENV, expected_last_heartbeat="NO_HEARTBEAT"))
                results["beat"] = await attempt(lambda: work.heartbeat(item.id, environment_id=ENV, expected_last_heartbeat="NO_HEARTBEAT"))
                out(**results)
            asyncio.run(main())
            """)
        XCTAssertEqual(lines.last, .object([
            ("poll429", .string("RateLimitError:429:3")),
            ("pollDrop", .string("APIConnectionError")),
            ("ack500", .string("InternalServerError:500:None")),
            ("ack", .string("ok")),
            ("beat529", .string("OverloadedError:529:None")),
            ("beat", .string("ok")),
        ]))
        let calls = emulator.snapshot.items[created.workID]?.calls ?? []
        XCTAssertEqual(calls.map(\.kind), ["poll", "ack", "ack", "heartbeat", "heartbeat"])
        XCTAssertEqual(calls.map(\.injected), [false, true, false, true, false])
    }

    /// §7: what the emulator sends verifies with the SDK's own `webhooks.unwrap`.
    func testDeliveredWebhooksVerifyWithTheOfficialSDK() async throws {
        var config = AnthropicTestKeys.configuration()
        config.webhookURL = URL(string: "\(base)/test-hook")
        let sender = AnthropicEmulator(configuration: config, logger: LogRecorder().logger())
        let created = try sender.createSession()
        await assertEventually { self.received.deliveries.withLock { $0.count } == 1 }
        await sender.shutdown()
        let delivery = try XCTUnwrap(received.deliveries.withLock { $0.first })
        XCTAssertEqual(sender.webhookAttempts.map(\.status), [200])
        let headersJSON = JSONValue.stringMap(delivery.headers.filter { $0.key.hasPrefix("webhook-") }).serialized
        let bodyB64 = Data(delivery.body).base64EncodedString()
        let lines = try await runSDK("""
            import base64
            client = AsyncAnthropic(base_url=BASE, api_key=None)
            event = client.beta.webhooks.unwrap(base64.b64decode("\(bodyB64)").decode(), headers=json.loads('\(headersJSON)'),
                                                key="\(AnthropicTestKeys.signingKey)")
            out(type=event.data.type, id=event.data.id)
            """)
        XCTAssertEqual(lines.last, .object([("type", .string("session.status_run_started")), ("id", .string(created.sessionID))]))
    }
}
