import AnthropicEmulator
import LocalSandboxes
import Foundation
import TestSupport
import Webhooks
import XCTest

/// A command-line tool the deploy tests run. A missing tool fails the test (it never
/// skips), saying how to install it; `.ci/run` installs them all.
struct DeployTool {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    let path: String

    /// Finds `name` on PATH, in the sbin folders (nginx lives in /usr/sbin), or in the
    /// venv where `.ci/run` installs kubectl when the machine has none.
    static func require(_ name: String, package: String) throws -> DeployTool {
        try require(name, install: "apt-get install \(package)")
    }

    static func require(_ name: String, install: String) throws -> DeployTool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let extra = ["/usr/sbin", "/sbin", DeployFiles.root.appendingPathComponent(".build/kubectl-venv/bin").path]
        for dir in path.split(separator: ":").map(String.init) + extra {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return DeployTool(path: candidate) }
        }
        let underCI = ProcessInfo.processInfo.environment["CI"] == "true"
        throw Failure("\(name) is not installed (\(install))"
            + (underCI ? ": .ci/run should have installed it" : ", or run .ci/run, which installs it"))
    }

    /// Runs the tool to completion (60 s at most) and returns its status and combined output.
    @discardableResult
    func run(_ arguments: [String], input: URL? = nil, environment: [String: String]? = nil,
             timeout: TimeInterval = 60) throws -> LifecycleProcess.Result {
        try LifecycleProcess.run(path, arguments, directory: DeployFiles.root, environment: environment, input: input,
                                 timeout: timeout)
    }

    /// Runs the tool and fails unless it exits 0; returns its output.
    @discardableResult
    func succeed(_ arguments: [String], input: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try run(arguments, input: input)
        guard result.status == 0 else {
            throw Failure("`\(path) \(arguments.joined(separator: " "))` exited \(result.status):\n\(result.output)")
        }
        return result.output
    }
}

/// The repository's deploy files and a scratch folder per test.
enum DeployFiles {
    static let root = SDKPython.packageRoot
    static let deploy = root.appendingPathComponent("deploy")

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: deploy.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// A fresh folder under the temporary directory, removed when the test ends.
    static func scratch(_ test: XCTestCase, _ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cma-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// `text` with each `(old, new)` replaced, where `old` must occur exactly once: a
    /// shipped file that no longer has a templated line fails the test instead of
    /// silently testing something else.
    static func template(_ text: String, file: String, _ replacements: [(String, String)]) throws -> String {
        var out = text
        for (old, new) in replacements {
            let count = out.components(separatedBy: old).count - 1
            guard count == 1 else { throw DeployTool.Failure("\(file) has \(count) occurrences of `\(old)`, expected one") }
            out = out.replacingOccurrences(of: old, with: new)
        }
        return out
    }

    /// The Python environment with the offline Kubernetes schema validator (and PyYAML),
    /// created under `.build/` on first use like the SDK environment.
    static let validator = PythonEnvironment(
        directory: root.appendingPathComponent(".build/deploy-python"),
        requirements: ["kubernetes-validate==1.37.0"])
}

/// A signed Standard Webhooks delivery with the emulator's signing key, which
/// `serve --emulated` verifies with (orchestrator rule 38).
struct SignedWebhook {
    let id: String
    let headers: [String]
    let body: [UInt8]

    /// `padding` extra bytes in an unknown field make a large but valid delivery.
    init(type: String = "session.status_run_started", padding: Int = 0,
         key: String = AnthropicEmulatorConfiguration().webhookSigningKey) throws {
        id = "msg_deploy_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let text = #"{"type":"event","id":"wevt_deploy","created_at":"2026-01-01T00:00:00Z","data":{"type":""#
            + type + #"","id":"sesn_deploy"},"padding":""# + String(repeating: "x", count: padding) + #""}"#
        body = Array(text.utf8)
        let timestamp = Int64(Date().timeIntervalSince1970)
        let signature = try WebhookSigner.signature(secret: key, id: id, timestamp: timestamp, body: body)
        headers = ["Content-Type: application/json", "webhook-id: \(id)", "webhook-timestamp: \(timestamp)",
                   "webhook-signature: \(signature)"]
    }
}
