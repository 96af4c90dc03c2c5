import Foundation
import HTTPServer
import JSON
@testable import SuperserveEmulator
import TestSupport
import XCTest

/// Contract tests of template builds as `setup template` uses them, driven by
/// superserve 0.11.4: the build log over SSE (`stream_build_logs`,
/// `wait_until_ready(on_log=…)`), a failed build as `BuildError` with its code, and
/// `rebuild()` of the failed template.
final class SuperserveTemplateBuildContractTests: XCTestCase {
    var harness: SuperserveHarness!
    var server: ServerHarness!
    var base: String { "http://127.0.0.1:\(server.port)" }

    override func setUp() async throws {
        harness = SuperserveHarness()
        server = try ServerHarness(router: harness.router)
    }

    override func tearDown() async throws {
        await server.stop()
        await harness.close()
    }

    func runSDK(_ script: String, file: StaticString = #filePath, line: UInt = #line) async throws -> [String: JSONValue] {
        let env = ["EMU": base, "SUPERSERVE_BASE_URL": base, "SUPERSERVE_API_KEY": SuperserveTestKeys.apiKey]
        let result: SDKPython.Result = try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                do { c.resume(returning: try SDKPython.run(script: SuperserveSDKContractTests.prelude + script, environment: env, timeout: 180)) }
                catch { c.resume(throwing: error) }
            }
        }
        XCTAssertEqual(result.status, 0, "SDK script failed:\n\(result.stderr.suffix(4000))", file: file, line: line)
        var steps: [String: JSONValue] = [:]
        for text in result.stdout.split(separator: "\n") {
            if let json = try? JSONValue.parse(Array(text.utf8)), let step = json["step"]?.stringValue { steps[step] = json }
        }
        return steps
    }

    func testBuildLogsStreamAFailedBuildIsABuildErrorAndRebuildMakesItReady() async throws {
        let steps = try await runSDK("""
            from superserve import BuildError
            from superserve.types import RunStep, WorkdirStep
            import urllib.request
            req = urllib.request.Request(EMU + "/_emulator/superserve/builds/fail", data=b'{"count":1}', method="POST")
            urllib.request.urlopen(req).read()
            t = Template.create(name="ops-tpl", from_="python:3.12-slim",
                                steps=[RunStep(run="apt-get install -y jq"), WorkdirStep(workdir="/workspace")])
            lines = []
            try:
                t.wait_until_ready(on_log=lambda e: lines.append([e.stream.value, e.text, e.finished, e.status]), poll_interval_s=0.1)
                out(step="first", error=None)
            except BuildError as e:
                out(step="first", error=e.code, lines=lines)
            info = Template.connect("ops-tpl").get_info()
            out(step="failed_info", status=info.status.value, error_message=info.error_message)
            build = t.rebuild()
            out(step="rebuild", status=build.status.value, template_id=build.template_id == t.id)
            t2 = Template.connect("ops-tpl")
            ready = t2.wait_until_ready(poll_interval_s=0.1)
            out(step="ready", status=ready.status.value)
            events = []
            t2.stream_build_logs(on_event=lambda e: events.append([e.stream.value, e.text]), build_id=build.id)
            out(step="replayed", events=events)
            """)
        let first = try XCTUnwrap(steps["first"])
        XCTAssertEqual(first["error"]?.stringValue, "step_failed")
        let lines = first["lines"]?.arrayValue ?? []
        XCTAssertTrue(lines.contains { $0.arrayValue?[1].stringValue == "Step 2/3: RUN apt-get install -y jq" }, "\(lines)")
        XCTAssertEqual(lines.last?.arrayValue?[3].stringValue, "failed", "the last event says the build failed")
        XCTAssertEqual(steps["failed_info"]?["status"]?.stringValue, "failed")
        XCTAssertTrue(steps["failed_info"]?["error_message"]?.stringValue?.hasPrefix("step_failed:") == true)
        XCTAssertEqual(steps["rebuild"]?["status"]?.stringValue, "pending")
        XCTAssertEqual(steps["rebuild"]?["template_id"]?.boolValue, true)
        XCTAssertEqual(steps["ready"]?["status"]?.stringValue, "ready")
        let replayed = steps["replayed"]?["events"]?.arrayValue ?? []
        XCTAssertTrue(replayed.contains { $0.arrayValue?[1].stringValue == "Step 1/3: FROM python:3.12-slim" }, "\(replayed)")
        XCTAssertEqual(replayed.last?.arrayValue?[1].stringValue, "build ready")
    }

    func testARebuildWhileABuildRunsIsAConflict() async throws {
        // A build that stays running for the whole script (a second or so).
        await server.stop()
        await harness.close()
        harness = SuperserveHarness { $0.templateBuildDelay = .seconds(5) }
        server = try ServerHarness(router: harness.router)
        let steps = try await runSDK("""
            t = Template.create(name="busy-tpl", from_="python:3.12-slim")
            try:
                t.rebuild()
                out(step="second", error=None)
            except ConflictError as e:
                out(step="second", error="conflict")
            """)
        XCTAssertEqual(steps["second"]?["error"]?.stringValue, "conflict")
    }
}
