import Foundation
import HTTPServer
import HTTPWire
import JSON
import LocalSandboxes
import Synchronization

/// Data-plane endpoints (superserve.md §8) on local sandboxes.
extension SuperserveEmulator {
    func addDataPlaneRoutes(to router: inout Router) {
        router.add(.POST, "/files", maxBodyBytes: configuration.maxFileBytes,
                   endpoint("files.write", plane: .data) { [self] in await dataPlane($0) { writeFile($0, $1) } })
        router.add(.GET, "/files", endpoint("files.read", plane: .data) { [self] in await dataPlane($0) { readFile($0, $1) } })
        router.add(.POST, "/exec", endpoint("exec", plane: .data) { [self] in await dataPlane($0) { await exec($0, $1) } })
        router.add(.POST, "/exec/stream", endpoint("exec.stream", plane: .data) { [self] in await dataPlane($0) { execStream($0, $1) } })
    }

    /// The sandbox a data-plane request addresses: `X-Superserve-Sandbox-Id`, else a
    /// `boxd-<id>.` host (§1).
    static func addressedSandbox(_ request: Request) -> String? {
        if let id = request.headers[first: "X-Superserve-Sandbox-Id"], !id.isEmpty { return id }
        guard let host = request.headers[first: "Host"], host.hasPrefix("boxd-"),
              let dot = host.firstIndex(of: ".") else { return nil }
        let id = host[host.index(host.startIndex, offsetBy: 5)..<dot]
        return id.isEmpty ? nil : String(id)
    }

    /// §8.3 checks, in order: unknown sandbox 404 `sandbox_route_stale`, bad or
    /// expired token 401 plain text, VM not running 503 `sandbox_unavailable`
    /// (paused, pausing), failed VM 502 plain text.
    func dataPlane(_ request: Request,
                   _ body: (Request, SuperserveSandboxRecord) async -> Response) async -> Response {
        guard let id = Self.addressedSandbox(request) else {
            return Self.envelope(404, "sandbox_route_stale", "no sandbox addressed")
        }
        let token = request.headers[first: "X-Access-Token"] ?? ""
        let (record, tokenValid) = state.withLock { store in
            (store.sandboxes[id], store.tokenIsValid(token, sandboxID: id, now: .now))
        }
        guard let record else { return Self.envelope(404, "sandbox_route_stale", "sandbox route is stale") }
        guard tokenValid else { return .text("invalid or expired access token\n", status: 401) }
        switch record.status {
        case .active, .starting, .resuming:
            return await body(request, record)
        case .paused, .pausing:
            return Self.envelope(503, "sandbox_unavailable", "sandbox is not running")
        case .failed, .migrating, .deleted:
            var response = Response.text("upstream dial failed\n", status: 502)
            response.headers.add(name: "Retry-After", value: "2")
            return response
        }
    }

    static func fileError(_ status: Int, _ message: String) -> Response {
        json(.object([("error", .string(message))]), status: status)
    }

    /// Checks a data-plane file path (§8.1: absolute, no `..`, not `/`, `/proc`,
    /// `/sys`, `/dev`) and maps it to the host (`LocalSandbox`).
    func hostFilePath(_ request: Request, _ sandbox: LocalSandbox) -> SuperserveOutcome<(String, String)> {
        guard let path = request.query("path"), !path.isEmpty else { return .answer(Self.fileError(400, "path is required")) }
        guard path.hasPrefix("/") else { return .answer(Self.fileError(400, "path must be absolute")) }
        let components = path.split(separator: "/")
        guard !components.contains("..") else { return .answer(Self.fileError(400, "path must not contain ..")) }
        if components.isEmpty || ["proc", "sys", "dev"].contains(components[0]) {
            return .answer(Self.fileError(400, "path is not allowed"))
        }
        guard let host = sandbox.hostPath(forSandboxPath: "/" + components.joined(separator: "/")) else {
            return .answer(Self.fileError(400, "path is outside the emulated sandbox roots \(configuration.mappedRoots)"))
        }
        return .ok((path, host))
    }

