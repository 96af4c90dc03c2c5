import Foundation
import HTTPServer
import TestSupport
import XCTest

/// Third-party vectors (nodejs/llhttp's request corpus, judged by llhttp strict and h11;
/// see shared/http-vectors/README.md) replayed by the shared `replay.py` against this
/// server in-process on port 0. The server mounts one prefix route `/` for every method
/// answering 200 with the body length, so a vector is "accepted" exactly when the
/// parser lets it through to routing (a 404 would count as accepted too; this keeps the
/// verdict about parsing, not routing — the fairest comparison with nginx's `return 200`).
final class VectorReplayTests: XCTestCase {
    /// `shared/` sits beside the package root in CI (`../shared`); in a worktree checkout
    /// it is further up, so the nearest ancestor holding `shared/http-vectors` wins.
    static let sharedDir: URL = {
        var dir = URL(fileURLWithPath: #filePath)   // …/Tests/HTTPServerTests/X.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()   // package root
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("shared")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("http-vectors").path) { return candidate }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared")
    }()

    func testNoVectorThatMustBeRejectedIsAccepted() async throws {
        let vectors = Self.sharedDir.appendingPathComponent("http-vectors/llhttp-request-vectors.server.jsonl")
        let script = Self.sharedDir.appendingPathComponent("http-vectors/replay.py")
        XCTAssertTrue(FileManager.default.fileExists(atPath: script.path), "shared/ must sit beside the package root: \(script.path)")
        var router = Router()
        router.add(nil, "/", match: .prefix, .sync { req in .text("ok \(req.body.count)\n") })
        let h = try ServerHarness(router: router, configure: {
            $0.headerReadTimeout = .seconds(5)
            $0.closeLingerTimeout = .milliseconds(500)
        })

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--port", String(h.port), "--only-strict", vectors.path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 300, execute: killer)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        await h.stop()

        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        let summary = try XCTUnwrap(lines.last { $0.hasSuffix(" failed") && $0.contains(" passed, ") }, "no summary in:\n\(text)")
        let numbers = summary.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(numbers.count, 2, summary)
        let failures = lines.filter { $0.hasPrefix("FAIL ") }
        // Smuggling-relevant: anything that must be refused and was let through.
        let acceptedRejects = failures.filter { $0.contains("expect=reject/") || $0.contains("expect=reject-or-close/") }
        XCTAssertEqual(acceptedRejects, [], "vectors that must be rejected were accepted")
        print("http-vectors: \(summary) (nginx 1.22: 99 passed, 8 failed)")
        for f in failures { print("  \(f)") }
    }
}
