import JSON
@testable import SuperserveEmulator
import Foundation
import HTTPServer
import Logging
import TestSupport
import XCTest

/// Contract tests: the emulator on a real `HTTPServer` (port 0) driven by the official
/// Python SDK superserve 0.11.4 (superserve.md §10, §10.1, §10.2). The data plane is
/// redirected to the loopback emulator with the target-function patch of §10.1,
/// installed before any `Sandbox` exists.
final class SuperserveSDKContractTests: XCTestCase {
    var harness: SuperserveHarness!
    var server: ServerHarness!
    var base: String { "http://127.0.0.1:\(server.port)" }

    override func setUp() async throws {
        harness = SuperserveHarness { $0.pausingHold = .milliseconds(100) }
        server = try ServerHarness(router: harness.router)
    }

    override func tearDown() async throws {
        await server.stop()
        await harness.close()
    }

    static let prelude = """
        import json, os, sys
        import superserve
        import superserve.files, superserve.commands
        from superserve import Sandbox, NetworkConfig, ConflictError, NotFoundError, AuthenticationError, ValidationError, Template
        from superserve._config import DataPlaneTarget

        EMU = os.environ["EMU"]
        def _target(sandbox_id, sandbox_host=None):
            return DataPlaneTarget(url=EMU, headers={"X-Superserve-Sandbox-Id": sandbox_id})
        # superserve.md §10.1: both module globals, before any Sandbox is built.
        superserve.files.data_plane_target = _target
        superserve.commands.data_plane_target = _target

        import time as _time
        _t0 = _time.monotonic()
        def out(**fields):
            fields["t"] = round(_time.monotonic() - _t0, 3)
            print(json.dumps(fields), flush=True)

        """

