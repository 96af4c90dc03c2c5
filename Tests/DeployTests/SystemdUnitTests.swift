import Foundation
import TestSupport
import XCTest

/// `deploy/cma-orchestrator.service` checked by systemd's own tools.
final class SystemdUnitTests: XCTestCase {
    static let unit = "cma-orchestrator.service"

    /// A copy of the unit whose ExecStart names the built binary: `systemd-analyze
    /// verify` refuses an ExecStart that is not an executable file, and the shipped
    /// path (/usr/local/bin) exists only where the binary is installed. Nothing else
    /// changes. `edit` changes the copy further (the controls).
    func installedCopy(_ edit: (String) -> String = { $0 }) throws -> URL {
        let text = try DeployFiles.template(try DeployFiles.text(Self.unit), file: "deploy/\(Self.unit)", [
            ("ExecStart=/usr/local/bin/cma-orchestrator ", "ExecStart=\(try ServeProcess.binary()) "),
        ])
        let file = try DeployFiles.scratch(self, "systemd").appendingPathComponent(Self.unit)
        try edit(text).write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    func analyze() throws -> DeployTool { try DeployTool.require("systemd-analyze", package: "systemd") }

    func testSystemdAnalyzeVerifyFindsNothingToSay() throws {
        // verify exits 0 after warnings about unknown keys or bad values, so any output fails.
        let result = try analyze().run(["verify", try installedCopy().path])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output.trimmingCharacters(in: .whitespacesAndNewlines), "")

        // The controls: a misspelled value and an unknown key are reported.
        let broken = try installedCopy {
            $0.replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSystem=strickt") + "\n[Service]\nProtectHomes=yes\n"
        }
        let complaints = try analyze().run(["verify", broken.path]).output
        XCTAssertTrue(complaints.contains("strickt") && complaints.contains("ProtectHomes"), complaints)
    }

    func testTheUnitCarriesTheHardeningAndStopsAfterTheShutdownGrace() throws {
        var service: [String: [String]] = [:]
        var section = ""
        for line in try DeployFiles.text(Self.unit).split(separator: "\n") where !line.hasPrefix("#") {
            if line.hasPrefix("[") { section = String(line); continue }
            guard section == "[Service]", let eq = line.firstIndex(of: "=") else { continue }
            service[String(line[..<eq]), default: []].append(String(line[line.index(after: eq)...]))
        }
        let required: [(String, String)] = [
            ("DynamicUser", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("NoNewPrivileges", "yes"),
            ("PrivateTmp", "yes"), ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"), ("CapabilityBoundingSet", ""),
            ("SystemCallFilter", "@system-service"), ("EnvironmentFile", "/etc/cma-orchestrator/orchestrator.env"),
            ("Restart", "on-failure"), ("KillSignal", "SIGTERM"),
        ]
        for (key, value) in required {
            XCTAssertEqual(service[key], [value], key)
        }
        // Above the orchestrator's shutdown grace (CMA_SHUTDOWN_GRACE_SECONDS, 10 s by
        // default, README), so systemd never kills a graceful stop.
        let stop = try XCTUnwrap(service["TimeoutStopSec"]?.first)
        XCTAssertGreaterThan(try XCTUnwrap(Int(stop.replacingOccurrences(of: "s", with: ""))), 10)
    }

    /// `systemd-analyze security` rates the sandboxing of the unit file itself
    /// (offline: no running systemd needed); 10 is unconfined, below 2 is "OK".
    func testSystemdRatesTheUnitsExposureBelow2() throws {
        func exposure(_ file: URL) throws -> Double {
            let result = try analyze().run(["security", "--offline=true", "--no-pager", file.path])
            let line = try XCTUnwrap(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") },
                                     result.output)
            let words = line.split(separator: " ")
            let value = try XCTUnwrap(words.firstIndex { $0.hasSuffix(":") }.flatMap { Double(words[$0 + 1]) }, String(line))
            return value
        }
        XCTAssertLessThan(try exposure(try installedCopy()), 2.0)
        // The control: without the sandboxing lines the same tool rates it far worse.
        let sandboxing = ["Protect", "Restrict", "Private", "DynamicUser", "CapabilityBoundingSet", "SystemCall"]
        let bare = try installedCopy { text in
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { line in !sandboxing.contains { line.hasPrefix($0) } }
                .joined(separator: "\n")
        }
        XCTAssertGreaterThan(try exposure(bare), 5.0)
    }
}
