import APIClient
import SuperserveEmulator
import Foundation
import HTTPServer
import Logging
import Synchronization
import TestSupport
import XCTest
@testable import SandboxLifecycle

/// The lifecycle against the real Superserve emulator on a real `HTTPServer`
/// (127.0.0.1, port 0) with local process sandboxes. The runner is the fake from
/// `runner/tests/fake_runner.py`, shipped in the bundle and selected with
/// `CMA_RUNNER_ENTRY`, so no SDK is needed.
final class LoopbackHarness: Sendable {
    static let apiKey = "superserve-test-key"

    let root: URL
    let emulator: SuperserveEmulator
    let server: ServerHarness
    let client: SuperserveClient
    let locks = SessionLocks()
    let activity = SandboxActivity()
    let logs = LogRecorder()
    let bundle: RunnerBundle

    init(configure: (inout SuperserveEmulatorConfiguration) -> Void = { _ in }) throws {
        signal(SIGPIPE, SIG_IGN)   // a peer closing mid-answer must not kill the test process
        root = FileManager.default.temporaryDirectory.appendingPathComponent("cma-lc-\(UUID().uuidString.prefix(8))")
        var config = SuperserveEmulatorConfiguration(apiKey: Self.apiKey, sandboxesRoot: root)
        config.activateWait = .milliseconds(400)
        config.removeSandboxesOnShutdown = true
        configure(&config)
        var quiet = Logger(label: "test.superserve")
        quiet.logLevel = .critical
        emulator = SuperserveEmulator(configuration: config, logger: quiet)
        server = try ServerHarness(router: emulator.router)
        let base = URL(string: "http://127.0.0.1:\(server.port)")!
        client = SuperserveClient(configuration: SuperserveConfiguration(controlPlaneURL: base, dataPlaneURL: base, apiKey: Self.apiKey),
                                  transport: URLSessionTransport(), logger: logs.logger())
        let fake = try Data(contentsOf: RunnerBundleTests.runnerDirectory.appendingPathComponent("tests/fake_runner.py"))
        bundle = try RunnerBundle.load(from: RunnerBundleTests.runnerDirectory).adding(name: "fake_runner.py", contents: fake)
    }

    var baseURL: URL { URL(string: "http://127.0.0.1:\(server.port)")! }

    /// A launcher whose fake runner behaves per `mode` (run, exit0, exit3).
    func launcher(mode: String = "run", sleeper: any Sleeper = ContinuousSleeper(),
                  configure: (inout LauncherConfiguration) -> Void = { _ in }) -> SandboxLauncher {
        var config = LauncherConfiguration()
        config.environmentKey = "env-key-TEST"
        config.probeDelay = .milliseconds(500)
        config.runnerExtraEnvironment = ["CMA_RUNNER_ENTRY": "fake_runner.py", "FAKE_MODE": mode, "FAKE_LIFETIME": "60"]
        configure(&config)
        return SandboxLauncher(client: client, bundle: bundle, configuration: config, locks: locks, activity: activity,
                               logger: logs.logger(), sleeper: sleeper)
    }

    func close() async {
        await emulator.shutdown()
        await server.stop()
        try? FileManager.default.removeItem(at: root)
    }

    /// Waits until probe.sh in the sandbox reports the runner `exited` (rule 30's probe):
    /// the fake runner's exit is a process event, so tests wait for it, not for a time.
    func runnerExited(sandboxID: String) async -> Bool {
        await eventually {
            let result = try? await self.client.exec(SandboxAccess(try await self.client.activate(id: sandboxID)),
                                                     command: "sh /srv/cma/probe.sh", workingDirectory: "/srv/cma",
                                                     timeoutSeconds: 10)
            return result.flatMap { ProbeResult.parse($0.stdout) }?.state == .exited
        }
    }

    /// `/_emulator/superserve/calls` → counts per endpoint label.
    func calls() async throws -> [String: Int] {
        let response = try await URLSessionTransport().send(OutboundRequest(
            method: "GET", url: baseURL.appendingPathComponent("_emulator/superserve/calls"), timeout: .seconds(10)))
        let object = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        return object?["calls"] as? [String: Int] ?? [:]
    }

    func resetCalls() async throws {
        let response = try await URLSessionTransport().send(OutboundRequest(
            method: "DELETE", url: baseURL.appendingPathComponent("_emulator/superserve/calls"), timeout: .seconds(10)))
        XCTAssertEqual(response.status, 204)
    }

    /// `POST /_emulator/superserve/<name>` with a JSON body.
    func emulatorSwitch(_ name: String, _ body: [String: Any]) async throws {
        let response = try await URLSessionTransport().send(OutboundRequest(
            method: "POST", url: baseURL.appendingPathComponent("_emulator/superserve/\(name)"),
            headers: [("Content-Type", "application/json")],
            body: try JSONSerialization.data(withJSONObject: body), timeout: .seconds(10)))
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
    }

    /// Re-checks `condition` until it holds or the deadline passes.
    func eventually(timeout: Duration = .seconds(15), _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await condition()
    }

    static func request(work: String = "work_1", session: String = "sesn_1",
                        workMetadata: [String: String] = [:]) -> LaunchRequest {
        LaunchRequest(workID: work, sessionID: session, environmentID: "env_1", workMetadata: workMetadata,
                      workSecret: "work-secret-TEST", sessionsTokenPresent: true)
    }
}