    /// Runs an SDK script off the cooperative pool (it blocks its thread while the
    /// process runs; the emulator's handlers need the pool meanwhile). Returns the
    /// JSON lines it printed, keyed by their `step`.
    func runSDK(_ script: String, file: StaticString = #filePath, line: UInt = #line) async throws -> [String: JSONValue] {
        let env = ["EMU": base, "SUPERSERVE_BASE_URL": base, "SUPERSERVE_API_KEY": SuperserveTestKeys.apiKey]
        let result: SDKPython.Result = try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                do { c.resume(returning: try SDKPython.run(script: Self.prelude + script, environment: env, timeout: 180)) }
                catch { c.resume(throwing: error) }
            }
        }
        XCTAssertEqual(result.status, 0, "SDK script failed:\n\(result.stderr.suffix(4000))", file: file, line: line)
        if ProcessInfo.processInfo.environment["SUPERSERVE_SDK_TRACE"] != nil { print(result.stdout) }
        var steps: [String: JSONValue] = [:]
        for text in result.stdout.split(separator: "\n") {
            if let json = try? JSONValue.parse(Array(text.utf8)), let step = json["step"]?.stringValue { steps[step] = json }
        }
        return steps
    }

    func testOfficialSDKLifecycleAgainstTheEmulator() async throws {
        let steps = try await runSDK("""
            sb = Sandbox.create(name="cma-sesn_contract", from_template="cma-runner",
                                metadata={"cma.session_id": "sesn_contract", "cma.work_id": "work_1"},
                                network=NetworkConfig(allow_out=["api.anthropic.com"], deny_out=["0.0.0.0/0"]),
                                timeout_seconds=3600)
            out(step="create", id=sb.id, status=sb.status.value, metadata=sb.metadata)
            info = sb.get_info()
            out(step="info", allow=info.network.allow_out, deny=info.network.deny_out, preview=info.preview_access.value)

            other = Sandbox.create(name="cma-sesn_other", from_template="cma-runner", metadata={"cma.session_id": "sesn_other"})
            found = Sandbox.list(metadata={"cma.session_id": "sesn_contract"})
            out(step="list", ids=[s.id for s in found], statuses=[s.status.value for s in found])
            both = Sandbox.list(status=["active", "paused"])
            out(step="list_status", count=len(both))

            sb.files.write("/srv/cma/hello.txt", b"hello from the sdk")
            out(step="read", text=sb.files.read("/srv/cma/hello.txt").decode())
            r = sb.commands.run("cat /srv/cma/hello.txt; echo; echo \\"$GREETING\\"; pwd; exit 7",
                                cwd="/srv/cma", env={"GREETING": "hi there"}, timeout_seconds=20)
            out(step="run", stdout=r.stdout, stderr=r.stderr, exit_code=r.exit_code)
            streamed = []
            rs = sb.commands.run("echo one; echo two >&2", on_stdout=streamed.append)
            out(step="stream", stdout=rs.stdout, stderr=rs.stderr, exit_code=rs.exit_code, chunks="".join(streamed))

            sb.pause()
            import time
            deadline = time.monotonic() + 10
            while sb.get_info().status.value == "pausing" and time.monotonic() < deadline:
                time.sleep(0.05)
            out(step="paused", status=sb.get_info().status.value)
            try:
                sb.pause()
                out(step="pause_again", error=None)
            except ConflictError as e:
                out(step="pause_again", error=type(e).__name__, code=getattr(e, "code", None))
            sb.resume()
            out(step="resumed", status=sb.get_info().status.value)
            r2 = sb.commands.run("cat /srv/cma/hello.txt")
            out(step="after_resume", stdout=r2.stdout)

            sb.pause(wait=True)
            c = Sandbox.connect(sb.id)
            out(step="connect", status=c.status.value)
            try:
                c.resume()
                out(step="resume_after_connect", error=None)
            except ConflictError as e:
                out(step="resume_after_connect", error=type(e).__name__)
            out(step="connect_run", stdout=c.commands.run("echo connected").stdout)

            try:
                Sandbox.create(name="bad", from_template="cma-runner", metadata={"superserve.sandbox_id": "x"})
            except ValidationError as e:
                out(step="reserved", error=type(e).__name__)

            sb.update(metadata={"cma.session_id": "sesn_contract", "cma.paused_at": "now"})
            out(step="updated", metadata=sb.get_info().metadata)

            templates = Template.list(name_prefix="cma-")
            out(step="templates", names=[t.name for t in templates], statuses=[t.status.value for t in templates])

            sb.kill()
            other.kill()
            try:
                Sandbox.connect(sb.id)
                out(step="gone", error=None)
            except NotFoundError as e:
                out(step="gone", error=type(e).__name__)
            Sandbox.kill_by_id(sb.id)   # swallows 404
            out(step="done")
            """)
        let create = steps["create"]
        let id = try XCTUnwrap(create?["id"]?.stringValue)
        XCTAssertEqual(create?["status"]?.stringValue, "active")
        XCTAssertEqual(create?["metadata"], .object([("cma.session_id", .string("sesn_contract")), ("cma.work_id", .string("work_1"))]))
        XCTAssertEqual(steps["info"]?["allow"], .array([.string("api.anthropic.com")]))
        XCTAssertEqual(steps["info"]?["deny"], .array([.string("0.0.0.0/0")]))
        XCTAssertEqual(steps["info"]?["preview"]?.stringValue, "legacy_public")
        XCTAssertEqual(steps["list"]?["ids"], .array([.string(id)]))
        XCTAssertEqual(steps["list_status"]?["count"]?.intValue, 2)
        XCTAssertEqual(steps["read"]?["text"]?.stringValue, "hello from the sdk")
        XCTAssertEqual(steps["run"]?["exit_code"]?.intValue, 7)
        XCTAssertEqual(steps["run"]?["stdout"]?.stringValue,
                       "hello from the sdk\nhi there\n\(harness.hostPath(id, "/srv/cma"))\n")
        XCTAssertEqual(steps["stream"]?["stdout"]?.stringValue, "one\n")
        XCTAssertEqual(steps["stream"]?["stderr"]?.stringValue, "two\n")
        XCTAssertEqual(steps["stream"]?["chunks"]?.stringValue, "one\n")
        XCTAssertEqual(steps["paused"]?["status"]?.stringValue, "paused")
        XCTAssertEqual(steps["pause_again"]?["error"]?.stringValue, "ConflictError")
        XCTAssertEqual(steps["pause_again"]?["code"]?.stringValue, "conflict")
        XCTAssertEqual(steps["resumed"]?["status"]?.stringValue, "active")
        XCTAssertEqual(steps["after_resume"]?["stdout"]?.stringValue, "hello from the sdk", "files survive pause/resume")
        XCTAssertEqual(steps["connect"]?["status"]?.stringValue, "active", "connect (activate) resumes a paused sandbox")
        XCTAssertEqual(steps["resume_after_connect"]?["error"]?.stringValue, "ConflictError", "rule 19")
        XCTAssertEqual(steps["connect_run"]?["stdout"]?.stringValue, "connected\n")
        XCTAssertEqual(steps["reserved"]?["error"]?.stringValue, "ValidationError")
        XCTAssertEqual(steps["updated"]?["metadata"], .object([("cma.paused_at", .string("now")), ("cma.session_id", .string("sesn_contract"))]))
        XCTAssertEqual(steps["templates"]?["names"], .array([.string("cma-runner")]))
        XCTAssertEqual(steps["templates"]?["statuses"], .array([.string("ready")]))
        XCTAssertEqual(steps["gone"]?["error"]?.stringValue, "NotFoundError")
        XCTAssertNotNil(steps["done"])
    }

    func testOfficialSDKRefreshesAnExpiredTokenByActivatingOnce() async throws {
        let steps = try await runSDK("""
            sb = Sandbox.create(name="cma-refresh", from_template="cma-runner")
            out(step="before", stdout=sb.commands.run("echo before").stdout)
            import urllib.request
            urllib.request.urlopen(urllib.request.Request(EMU + "/_emulator/superserve/expire-tokens", data=b"", method="POST")).read()
            out(step="after", stdout=sb.commands.run("echo after").stdout)
            sb.files.write("/workspace/x", b"1")
            sb.pause()
            out(step="paused_write", size=len(sb.files.read("/workspace/x")), status=sb.get_info().status.value)
            sb.kill()
            """)
        XCTAssertEqual(steps["before"]?["stdout"]?.stringValue, "before\n")
        XCTAssertEqual(steps["after"]?["stdout"]?.stringValue, "after\n", "401 → activate → retry once (§8.4)")
        XCTAssertEqual(steps["paused_write"]?["size"]?.intValue, 1)
        XCTAssertEqual(steps["paused_write"]?["status"]?.stringValue, "active", "a data-plane call on a paused sandbox resumes it (§8.4)")
        let calls = await harness.send(.GET, "/_emulator/superserve/calls")
        XCTAssertGreaterThanOrEqual(calls.json?["calls"]?["sandboxes.activate"]?.intValue ?? 0, 2)
    }

    func testOfficialSDKSurfacesInjectedFaultsAsItsErrorClasses() async throws {
        let steps = try await runSDK("""
            from superserve import RateLimitError, ServerError
            import urllib.request
            def fault(body):
                urllib.request.urlopen(urllib.request.Request(EMU + "/_emulator/superserve/faults", data=json.dumps(body).encode(), method="POST")).read()
            fault({"error_rate": 1, "statuses": [500], "routes": ["sandboxes.create"]})
            try:
                Sandbox.create(name="x", from_template="cma-runner")
                out(step="create500", error=None)
            except ServerError as e:
                out(step="create500", error=type(e).__name__)
            fault({"error_rate": 1, "statuses": [429], "retry_after_seconds": 1, "routes": ["sandboxes.create"]})
            try:
                Sandbox.create(name="x", from_template="cma-runner")
                out(step="create429", error=None)
            except RateLimitError as e:
                out(step="create429", error=type(e).__name__)
            fault({"error_rate": 1, "statuses": [503], "remaining": 2, "routes": ["sandboxes.list"]})
            out(step="list_retried", count=len(Sandbox.list()))
            """)
        XCTAssertEqual(steps["create500"]?["error"]?.stringValue, "ServerError")
        XCTAssertEqual(steps["create429"]?["error"]?.stringValue, "RateLimitError")
        XCTAssertEqual(steps["list_retried"]?["count"]?.intValue, 0, "GET retried through two 503s (§9)")
        let calls = await harness.send(.GET, "/_emulator/superserve/calls")
        XCTAssertEqual(calls.json?["calls"]?["sandboxes.list"]?.intValue, 3)
    }
}
