import APIClient
import Foundation
import Orchestrator
import TestSupport
import XCTest

/// The built binary as a pod runs it, with both emulators as separate processes on
/// loopback ports (`cma-orchestrator emulate anthropic|superserve`): the orchestrator
/// can be SIGTERMed and SIGKILLed and started again against the same upstreams.
final class PodLifeStack: @unchecked Sendable {
    static let environmentID = "env_podlife"
    static let environmentKey = "sk-ant-oat01-podlife"
    static let superserveKey = "ss_podlife"

    /// One emulator process; its port is read from its `emulator.listening` line.
    final class Emulator: @unchecked Sendable {
        let process = Process()
        let output = Locked("")
        private let pipe = Pipe()
        private(set) var base = ""

        init(_ arguments: [String]) async throws {
            var env = ServeProcess.baseEnvironment()
            env["CMA_LOG_FORMAT"] = "json"
            process.executableURL = URL(fileURLWithPath: try ServeProcess.binary())
            process.arguments = arguments + ["--host", "127.0.0.1", "--port", "0"]
            process.currentDirectoryURL = SDKPython.packageRoot
            process.environment = env
            process.standardOutput = pipe
            process.standardError = pipe
            let output = self.output
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                output.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            while base.isEmpty, Date() < deadline, process.isRunning {
                for line in output.withLock({ $0 }).split(separator: "\n") where line.contains("emulator.listening") {
                    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    if let port = object?["http.port"] as? String { base = "http://127.0.0.1:\(port)" }
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard !base.isEmpty else {
                stop()
                throw ServeProcess.Failure("\(arguments.joined(separator: " ")) did not log its port: \(output.withLock { $0 })")
            }
        }

        func stop() {
            pipe.fileHandleForReading.readabilityHandler = nil
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(60)
            while process.isRunning, Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    let directory: URL
    let sandboxes: URL
    let signingKey: String
    let anthropic: Emulator
    let superserve: Emulator
    let runnerScript: URL
    private let transport = URLSessionTransport(maxConnectionsPerHost: 16)

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cma-podlife-\(UUID().uuidString.prefix(8))")
        sandboxes = directory.appendingPathComponent("sandboxes")
        try FileManager.default.createDirectory(at: sandboxes, withIntermediateDirectories: true)
        // The runner of these tests holds its item as runner.py would, without the SDK:
        // a process that stays alive (launch.sh's test hook).
        runnerScript = directory.appendingPathComponent("runner.sh")
        try "exec sleep 600\n".write(to: runnerScript, atomically: true, encoding: .utf8)
        signingKey = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        // These tests are about a process's life (stops, kills, outages), not the team's
        // budget: the emulator's rate limit and 50-active quota are lifted, since a burst
        // of 100 runners that all stay alive cannot fit under the quota, and the rate
        // limit only stretches the burst past the tests' deadlines. The limits have their
        // own tests (SuperserveTeamLimitTests, QuotaRoomTests, LoopbackCallCountTests,
        // FaultScenarioTests at the real limits).
        superserve = try await Emulator(["emulate", "superserve", "--api-key", Self.superserveKey,
                                         "--sandboxes", sandboxes.path, "--unlimited"])
        do {
            anthropic = try await Emulator(["emulate", "anthropic", "--environment-id", Self.environmentID,
                                            "--environment-key", Self.environmentKey, "--signing-key", signingKey])
        } catch {
            superserve.stop()
            throw error
        }
    }

    func stop() {
        anthropic.stop()
        superserve.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The orchestrator's variables against these emulators, as a deployment sets them.
    func serveEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = [
            "ANTHROPIC_BASE_URL": anthropic.base,
            "ANTHROPIC_ENVIRONMENT_ID": Self.environmentID,
            "ANTHROPIC_ENVIRONMENT_KEY": Self.environmentKey,
            "ANTHROPIC_WEBHOOK_SIGNING_KEY": signingKey,
            "SUPERSERVE_API_KEY": Self.superserveKey,
            "SUPERSERVE_BASE_URL": superserve.base,
            "SUPERSERVE_SANDBOX_URL": superserve.base,
            "CMA_RUNNER_PYTHON": "sh",
            "CMA_RUNNER_ENTRY": runnerScript.path,
        ]
        env.merge(extra) { _, new in new }
        return env
    }

    func serve(_ mode: String = "serve", _ extra: [String: String] = [:]) async throws -> ServeProcess {
        try await ServeProcess(arguments: [mode, "--host", "127.0.0.1", "--port", "0"], environment: serveEnvironment(extra))
    }

    // MARK: HTTP

    struct Answer {
        var status: Int
        var body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
    }

    func call(_ method: String, _ url: String, json: String? = nil, headers: [(String, String)] = [],
              timeout: Duration = .seconds(10)) async throws -> Answer {
        var all = headers
        if json != nil { all.append(("Content-Type", "application/json")) }
        let response = try await transport.send(OutboundRequest(method: method, url: URL(string: url)!, headers: all,
                                                                body: json.map { Data($0.utf8) }, timeout: timeout))
        return Answer(status: response.status, body: String(decoding: response.body, as: UTF8.self))
    }

    /// A session with one queued work item (the emulator's control surface, never faulted).
    func createSession() async throws -> (session: String, work: String) {
        let answer = try await call("POST", "\(anthropic.base)/_emulator/sessions", json: "{}")
        guard answer.status == 200, let session = answer.object["session_id"] as? String,
              let work = answer.object["work_id"] as? String else {
            throw ServeProcess.Failure("session not created: \(answer.status) \(answer.body)")
        }
        return (session, work)
    }

    func setFaults(anthropic plan: String?) async throws {
        let answer = try await call(plan == nil ? "DELETE" : "POST", "\(anthropic.base)/_emulator/faults", json: plan)
        guard answer.status == 200 else { throw ServeProcess.Failure("anthropic faults: \(answer.body)") }
    }

    func setFaults(superserve plan: String?) async throws {
        let answer = try await call(plan == nil ? "DELETE" : "POST", "\(superserve.base)/_emulator/superserve/faults", json: plan)
        guard answer.status == 200 else { throw ServeProcess.Failure("superserve faults: \(answer.body)") }
    }

    /// Every work item the Anthropic emulator holds: id → (state, session).
    func workItems() async throws -> [(id: String, state: String, session: String?)] {
        let answer = try await call("GET", "\(anthropic.base)/_emulator/work")
        let data = answer.object["data"] as? [[String: Any]] ?? []
        return data.map { item in
            (item["id"] as? String ?? "", item["state"] as? String ?? "", (item["data"] as? [String: Any])?["id"] as? String)
        }
    }

    /// This environment's sandboxes as Superserve lists them (retried through injected faults).
    func sandboxes() async throws -> [(id: String, status: String, session: String?)] {
        let url = "\(superserve.base)/sandboxes?metadata.cma.environment_id=\(Self.environmentID)"
        for _ in 0..<50 {
            let answer = try await call("GET", url, headers: [("X-API-Key", Self.superserveKey)])
            guard answer.status == 200 else { try await Task.sleep(for: .milliseconds(100)); continue }
            let list = (answer.json as? [[String: Any]]) ?? (answer.object["data"] as? [[String: Any]]) ?? []
            return list.map { sandbox in
                (sandbox["id"] as? String ?? "", sandbox["status"] as? String ?? "",
                 (sandbox["metadata"] as? [String: String])?["cma.session_id"])
            }
        }
        throw ServeProcess.Failure("could not list sandboxes")
    }

    /// The runner of each sandbox that has one alive: sandbox id → the work id it serves
    /// (read from the sandbox's runner directory on disk, `/srv/cma`).
    func liveRunners() -> [String: String] {
        var runners: [String: String] = [:]
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: sandboxes.path)) ?? []
        for id in ids {
            let dir = sandboxes.appendingPathComponent(id).appendingPathComponent("fs/srv/cma")
            func read(_ name: String) -> String? {
                (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let pidText = read(".runner.pid"), let pid = Int32(pidText), read(".runner.exit") == nil,
                  kill(pid, 0) == 0, !Self.isZombie(pid), let work = read(".runner.work") else { continue }
            runners[id] = work
        }
        return runners
    }

    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }

    /// Waits (polling, with a deadline) until `condition` holds.
    func eventually(_ what: String, timeout: Duration, interval: Duration = .milliseconds(250),
                    _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: interval)
        }
        throw ServeProcess.Failure("timed out after \(timeout) waiting for \(what)")
    }

