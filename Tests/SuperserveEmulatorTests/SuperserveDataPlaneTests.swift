import JSON
import LocalSandboxes
@testable import SuperserveEmulator
import Foundation
import HTTPWire
import XCTest

/// Data plane (superserve.md §8, §10.6–§10.8) on local sandboxes with real processes.
final class SuperserveDataPlaneTests: XCTestCase {
    func testFilesWriteCreatesParentsAnswersPathAndSizeAndReadsBack() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let content = Array("print('hi')\n".utf8)
        let written = await h.data(.POST, "/files?path=%2Fsrv%2Fcma%2Fdeep%2Frunner.py", sandbox: s.id, token: s.token, body: content)
        XCTAssertEqual(written.status, 200, written.text)
        XCTAssertEqual(written.json, .object([("path", .string("/srv/cma/deep/runner.py")), ("size", .int(content.count))]))
        XCTAssertEqual(FileManager.default.contents(atPath: h.hostPath(s.id, "/srv/cma/deep/runner.py")).map { [UInt8]($0) }, content)
        let read = await h.data(.GET, "/files?path=/srv/cma/deep/runner.py", sandbox: s.id, token: s.token)
        XCTAssertEqual(read.status, 200)
        XCTAssertEqual(read.body, content)
        XCTAssertEqual(read.headers[first: "Content-Type"], "application/octet-stream")
        let missing = await h.data(.GET, "/files?path=/srv/none", sandbox: s.id, token: s.token)
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.json, .object([("error", .string("file not found"))]))
        // An empty write is a valid (empty) file.
        let empty = await h.data(.POST, "/files?path=/workspace/empty", sandbox: s.id, token: s.token)
        XCTAssertEqual(empty.json?["size"]?.intValue, 0)
    }

    func testFilesRefuseRelativeDotDotSystemAndUnmappedPaths() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        for path in ["", "srv/x", "/srv/../etc/passwd", "/", "/proc/self/environ", "/sys/x", "/dev/null", "/etc/passwd", "/srv"] {
            let target = "/files?path=" + PercentEncoding.encode(path)
            let write = await h.data(.POST, target, sandbox: s.id, token: s.token, body: Array("x".utf8))
            XCTAssertEqual(write.status, 400, "write \(path): \(write.text)")
            XCTAssertNotNil(write.json?["error"]?.stringValue, path)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/passwd.x"))
    }

    func testDataPlaneAddressingAndAuthErrors() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let unknown = await h.data(.GET, "/files?path=/srv/x", sandbox: "missing", token: s.token)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.code, "sandbox_route_stale")
        let badToken = await h.data(.GET, "/files?path=/srv/x", sandbox: s.id, token: String(repeating: "0", count: 64))
        XCTAssertEqual(badToken.status, 401)
        XCTAssertTrue(badToken.headers[first: "Content-Type"]?.hasPrefix("text/plain") ?? false)
        let noToken = await h.send(.POST, "/exec", headers: [("X-Superserve-Sandbox-Id", s.id)], body: Array(#"{"command":"true"}"#.utf8))
        XCTAssertEqual(noToken.status, 401)
        // Per-sandbox host routing (`boxd-<id>.<sandbox host>`).
        let byHost = await h.send(.POST, "/exec", headers: [("Host", "boxd-\(s.id).sandbox.superserve.ai"), ("X-Access-Token", s.token)],
                                  body: Array(#"{"command":"echo routed"}"#.utf8))
        XCTAssertEqual(byHost.status, 200, byHost.text)
        XCTAssertEqual(byHost.json?["stdout"]?.stringValue, "routed\n")
        // The API key is not a data-plane credential.
        let apiKey = await h.data(.GET, "/files?path=/srv/x", sandbox: s.id, token: SuperserveTestKeys.apiKey)
        XCTAssertEqual(apiKey.status, 401)
    }

    func testExpiredTokensAnswer401UntilActivateMintsANewOne() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let awaited1 = await h.exec(s.id, s.token, #"{"command":"true"}"#).status
        XCTAssertEqual(awaited1, 200)
        let expired = await h.send(.POST, "/_emulator/superserve/expire-tokens")
        XCTAssertEqual(expired.status, 200)
        let awaited2 = await h.exec(s.id, s.token, #"{"command":"true"}"#).status
        XCTAssertEqual(awaited2, 401)
        let activated = await h.control(.POST, "/sandboxes/\(s.id)/activate")
        let fresh = activated.json?["access_token"]?.stringValue ?? ""
        XCTAssertNotEqual(fresh, s.token)
        let awaited3 = await h.exec(s.id, fresh, #"{"command":"true"}"#).status
        XCTAssertEqual(awaited3, 200)
        let awaited4 = await h.exec(s.id, s.token, #"{"command":"true"}"#).status
        XCTAssertEqual(awaited4, 401, "the expired token stays dead")
    }

    func testTokensExpireAfterTheirTTL() async {
        let h = SuperserveHarness { $0.accessTokenTTL = .milliseconds(200) }
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let expired = await superserveEventually(timeout: .seconds(5)) { await h.exec(s.id, s.token, #"{"command":"true"}"#).status == 401 }
        XCTAssertTrue(expired)
    }

    func testExecRunsShellWithEnvWorkingDirMappingAndHome() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create(extra: #""env_vars":{"FROM_SANDBOX":"sandbox","OVERRIDE":"sandbox"}"#)
        _ = await h.data(.POST, "/files?path=/srv/cma/data.txt", sandbox: s.id, token: s.token, body: Array("payload".utf8))
        let answer = await h.exec(s.id, s.token, """
            {"command":"echo \\"$GREETING|$OVERRIDE|$FROM_SANDBOX|$CFG\\"; pwd; echo $HOME; cat /srv/cma/data.txt; echo; echo err >&2; exit 3",
             "working_dir":"/srv/cma","env":{"GREETING":"hello world","OVERRIDE":"command","CFG":"/srv/cma/config"},"timeout_s":10}
            """)
        XCTAssertEqual(answer.status, 200, answer.text)
        let lines = answer.json?["stdout"]?.stringValue?.split(separator: "\n").map(String.init) ?? []
        XCTAssertEqual(lines.count, 4, answer.text)
        guard lines.count == 4 else { return }
        XCTAssertEqual(lines[0], "hello world|command|sandbox|\(h.hostPath(s.id, "/srv/cma/config"))", "per-command env applied last, values mapped")
        XCTAssertEqual(lines[1], h.hostPath(s.id, "/srv/cma"), "working_dir mapped")
        XCTAssertEqual(lines[2], h.hostPath(s.id, "/home/user"))
        XCTAssertEqual(lines[3], "payload", "command paths mapped")
        XCTAssertEqual(answer.json?["stderr"]?.stringValue, "err\n")
        XCTAssertEqual(answer.json?["exit_code"]?.intValue, 3, "a non-zero exit is a result")
        XCTAssertNil(answer.json?["truncated"])
        // Default working directory: the template's workdir (/workspace).
        let pwd = await h.exec(s.id, s.token, #"{"command":"pwd"}"#)
        XCTAssertEqual(pwd.json?["stdout"]?.stringValue, h.hostPath(s.id, "/workspace") + "\n")
        // The emulator's own environment does not leak into the sandbox.
        setenv("SUPERSERVE_EMULATOR_LEAK_CHECK", "leak", 1)
        let env = await h.exec(s.id, s.token, #"{"command":"env"}"#)
        XCTAssertFalse(env.json?["stdout"]?.stringValue?.contains("SUPERSERVE_EMULATOR_LEAK_CHECK") ?? true)
        XCTAssertTrue(env.json?["stdout"]?.stringValue?.contains("CMA_EMULATOR_SANDBOX=\(s.id)") ?? false)
    }

    func testExecBadRequestsAnswer400PlainText() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        for body in ["", "[]", #"{"working_dir":"/srv"}"#, #"{"command":""}"#, #"{"command":"true","timeout_s":-1}"#,
                     #"{"command":"true","env":{"A":1}}"#, #"{"command":"true","working_dir":"/srv/missing"}"#] {
            let answer = await h.exec(s.id, s.token, body)
            XCTAssertEqual(answer.status, 400, body)
            XCTAssertTrue(answer.headers[first: "Content-Type"]?.hasPrefix("text/plain") ?? false, body)
        }
    }

    func testExecReportsDeathBySignalAs128PlusN() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let answer = await h.exec(s.id, s.token, #"{"command":"kill -TERM $$"}"#)
        XCTAssertEqual(answer.json?["exit_code"]?.intValue, 128 + 15)
    }

    func testExecTimeoutKillsTheWholeGroupAndAnswers124() async throws {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let started = ContinuousClock.now
        let answer = await h.exec(s.id, s.token, #"{"command":"sleep 300 > /dev/null 2>&1 & echo $! > /srv/child.pid; sleep 300","timeout_s":1}"#)
        XCTAssertEqual(answer.json?["exit_code"]?.intValue, 124, answer.text)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
        let pidText = try String(contentsOfFile: h.hostPath(s.id, "/srv/child.pid"), encoding: .utf8)
        let pid = try XCTUnwrap(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        let gone = await superserveEventually { LocalSandboxProcesses.state(of: pid) == nil || LocalSandboxProcesses.state(of: pid) == "Z" }
        XCTAssertTrue(gone, "the group's background child is killed too")
    }

    func testExecWaitsForBothPipesSoABackgroundChildHoldsTheAnswerUntilTheTimeout() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let started = ContinuousClock.now
        let answer = await h.exec(s.id, s.token, #"{"command":"sleep 300 & echo started","timeout_s":2}"#)
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(answer.json?["stdout"]?.stringValue, "started\n")
        XCTAssertEqual(answer.json?["exit_code"]?.intValue, 124)
        XCTAssertGreaterThanOrEqual(elapsed, .seconds(2), "the shell exited at once, but the child held stdout")
        XCTAssertEqual(LocalSandboxProcesses.pids(sandboxID: s.id), [], "the child died with the group")
    }

    func testExecCapsOutputAndMarksItTruncated() async {
        let h = SuperserveHarness { $0.execOutputCap = 4096 }
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let answer = await h.exec(s.id, s.token, #"{"command":"head -c 100000 /dev/zero | tr '\\0' a; echo done"}"#)
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.json?["truncated"], .bool(true))
        XCTAssertEqual(answer.json?["stdout"]?.stringValue?.utf8.count, 4096)
        XCTAssertEqual(answer.json?["stderr"]?.stringValue, "[superserve] output truncated\n")
        XCTAssertEqual(answer.json?["exit_code"]?.intValue, 0)
    }

    func testDetachedSetsidChildOutlivesExecStopsOnPauseContinuesOnResumeAndDiesOnDelete() async throws {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        // The launch pattern of orchestrator.md rule 29: setsid, stdin from
        // /dev/null, output to a log, a pid file; exec returns at once.
        let started = ContinuousClock.now
        let answer = await h.exec(s.id, s.token, """
            {"command":"mkdir -p /srv/cma; setsid sh -c 'while true; do date +%s%N >> /srv/cma/ticks.log; sleep 0.05; done' < /dev/null >> /srv/cma/runner.log 2>&1 & echo $! > /srv/cma/.runner.pid; cat /srv/cma/.runner.pid",
             "working_dir":"/srv","timeout_s":10}
            """)
        XCTAssertEqual(answer.status, 200, answer.text)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "exec returns at once")
        let pid = try XCTUnwrap(pid_t(answer.json?["stdout"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""), answer.text)
        XCTAssertNotNil(LocalSandboxProcesses.state(of: pid), "the detached child keeps running")
        // The child may be inside execve (setsid, then sh), when /proc/<pid>/environ reads empty.
        let marked = await superserveEventually { LocalSandboxProcesses.pids(sandboxID: s.id).contains(pid) }
        XCTAssertTrue(marked, "found by its environment marker")
        let ticks = h.hostPath(s.id, "/srv/cma/ticks.log")
        func tickCount() -> Int { ((try? String(contentsOfFile: ticks, encoding: .utf8)) ?? "").split(separator: "\n").count }
        let ticking = await superserveEventually { tickCount() >= 2 }
        XCTAssertTrue(ticking)

        let awaited5 = await h.pause(s.id).status
        XCTAssertEqual(awaited5, 204)
        // SIGSTOP takes effect when the process next leaves the kernel: one caught in an
        // uninterruptible wait (state D, e.g. writing its tick) stops right after it.
        let stopped = await superserveEventually { LocalSandboxProcesses.state(of: pid) == "T" }
        XCTAssertTrue(stopped, "pause stops the process (state \(LocalSandboxProcesses.state(of: pid).map(String.init) ?? "gone"))")
        let awaited6 = await h.exec(s.id, s.token, #"{"command":"true"}"#).code
        XCTAssertEqual(awaited6, "sandbox_unavailable")

        let activated = await h.control(.POST, "/sandboxes/\(s.id)/activate")
        XCTAssertEqual(activated.status, 200)
        let resumed = await superserveEventually { LocalSandboxProcesses.state(of: pid) != "T" }
        XCTAssertTrue(resumed, "resume continues it")
        let before = tickCount()
        let moving = await superserveEventually { tickCount() > before }
        XCTAssertTrue(moving, "and it makes progress again")
        let token = activated.json?["access_token"]?.stringValue ?? ""
        let survived = await h.data(.GET, "/files?path=/srv/cma/.runner.pid", sandbox: s.id, token: token)
        XCTAssertEqual(survived.text.trimmingCharacters(in: .whitespacesAndNewlines), String(pid), "files survive pause/resume")

        let awaited7 = await h.control(.DELETE, "/sandboxes/\(s.id)").status
        XCTAssertEqual(awaited7, 204)
        let dead = await superserveEventually { LocalSandboxProcesses.state(of: pid) == nil || LocalSandboxProcesses.state(of: pid) == "Z" }
        XCTAssertTrue(dead, "delete kills it")
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.root.appendingPathComponent(s.id).path), "delete removes the directory")
    }

    func testExecStreamSendsChunksThenAFinishedEvent() async {
        let h = SuperserveHarness()
        addTeardownBlock { await h.close() }
        let s = await h.create()
        let answer = await h.data(.POST, "/exec/stream", sandbox: s.id, token: s.token,
                                  body: Array(#"{"command":"echo out; echo err >&2; exit 2"}"#.utf8))
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.headers[first: "Content-Type"], "text/event-stream")
        let events = answer.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.compactMap { frame -> JSONValue? in
            guard frame.hasPrefix("data: ") else { return nil }
            return try? JSONValue.parse(Array(frame.dropFirst(6).utf8))
        }
        let stdout = events.compactMap { $0["stdout"]?.stringValue }.joined()
        let stderr = events.compactMap { $0["stderr"]?.stringValue }.joined()
        XCTAssertEqual(stdout, "out\n")
        XCTAssertEqual(stderr, "err\n")
        XCTAssertEqual(events.last, .object([("finished", .bool(true)), ("exit_code", .int(2))]))
    }

    func testUTF8ChunkerNeverSplitsASequence() {
        var chunker = SuperserveUTF8Chunker()
        let euro = Array("€".utf8)   // 3 bytes
        XCTAssertEqual(chunker.append([UInt8(ascii: "a")] + euro.prefix(1), stdout: true), "a")
        XCTAssertEqual(chunker.append(Array(euro.dropFirst()), stdout: true), "€")
        XCTAssertEqual(chunker.append(Array("x".utf8), stdout: false), "x")
    }
}

enum PercentEncoding {
    static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s
    }
}
