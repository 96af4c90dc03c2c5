import APIClient
import Foundation

/// Data plane (superserve.md §8): files and exec at the configurable data-plane
/// URL, addressed with `X-Superserve-Sandbox-Id` and authorised with the sandbox's
/// access token (+ routing hint). Never the API key.
extension SuperserveClient {
    /// `POST /files?path=…` with the raw bytes (`application/octet-stream`).
    public func writeFile(_ access: SandboxAccess, path: String, contents: Data,
                          timeout: Duration? = nil) async throws(SandboxLifecycleError) {
        _ = try await dataPlane(access) { credentials throws(SandboxLifecycleError) in
            try self.request("POST", self.configuration.dataPlaneURL, "/files", query: [("path", path)],
                             headers: self.dataHeaders(access.sandboxID, credentials, contentType: "application/octet-stream"),
                             body: contents, timeout: timeout ?? self.configuration.requestTimeout)
        }
    }

    /// `POST /exec` (`/bin/sh -c command`); a non-zero exit is a result, not an
    /// error. The HTTP deadline is `timeout_s` + 5 s, as in the SDK.
    public func exec(_ access: SandboxAccess, command: String, workingDirectory: String? = nil,
                     environment: [String: String] = [:], timeoutSeconds: Int) async throws(SandboxLifecycleError) -> ExecResult {
        var body: [String: Any] = ["command": command, "timeout_s": timeoutSeconds]
        if let workingDirectory { body["working_dir"] = workingDirectory }
        if !environment.isEmpty { body["env"] = environment }
        let data = try Self.json(body)
        let response = try await dataPlane(access) { credentials throws(SandboxLifecycleError) in
            try self.request("POST", self.configuration.dataPlaneURL, "/exec",
                             headers: self.dataHeaders(access.sandboxID, credentials, contentType: "application/json"),
                             body: data, timeout: .seconds(timeoutSeconds + 5))
        }
        guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
              let exitCode = (object["exit_code"] as? NSNumber)?.intValue else {
            throw .invalidResponse("exec answer without exit_code")
        }
        return ExecResult(stdout: object["stdout"] as? String ?? "", stderr: object["stderr"] as? String ?? "",
                          exitCode: exitCode, truncated: object["truncated"] as? Bool ?? false)
    }

    func dataHeaders(_ sandboxID: String, _ credentials: SandboxAccess.Credentials, contentType: String) -> [(String, String)] {
        var headers = [("X-Superserve-Sandbox-Id", sandboxID), ("X-Access-Token", credentials.accessToken),
                       ("Content-Type", contentType), ("User-Agent", configuration.userAgent)]
        if let hint = credentials.routingHint, !hint.isEmpty { headers.append(("X-Superserve-Routing-Hint", hint)) }
        return headers
    }

    /// Rule 32 / superserve.md §8.4: on the answers `SuperserveErrorClassifier.refreshesAccess`
    /// names, activate once, single flight per sandbox, and retry once.
    func dataPlane(_ access: SandboxAccess,
                   _ build: (SandboxAccess.Credentials) throws(SandboxLifecycleError) -> OutboundRequest) async throws(SandboxLifecycleError) -> InboundResponse {
        let used = access.credentials
        let first = try await send(try build(used))
        if (200..<300).contains(first.status) { return first }
        let error = SandboxLifecycleError.from(first)
        guard SuperserveErrorClassifier.refreshesAccess(error, routingHint: used.routingHint) else { throw error }
        logger.info("superserve.data_plane.refresh", metadata: [
            "sandbox.id": "\(access.sandboxID)", "http.status": "\(first.status)",
        ])
        try await refresh(access, replacing: used)
        let second = try await send(try build(access.credentials))
        if (200..<300).contains(second.status) { return second }
        throw SandboxLifecycleError.from(second)
    }

    /// Single-flight activate per sandbox. A caller whose token was already
    /// replaced by another caller's refresh just uses the new one.
    func refresh(_ access: SandboxAccess, replacing used: SandboxAccess.Credentials) async throws(SandboxLifecycleError) {
        if access.credentials != used { return }
        let id = access.sandboxID
        let task: Task<Sandbox, any Error> = refreshes.withLock { tasks in
            if let running = tasks[id] { return running }
            let task = Task<Sandbox, any Error> { try await self.activate(id: id) }
            tasks[id] = task
            return task
        }
        let result = await task.result
        refreshes.withLock { tasks in
            if tasks[id] == task { tasks[id] = nil }
        }
        switch result {
        case .success(let sandbox):
            guard let token = sandbox.accessToken, !token.isEmpty else {
                throw .invalidResponse("activate answer carries no access token")
            }
            access.update(.init(accessToken: token, routingHint: sandbox.routingHint))
        case .failure(let error):
            throw error as? SandboxLifecycleError ?? .transport(.cancelled)
        }
    }
}
