import EmulatedMode
import Foundation
import JSON
import SuperserveEmulator
import XCTest
@testable import Orchestrator
@testable import SandboxLifecycle

/// `setup-template` bakes the runner bundle and its version into the template, and
/// a sandbox made from it needs no bundle in its launch exec (rule 24 as amended).
final class TemplateBakeTests: XCTestCase {
    func testTheBakeStepUnpacksTheBundleWhereTheLaunchExecFindsItsVersion() throws {
        let bundle = try RunnerBundle.load(from: Harness.packageRoot.appendingPathComponent("runner"))
        let body = TemplateSetup.body(name: "cma-runner", runnerDirectory: "/srv/cma", agentWorkdir: "/workspace", bundle: bundle)
        let spec = try XCTUnwrap(try JSONValue.parse(Array(body))["build_spec"])
        let runs = try XCTUnwrap(spec["steps"]?.arrayValue).compactMap { $0["run"]?.stringValue }
        XCTAssertEqual(runs.filter { $0.contains(bundle.version) }.count, 1, "one step bakes the bundle")
        XCTAssertEqual(try JSONValue.parse(Array(TemplateSetup.body(name: "t", runnerDirectory: "/srv/cma",
                                                                    agentWorkdir: "/workspace")))["build_spec"]?["steps"]?.arrayValue?.count, 4,
                       "without a bundle, the template is built as before")

        // The bake step and then a launch exec without the bundle, in a real /bin/sh.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cma-bake-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.path + "/srv/cma"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertEqual(try sh(TemplateSetup.bakeCommand(bundle, runnerDirectory: dir), env: [:]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: dir + "/.bundle-version", encoding: .utf8), bundle.version + "\n")
        for name in RunnerBundle.requiredFiles { XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + name), name) }
        let runner = root.path + "/exit0.sh"
        try Data("exit 0\n".utf8).write(to: URL(fileURLWithPath: runner))
        let launch = try sh(RunnerEnvironment.launchCommand(runnerDirectory: dir), env: [
            RunnerEnvironment.versionVariable: bundle.version, "ANTHROPIC_WORK_ID": "work_bake",
            "CMA_PYTHON": "sh", "CMA_RUNNER_ENTRY": runner,
        ])
        XCTAssertEqual(launch.status, 0, launch.stdout)
        XCTAssertEqual(LaunchOutput.parse(launch.stdout)?.unpacked, false, "baked: nothing to unpack")
    }

    private func sh(_ command: String, env: [String: String]) throws -> (status: Int32, stdout: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ["PATH": "/usr/bin:/bin"].merging(env) { _, new in new }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// The emulator's team limits as `serve --emulated` and `emulate superserve` read them.
final class EmulatorLimitsTests: XCTestCase {
    func root() -> URL { URL(fileURLWithPath: "/nonexistent") }

    func testDefaultsKeepTheServiceLimitsAndVariablesRaiseOrLiftThem() throws {
        var configuration = SuperserveEmulatorConfiguration(apiKey: "k", sandboxesRoot: root())
        try EmulatorLimits.from(environment: [:]).apply(to: &configuration)
        XCTAssertEqual(configuration.teamRateLimit?.requestsPerSecond, 20)
        XCTAssertEqual(configuration.teamRateLimit?.burst, 40)
        XCTAssertEqual(configuration.maxActiveSandboxes, 50)

        configuration = SuperserveEmulatorConfiguration(apiKey: "k", sandboxesRoot: root())
        try EmulatorLimits.from(environment: ["CMA_EMULATOR_RATE": "100", "CMA_EMULATOR_MAX_ACTIVE": "0"]).apply(to: &configuration)
        XCTAssertEqual(configuration.teamRateLimit?.requestsPerSecond, 100)
        XCTAssertEqual(configuration.teamRateLimit?.burst, 40)
        XCTAssertNil(configuration.maxActiveSandboxes, "0 lifts the quota")

        configuration = SuperserveEmulatorConfiguration(apiKey: "k", sandboxesRoot: root())
        let flags = EmulatorLimits(burst: 80, unlimited: false)
        try EmulatorLimits.from(environment: ["CMA_EMULATOR_BURST": "10"]).overridden(by: flags).apply(to: &configuration)
        XCTAssertEqual(configuration.teamRateLimit?.burst, 80, "flags win")

        configuration = SuperserveEmulatorConfiguration(apiKey: "k", sandboxesRoot: root())
        try EmulatorLimits.from(environment: ["CMA_EMULATOR_UNLIMITED": "true"]).apply(to: &configuration)
        XCTAssertNil(configuration.teamRateLimit)
        XCTAssertNil(configuration.maxActiveSandboxes)
    }

    func testBadValuesAreRefusedNamingTheVariable() {
        for (name, value) in [("CMA_EMULATOR_RATE", "0"), ("CMA_EMULATOR_RATE", "fast"), ("CMA_EMULATOR_BURST", "0"),
                              ("CMA_EMULATOR_MAX_ACTIVE", "-1"), ("CMA_EMULATOR_UNLIMITED", "maybe")] {
            XCTAssertThrowsError(try EmulatorLimits.from(environment: [name: value]), name) { error in
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
    }
}