    func writeFile(_ request: Request, _ record: SuperserveSandboxRecord) -> Response {
        let sandbox = localSandbox(record.id)
        let path: String, host: String
        switch hostFilePath(request, sandbox) {
        case .ok(let p): (path, host) = p
        case .answer(let response): return response
        }
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: host, isDirectory: &isDirectory), isDirectory.boolValue {
            return Self.fileError(400, "path is a directory")
        }
        do {
            try fm.createDirectory(atPath: (host as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                   attributes: [.posixPermissions: 0o755])
            try Data(request.body).write(to: URL(fileURLWithPath: host))
            try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: host)
        } catch {
            return Self.fileError(500, "write failed")
        }
        return Self.json(.object([("path", .string(path)), ("size", .int(request.body.count))]))
    }

    func readFile(_ request: Request, _ record: SuperserveSandboxRecord) -> Response {
        let host: String
        switch hostFilePath(request, localSandbox(record.id)) {
        case .ok(let p): host = p.1
        case .answer(let response): return response
        }
        if request.query("format") != nil { return Self.fileError(400, "format is not supported by the emulator") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: host, isDirectory: &isDirectory) else {
            return Self.fileError(404, "file not found")
        }
        guard !isDirectory.boolValue else { return Self.fileError(400, "path is a directory") }
        guard let data = FileManager.default.contents(atPath: host) else { return Self.fileError(500, "read failed") }
        return .bytes([UInt8](data), contentType: "application/octet-stream")
    }

    // MARK: exec (§8.2)

    /// Decodes an exec body into a host-side request, or a 400 plain-text answer.
    func execRequest(_ request: Request, _ record: SuperserveSandboxRecord) -> SuperserveOutcome<LocalExecRequest> {
        func bad(_ message: String) -> SuperserveOutcome<LocalExecRequest> { .answer(.text(message + "\n", status: 400)) }
        guard let body = try? JSONValue.parse(request.body), body.objectValue != nil else { return bad("body must be a JSON object") }
        guard let command = body["command"]?.stringValue, !command.isEmpty else { return bad("command is required") }
        if let args = body["args"], !args.isNull { return bad("args is not supported by the emulator") }
        let sandbox = localSandbox(record.id)

        var workingDirectory = record.workdir.flatMap { sandbox.hostPath(forSandboxPath: $0) } ?? sandbox.home
        if let raw = body["working_dir"], !raw.isNull {
            guard let dir = raw.stringValue, !dir.isEmpty else { return bad("working_dir must be a string") }
            if dir.hasPrefix("/") {
                workingDirectory = sandbox.hostPath(forSandboxPath: dir) ?? dir
            } else {
                workingDirectory = sandbox.home + "/" + dir
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: workingDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return bad("working_dir does not exist")
        }

        var timeout = configuration.execDefaultTimeout
        if let raw = body["timeout_s"], !raw.isNull {
            guard let seconds = raw.intValue, seconds >= 0 else { return bad("timeout_s must be a non-negative integer") }
            if seconds > 0 { timeout = .seconds(seconds) }
        }

        // The sandbox's environment: nothing from the emulator's own process (its
        // keys must not reach sandbox code), then env_vars, then the per-command env
        // (applied last, §8.2), then the tracking marker, which must survive.
        let hostPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var environment: [String: String] = [
            "PATH": (configuration.pythonBinDirectory.map { $0.path + ":" } ?? "") + hostPath,
            "HOME": sandbox.home,
            "USER": "user",
            "LANG": "C.UTF-8",
        ]
        for (key, value) in record.envVars { environment[key] = sandbox.rewrite(value) }
        if let raw = body["env"], !raw.isNull {
            guard let fields = raw.objectValue else { return bad("env must be an object") }
            for (key, value) in fields {
                guard let s = value.stringValue, !key.isEmpty, !key.contains("=") else { return bad("env values must be strings") }
                environment[key] = sandbox.rewrite(s)
            }
        }
        environment[LocalSandboxProcesses.markerName] = record.id
        return .ok(LocalExecRequest(command: sandbox.rewrite(command), workingDirectory: workingDirectory,
                                         environment: environment, timeout: timeout,
                                         outputCap: configuration.execOutputCap, drainGrace: configuration.execDrainGrace))
    }

    func exec(_ request: Request, _ record: SuperserveSandboxRecord) async -> Response {
        let execRequest: LocalExecRequest
        switch self.execRequest(request, record) {
        case .ok(let r): execRequest = r
        case .answer(let response): return response
        }
        logger.debug("superserve.exec.started", metadata: ["sandbox.id": "\(record.id)"])
        do {
            let result = try await LocalSandboxExec.run(execRequest)
            var fields: [(String, JSONValue)] = [
                ("stdout", .string(String(decoding: result.stdout, as: UTF8.self))),
                ("stderr", .string(String(decoding: result.stderr, as: UTF8.self))),
                ("exit_code", .int(Int(result.exitCode))),
            ]
            if result.truncated { fields.append(("truncated", .bool(true))) }
            return Self.json(.object(fields))
        } catch {
            logger.error("superserve.exec.spawn_failed", metadata: ["sandbox.id": "\(record.id)", "error.message": "\(error)"])
            return .text("exec failed\n", status: 500)
        }
    }

    /// §8.1 streaming form: SSE `data:` events with `stdout`/`stderr` chunks, the last
    /// one `{"finished":true,"exit_code":…}`.
    func execStream(_ request: Request, _ record: SuperserveSandboxRecord) -> Response {
        let execRequest: LocalExecRequest
        switch self.execRequest(request, record) {
        case .ok(let r): execRequest = r
        case .answer(let response): return response
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        return Response(status: 200, headers: headers, body: .stream { writer in
            let (events, continuation) = AsyncStream.makeStream(of: [UInt8].self)
            let decoder = Mutex(SuperserveUTF8Chunker())
            let producer = Task {
                let result = try? await LocalSandboxExec.run(execRequest) { isStdout, bytes in
                    let text = decoder.withLock { $0.append(bytes, stdout: isStdout) }
                    if !text.isEmpty {
                        continuation.yield(Self.sseEvent(.object([(isStdout ? "stdout" : "stderr", .string(text))])))
                    }
                }
                var final: [(String, JSONValue)] = [("finished", .bool(true)), ("exit_code", .int(Int(result?.exitCode ?? 1)))]
                if result == nil { final.append(("error", .string("exec failed"))) }
                continuation.yield(Self.sseEvent(.object(final)))
                continuation.finish()
            }
            do {
                for await event in events { try await writer.write(event) }
            } catch {
                producer.cancel()
                throw error
            }
        })
    }

    static func sseEvent(_ value: JSONValue) -> [UInt8] {
        Array("data: \(value.serialized)\n\n".utf8)
    }
}

/// Turns output chunks into text without splitting a UTF-8 sequence across two SSE
/// events (an incomplete tail waits for the next chunk of the same stream).
struct SuperserveUTF8Chunker: Sendable {
    private var pendingOut: [UInt8] = []
    private var pendingErr: [UInt8] = []

    mutating func append(_ bytes: [UInt8], stdout: Bool) -> String {
        var all = (stdout ? pendingOut : pendingErr) + bytes
        var cut = all.count
        // Walk back over at most 3 continuation bytes to a lead byte whose sequence
        // is incomplete.
        var i = all.count - 1
        while i >= 0 && i >= all.count - 4 {
            let b = all[i]
            if b & 0xC0 == 0x80 { i -= 1; continue }
            let needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            if all.count - i < needed { cut = i }
            break
        }
        let rest = Array(all[cut...])
        all.removeSubrange(cut...)
        if stdout { pendingOut = rest } else { pendingErr = rest }
        return String(decoding: all, as: UTF8.self)
    }
}

/// A decoded value, or the answer that ends the request early.
enum SuperserveOutcome<Value> {
    case ok(Value)
    case answer(Response)
}
