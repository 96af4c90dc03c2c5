import Foundation

/// The built `cma-orchestrator` binary run as users run it: `serve --port 0 --emulated`
/// as a process, its combined output collected, and the bound address read from its
/// `server.listening` log line.
public final class ServeProcess: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The binary next to the test bundle (SwiftPM builds it with the tests).
    public static func binary() throws -> String {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("cma-orchestrator"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("cma-orchestrator"),
            SDKPython.packageRoot.appendingPathComponent(".build/debug/cma-orchestrator"),
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw Failure("cma-orchestrator is not built next to the tests: \(candidates.map(\.path))")
        }
        return found.path
    }

    /// This process's environment without the orchestrator's own variables.
    public static func baseEnvironment() -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("ANTHROPIC_") || key.hasPrefix("SUPERSERVE_") || key.hasPrefix("CMA_") {
            env[key] = nil
        }
        return env
    }

    public let process = Process()
    public let output = Locked("")
    private let pipe = Pipe()
    /// `http://127.0.0.1:<port>` once it listens.
    public private(set) var base = ""

    /// Starts `serve --port 0 --emulated` with JSON logs and `extra` variables, and waits
    /// up to 60 s for its address.
    public convenience init(pythonBin: String, sandboxes: URL, environment extra: [String: String] = [:]) async throws {
        var env: [String: String] = [:]
        env["CMA_EMULATOR_PYTHON_BIN"] = pythonBin
        env["CMA_EMULATOR_SANDBOXES"] = sandboxes.path
        env.merge(extra) { _, new in new }
        try await self.init(arguments: ["serve", "--port", "0", "--emulated"], environment: env)
    }

    /// Starts the binary with `arguments` (which must make it listen, e.g. `serve --port 0`),
    /// JSON logs and `extra` variables on top of `baseEnvironment()`, and waits up to 60 s
    /// for its address.
    public init(arguments: [String], environment extra: [String: String]) async throws {
        var env = Self.baseEnvironment()
        env["CMA_LOG_FORMAT"] = "json"
        env.merge(extra) { _, new in new }
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = arguments
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
        while base.isEmpty, Date() < deadline {
            base = logLines(message: "server.listening").first?["http.address"] as? String ?? ""
            try await Task.sleep(for: .milliseconds(50))
        }
        if base.isEmpty {
            stop()
            throw Failure("\(arguments.joined(separator: " ")) did not log its address: \(text)")
        }
    }

    public var text: String { output.withLock { $0 } }

    /// The port it listens on.
    public var port: Int { Int(base.split(separator: ":").last ?? "") ?? 0 }

    /// Its JSON log lines whose `msg` is `message`, oldest first.
    public func logLines(message: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { line -> [String: Any]? in
            guard line.contains("\"\(message)\"") else { return nil }
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["msg"] as? String == message ? object : nil
        }
    }

    /// SIGTERM, then wait up to 20 s; returns whether it exited.
    @discardableResult
    public func stop() -> Bool {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        let exited = !process.isRunning
        if exited { process.waitUntilExit() } else { process.terminate() }
        pipe.fileHandleForReading.readabilityHandler = nil
        // What the process wrote last may still sit in the pipe: read it to the end, so
        // lines flushed during shutdown are part of `text`.
        if exited, let rest = try? pipe.fileHandleForReading.readToEnd() {
            output.withLock { $0 += String(decoding: rest, as: UTF8.self) }
        }
        return exited
    }
}
