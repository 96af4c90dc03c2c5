import Foundation
import TestSupport
import XCTest
@testable import SandboxLifecycle

/// The bundle is the repository's `runner/` packed as ustar; GNU tar must unpack
/// it byte for byte with the right modes. Also runs the runner's own script tests.
final class RunnerBundleTests: XCTestCase {
    static let runnerDirectory = SDKPython.packageRoot.appendingPathComponent("runner")

    func testBundleFromRunnerDirectoryUnpacksWithTarToTheSameFilesAndModes() throws {
        let bundle = try RunnerBundle.load(from: Self.runnerDirectory)
        XCTAssertEqual(bundle.entries.map(\.name), RunnerBundle.requiredFiles)
        XCTAssertEqual(bundle.archive.count % 512, 0)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cma-bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tarPath = dir.appendingPathComponent(".bundle.tar")
        try bundle.archive.write(to: tarPath)
        let result = try LifecycleProcess.run("/bin/sh", ["-c", "tar -xf .bundle.tar && tar -tvf .bundle.tar"], directory: dir)
        XCTAssertEqual(result.status, 0, result.output)
        for name in RunnerBundle.requiredFiles {
            let original = try Data(contentsOf: Self.runnerDirectory.appendingPathComponent(name))
            let unpacked = try Data(contentsOf: dir.appendingPathComponent(name))
            XCTAssertEqual(original, unpacked, name)
            let mode = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)[.posixPermissions] as? Int
            XCTAssertEqual(mode, name.hasSuffix(".sh") ? 0o755 : 0o644, name)
        }
    }

    func testHeaderChecksumAndFieldsFollowUstar() throws {
        let archive = try TarArchive.archive([.init(name: "a.sh", mode: 0o755, contents: Array("hi\n".utf8))], modificationTime: 8)
        XCTAssertEqual(archive.count, 512 + 512 + 1024)
        let header = Array(archive[0..<512])
        XCTAssertEqual(String(decoding: header[257..<262], as: UTF8.self), "ustar")
        XCTAssertEqual(String(decoding: header[100..<107], as: UTF8.self), "0000755")
        XCTAssertEqual(String(decoding: header[124..<135], as: UTF8.self), "00000000003")
        var copy = header
        for i in 148..<156 { copy[i] = UInt8(ascii: " ") }
        let sum = copy.reduce(0) { $0 + Int($1) }
        XCTAssertEqual(String(decoding: header[148..<154], as: UTF8.self), String(format: "%06o", sum))
        XCTAssertEqual(Array(archive[512..<515]), Array("hi\n".utf8))
        XCTAssertTrue(archive[1024...].allSatisfy { $0 == 0 })
    }

    func testBadNamesAreRefused() {
        for name in ["", "/abs", "../up", String(repeating: "n", count: 101)] {
            XCTAssertThrowsError(try TarArchive.archive([.init(name: name, mode: 0o644, contents: [])]), name)
        }
        XCTAssertThrowsError(try RunnerBundle.load(from: URL(fileURLWithPath: "/nonexistent-cma")))
    }

    func testAddingAFileReplacesOrAppends() throws {
        let bundle = try RunnerBundle.load(from: Self.runnerDirectory)
        let more = try bundle.adding(name: "fake_runner.py", contents: Data("print(1)\n".utf8))
        XCTAssertEqual(more.entries.map(\.name), RunnerBundle.requiredFiles + ["fake_runner.py"])
        let replaced = try more.adding(name: "fake_runner.py", contents: Data("print(2)\n".utf8))
        XCTAssertEqual(replaced.entries.count, more.entries.count)
    }

    /// `swift test` covers the launch/probe/stop script tests (runner/tests, stdlib unittest).
    func testRunnerScriptUnitTestsPass() throws {
        let result = try LifecycleProcess.run("/usr/bin/env", ["python3", "-m", "unittest", "discover", "-s", "runner/tests", "-v"],
                                           directory: SDKPython.packageRoot, timeout: 300)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("OK"), result.output)
    }

    /// Rule 25: with anthropic 2.10.0, runner.py builds its client without an API key
    /// and the worker without `unrestricted_paths`, and does not raise.
    func testRunnerBuildsTheSDKWorkerWithAnthropic2_10() throws {
        let script = """
        import os, sys, tempfile
        sys.path.insert(0, \(String(reflecting: Self.runnerDirectory.path)))
        import anthropic, runner
        assert anthropic.__version__ == "2.10.0", anthropic.__version__
        workdir = tempfile.mkdtemp()
        os.environ["CMA_AGENT_WORKDIR"] = workdir
        os.environ["CMA_MAX_IDLE"] = "42"
        os.environ["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"
        worker = runner.build_worker()
        from anthropic.lib.environments import EnvironmentWorker
        assert isinstance(worker, EnvironmentWorker), type(worker)
        print("client-base", worker._client.base_url if hasattr(worker, "_client") else "n/a")
        print("OK-BUILT")
        """
        let result = try SDKPython.run(script: script, environment: ["HOME": NSTemporaryDirectory()])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("OK-BUILT"), result.stdout + result.stderr)
    }
}
