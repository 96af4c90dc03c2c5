import Foundation
import LocalSandboxes

/// The official SDKs the contract and end-to-end tests drive: one venv under
/// `.build/`, created on first use. Missing python3 or pip fails the test with a
/// clear message; it never skips.
public enum SDKPython {
    public static let requirements = [
        "anthropic[webhooks]==2.10.0",
        "superserve==0.11.4",
        "standardwebhooks==1.1.0",
    ]

    /// The package root (two levels above this file's folder).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static let environment = PythonEnvironment(
        directory: packageRoot.appendingPathComponent(".build/python-sdk"),
        requirements: requirements)

    /// Path of the venv's python3, creating the venv if needed.
    public static func python() throws -> String {
        try environment.ensure().path
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs a Python script (source text) with the SDK venv, extra environment and a
    /// deadline; the process is killed when the deadline passes.
    public static func run(script: String, environment extra: [String: String] = [:], timeout: TimeInterval = 120) throws -> Result {
        let py = try python()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cma-sdk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("script.py")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: py)
        process.arguments = [file.path]
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("ANTHROPIC_") || key.hasPrefix("SUPERSERVE_") { env[key] = nil }
        env.merge(extra) { _, new in new }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter(); DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.wait()
        process.waitUntilExit()
        killer.cancel()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