    /// Sends one signed `session.status_run_started` delivery to `serve`.
    func deliverWebhook(to serve: ServeProcess, session: String = "sesn_podlife") async throws -> Int {
        try await WebhookTrigger.send(url: URL(string: "\(serve.base)/webhooks")!, signingKey: signingKey,
                                      type: "session.status_run_started", sessionID: session).status
    }
}

/// What the shipped manifest says about a pod's stop (`deploy/kubernetes/base/deployment.yaml`).
struct ManifestShutdown {
    var terminationGraceSeconds: Int
    var preStopSleepSeconds: Int
    var shutdownGraceSeconds: Int

    /// When the kubelet sends SIGKILL, counted from SIGTERM: the grace period also
    /// covers the preStop hook that runs before SIGTERM.
    var sigkillAfterSIGTERM: Int { terminationGraceSeconds - preStopSleepSeconds }

    static func read() throws -> ManifestShutdown {
        let text = try String(contentsOf: SDKPython.packageRoot.appendingPathComponent("deploy/kubernetes/base/deployment.yaml"),
                              encoding: .utf8)
        func number(after key: String) -> Int? {
            guard let range = text.range(of: key) else { return nil }
            let rest = text[range.upperBound...].drop { !$0.isNumber }
            return Int(rest.prefix { $0.isNumber })
        }
        guard let grace = number(after: "terminationGracePeriodSeconds:"),
              let sleep = number(after: #"command: ["sleep", ""#),
              let shutdown = number(after: "name: CMA_SHUTDOWN_GRACE_SECONDS") else {
            throw ServeProcess.Failure("the manifest lacks the grace period, the preStop sleep or CMA_SHUTDOWN_GRACE_SECONDS")
        }
        return ManifestShutdown(terminationGraceSeconds: grace, preStopSleepSeconds: sleep, shutdownGraceSeconds: shutdown)
    }
}
