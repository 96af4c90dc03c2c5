import APIClient
import EmulatedMode
import Foundation
import Logging
import Orchestrator
import TestSupport
import WorkQueue
import XCTest

/// A whole orchestrator on 127.0.0.1, port 0, in-process: the real server, drain,
/// launcher, janitor and, when emulated, both emulators on the same port.
final class RunningInstance: Sendable {
    let instance: OrchestratorApp
    /// The emulators on the instance's port, when emulated.
    let emulators: EmbeddedEmulators?
    let task: Task<Void, any Error>
    let sandboxes: URL
    var base: URL { instance.localURL }

    init(instance: OrchestratorApp, emulators: EmbeddedEmulators? = nil, sandboxes: URL) {
        self.instance = instance
        self.emulators = emulators
        self.sandboxes = sandboxes
        task = Task { try await instance.run(handleSignals: false) }
    }

    func stop() async {
        await instance.shutdown()
        _ = await task.result
        try? FileManager.default.removeItem(at: sandboxes)
    }

    /// Runs `body`, then stops the instance whether or not `body` threw.
    func scoped(_ body: () async throws -> Void) async throws {
        do { try await body() } catch {
            await stop()
            throw error
        }
        await stop()
    }

    // MARK: HTTP helpers

    @discardableResult
    func call(_ method: String, _ path: String, json: String? = nil, headers: [(String, String)] = [],
              timeout: Duration = .seconds(15)) async throws -> (status: Int, body: String, headers: [String: String]) {
        try await Self.call(method, URL(string: base.absoluteString + path)!, json: json, headers: headers, timeout: timeout)
    }

    static func call(_ method: String, _ url: URL, json: String? = nil, headers: [(String, String)] = [],
                     timeout: Duration = .seconds(15)) async throws -> (status: Int, body: String, headers: [String: String]) {
        var all = headers
        if json != nil { all.append(("Content-Type", "application/json")) }
        let response = try await URLSessionTransport().send(OutboundRequest(
            method: method, url: url, headers: all, body: json.map { Data($0.utf8) }, timeout: timeout))
        return (response.status, String(decoding: response.body, as: UTF8.self), response.headers)
    }

    func object(_ method: String, _ path: String, json: String? = nil) async throws -> [String: Any] {
        let answer = try await call(method, path, json: json)
        guard (200..<300).contains(answer.status),
              let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any] else {
            throw HarnessError("\(method) \(path) → \(answer.status) \(answer.body)")
        }
        return object
    }

    /// `/status`'s drain counters: drains started, and triggers the webhook route sent.
    func drainsStarted() async throws -> Int {
        try await drainStatus()["drains_started"] as? Int ?? -1
    }

    func drainTriggers() async throws -> Int {
        try await drainStatus()["triggers"] as? Int ?? -1
    }

    private func drainStatus() async throws -> [String: Any] {
        try await object("GET", "/status")["drain"] as? [String: Any] ?? [:]
    }

    /// Waits (polling, never a fixed sleep) until `condition` holds.
    func eventually(_ what: String, timeout: Duration = .seconds(60), interval: Duration = .milliseconds(100),
                    _ condition: () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: interval)
        }
        throw HarnessError("timed out waiting for \(what)")
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum Harness {
    static let packageRoot = SDKPython.packageRoot

    /// Starts an emulated instance. `environment` adds or overrides variables; a
    /// `python` bin folder makes `python3` inside sandboxes that interpreter.
    static func start(mode: Configuration.Mode = .webhook, environment: [String: String] = [:],
                      pythonBin: URL? = nil, workHandler: (any WorkHandler)? = nil,
                      logger: Logger = quietLogger()) async throws -> RunningInstance {
        let sandboxes = FileManager.default.temporaryDirectory.appendingPathComponent("cma-test-\(UUID().uuidString.prefix(8))")
        var env = environment
        env["CMA_EMULATOR_SANDBOXES"] = sandboxes.path
        env["CMA_EMULATOR_PYTHON_BIN"] = (pythonBin ?? URL(fileURLWithPath: "/usr/bin")).path
        env["CMA_SHUTDOWN_GRACE_SECONDS"] = env["CMA_SHUTDOWN_GRACE_SECONDS"] ?? "2"
        let configuration = try Configuration.load(mode: mode, environment: env,
                                                   overrides: CommandLineOverrides(host: "127.0.0.1", port: 0, emulated: true),
                                                   workingDirectory: packageRoot)
        let emulators = try EmbeddedEmulators(configuration: configuration, logger: logger)
        let instance = try await OrchestratorApp.start(configuration: configuration, logger: logger, workHandler: workHandler,
                                                localUpstreams: emulators)
        return RunningInstance(instance: instance, emulators: emulators, sandboxes: sandboxes)
    }

    static func quietLogger() -> Logger {
        var logger = Logger(label: "test.orchestrator")
        logger.logLevel = .critical
        return logger
    }

    /// The SDK venv's bin folder (anthropic 2.10.0), created on first use.
    static func sdkPythonBin() throws -> URL {
        URL(fileURLWithPath: try SDKPython.python()).deletingLastPathComponent()
    }
}

/// A work handler that records what it was given and hands every item off.
final class RecordingHandler: WorkHandler, Sendable {
    private let items = Locked<[WorkItem]>([])
    func handle(_ item: WorkItem, from drainer: Drainer) async -> WorkOutcome {
        items.withLock { $0.append(item) }
        return .handedOff
    }
    var handled: [WorkItem] { items.withLock { $0 } }
}

