import Foundation
import HTTPServer
import HTTPWire
import JSON

/// Control-plane sandbox endpoints (superserve.md §3, §4).
extension SuperserveEmulator {
    func addControlPlaneRoutes(to router: inout Router) {
        router.add(.POST, "/sandboxes", endpoint("sandboxes.create", plane: .control) { [self] in await create($0) })
        router.add(.GET, "/sandboxes", endpoint("sandboxes.list", plane: .control) { [self] in list($0) })
        // `/sandboxes/{id}` and `/sandboxes/{id}/{action}`: one prefix route, the
        // label (for call counts and faults) chosen from method and shape.
        router.add(nil, "/sandboxes", match: .prefix, .async { [self] request in
            let segments = request.pathSegments.map(String.init)
            let method = request.method
            switch (segments.count, method) {
            case (2, .GET):
                return await handle(label: "sandboxes.get", plane: .control, request: request) { [self] in get($0, segments[1]) }
            case (2, .PATCH):
                return await handle(label: "sandboxes.update", plane: .control, request: request) { [self] in update($0, segments[1]) }
            case (2, .DELETE):
                return await handle(label: "sandboxes.delete", plane: .control, request: request) { [self] _ in delete(segments[1]) }
            case (3, .POST) where segments[2] == "activate":
                return await handle(label: "sandboxes.activate", plane: .control, request: request) { [self] _ in await activate(segments[1]) }
            case (3, .POST) where segments[2] == "resume":
                return await handle(label: "sandboxes.resume", plane: .control, request: request) { [self] _ in await resume(segments[1]) }
            case (3, .POST) where segments[2] == "pause":
                return await handle(label: "sandboxes.pause", plane: .control, request: request) { [self] in await pause($0, segments[1]) }
            default:
                return Self.envelope(404, "not_found", "route not found")
            }
        })
    }

    // MARK: create (§3.2)

    func create(_ request: Request) async -> Response {
        let body: JSONValue
        switch Self.strictObject(request.body, allowed: SuperserveValidation.createFields) {
        case .success(let value): body = value
        case .failure(let message): return Self.badRequest(message.description)
        }
        guard let name = body["name"]?.stringValue, (1...SuperserveValidation.maxNameBytes).contains(name.utf8.count) else {
            return Self.badRequest("name is required and must be 1-\(SuperserveValidation.maxNameBytes) bytes")
        }
        var templateName = "superserve/base"
        if let raw = body["from_template"], !raw.isNull {
            guard let s = raw.stringValue, !s.isEmpty else { return Self.badRequest("from_template must be a string") }
            templateName = s
        }
        var timeoutSeconds: Int?, autoDeleteSeconds: Int?
        if let raw = body["timeout_seconds"], !raw.isNull {
            guard let v = raw.intValue, SuperserveValidation.timeoutSecondsRange.contains(v) else {
                return Self.badRequest("timeout_seconds must be an integer in 1-604800")
            }
            timeoutSeconds = v
        }
        if let raw = body["auto_delete_seconds"], !raw.isNull {
            guard let v = raw.intValue, SuperserveValidation.autoDeleteSecondsRange.contains(v) else {
                return Self.badRequest("auto_delete_seconds must be an integer in 0-2592000")
            }
            autoDeleteSeconds = v
        }
        var metadata: [String: String] = [:]
        if let raw = body["metadata"], !raw.isNull {
            switch SuperserveValidation.metadata(raw) {
            case .success(let m): metadata = m
            case .failure(let message): return Self.badRequest(message.description)
            }
        }
        var envVars: [String: String] = [:]
        if let raw = body["env_vars"], !raw.isNull {
            switch SuperserveValidation.envVars(raw) {
            case .success(let e): envVars = e
            case .failure(let message): return Self.badRequest(message.description)
            }
        }
        var secrets: [String: String] = [:]
        if let raw = body["secrets"], !raw.isNull {
            guard let fields = raw.objectValue else { return Self.badRequest("secrets must be an object") }
            for (key, value) in fields {
                guard let secretName = value.stringValue, !key.isEmpty else { return Self.badRequest("secrets values must be secret names") }
                guard envVars[key] == nil else { return Self.badRequest("secret \(key) collides with env_vars") }
                secrets[key] = secretName
            }
        }
        var network: SuperserveNetworkRules?
        if let raw = body["network"], !raw.isNull {
            switch SuperserveValidation.network(raw) {
            case .success(let n): network = n
            case .failure(let message): return Self.badRequest(message.description)
            }
        }
        var previewAccess = "legacy_public"
        if let raw = body["preview_access"], !raw.isNull {
            guard let s = raw.stringValue, SuperserveValidation.previewAccessValues.contains(s) else {
                return Self.badRequest("preview_access must be one of legacy_public, public, private")
            }
            previewAccess = s
        }
        if let raw = body["from_snapshot"], !raw.isNull {
            return Self.envelope(404, "snapshot_not_found", "snapshot not found")
        }

        let id = UUID().uuidString.lowercased()
        let outcome = state.withLock { store -> Response? in
            guard let template = store.template(named: templateName) else {
                return Self.envelope(404, "not_found", "template not found")
            }
            guard template.status == "ready" else {
                return Self.conflict("template is not ready")
            }
            if overQuota(store) { return Self.tooManySandboxes() }
            store.sequence += 1
            store.sandboxes[id] = SuperserveSandboxRecord(
                id: id, name: name, status: .starting, vcpuCount: template.vcpu, memoryMiB: template.memoryMiB,
                createdAt: Date(), sequence: store.sequence, timeoutSeconds: timeoutSeconds,
                autoDeleteSeconds: autoDeleteSeconds, network: network, metadata: metadata,
                previewAccess: previewAccess, envVars: envVars, secrets: secrets,
                statusSince: .now, statusSinceDate: Date(), workdir: template.workdir, templateID: template.id)
            return nil
        }
        if let outcome { return outcome }
        do {
            try localSandbox(id).create()
        } catch {
            setStatus(id, .failed)
            logger.error("superserve.sandbox.create_failed", metadata: ["sandbox.id": "\(id)", "error.message": "\(error)"])
            return Self.envelope(500, "internal_error", "could not create the sandbox directory")
        }
        logger.info("superserve.sandbox.created", metadata: ["sandbox.id": "\(id)"])
        // §3.2: the 201 comes once the VM is up; a `starting` hold keeps the row in
        // `starting` (visible to lists) while this request waits.
        beginTransition(id, .starting)
        guard let record = await waitWhile(id, limit: .seconds(3600), { $0 == .starting }) else {
            return Self.envelope(500, "internal_error", "sandbox disappeared during start")
        }
        guard let token = accessToken(id, fresh: true) else { return Self.envelope(500, "internal_error", "sandbox disappeared during start") }
        return Self.json(record.json(token: token, includeRoutingHint: true), status: 201)
    }

    // MARK: list (§3.3)

    func list(_ request: Request) -> Response {
        var metadataFilter: [String: String] = [:]
        var statuses: Set<String>?
        var limit: Int?, offset = 0
        var sortField = "created_at", ascending = false
        var query: String?
        for (name, value) in request.queryItems {
            if name.hasPrefix("metadata.") {
                let key = String(name.dropFirst("metadata.".count))
                guard !key.isEmpty else { return Self.badRequest("empty metadata filter key") }
                guard metadataFilter[key] == nil else { return Self.badRequest("metadata filter key \(key) repeated") }
                metadataFilter[key] = value
                continue
            }
            switch name {
            case "status":
                var set = statuses ?? []
                for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                    let s = part.trimmingCharacters(in: .whitespaces)
                    guard SuperserveSandboxStatus.filterable.contains(s) else { return Self.badRequest("invalid status filter \"\(s)\"") }
                    set.insert(s)
                }
                statuses = set
            case "limit":
                guard let v = Int(value), v >= 0 else { return Self.badRequest("limit must be a non-negative integer") }
                limit = v == 0 ? nil : min(v, configuration.listLimitCap)
            case "offset":
                guard let v = Int(value), v >= 0 else { return Self.badRequest("offset must be a non-negative integer") }
                offset = v
            case "sort":
                guard value == "created_at" || value == "name" else { return Self.badRequest("sort must be created_at or name") }
                sortField = value
            case "order":
                guard value == "asc" || value == "desc" else { return Self.badRequest("order must be asc or desc") }
                ascending = value == "asc"
            case "q":
                query = value.lowercased()
            default:
                continue
            }
        }
        let records = state.withLock { Array($0.sandboxes.values) }
        var matching = records.filter { record in
            if let statuses, !statuses.contains(record.status.rawValue) { return false }
            for (key, value) in metadataFilter where record.metadata[key] != value { return false }
            if let query, !query.isEmpty, !record.name.lowercased().contains(query), !record.id.contains(query) { return false }
            return true
        }
        matching.sort { a, b in
            let before: Bool
            if sortField == "name", a.name != b.name { before = a.name < b.name } else { before = a.sequence < b.sequence }
            return ascending ? before : !before
        }
        let total = matching.count
        let page = matching.dropFirst(offset).prefix(limit ?? Int.max)
        var response = Self.json(.array(page.map { $0.json() }))
        response.headers.add(name: "X-Total-Count", value: String(total))
        return response
    }

    // MARK: get, activate, resume, pause (§3.4, §3.5, §4)

    func get(_ request: Request, _ id: String) -> Response {
        guard let record = state.withLock({ $0.sandboxes[id] }) else { return Self.notFound() }
        return Self.json(record.json())
    }

    func activate(_ id: String) async -> Response {
        let deadline = ContinuousClock.now.advanced(by: configuration.activateWait)
        while true {
            guard let record = state.withLock({ $0.sandboxes[id] }) else { return Self.notFound() }
            switch record.status {
            case .active:
                guard let token = accessToken(id, fresh: false),
                      let current = state.withLock({ $0.sandboxes[id] }) else { return Self.notFound() }
                return Self.json(current.json(token: token, includeRoutingHint: true))
            case .paused:
                // Activate resumes a paused sandbox (orchestrator.md rule 19) with a
                // new token.
                if state.withLock({ overQuota($0) }) { return Self.tooManySandboxes() }
                guard beginTransition(id, .resuming, from: [.paused]) else { continue }
                guard let resumed = await waitWhile(id, limit: .seconds(3600), { $0 == .resuming }) else { return Self.notFound() }
                guard resumed.status == .active, let token = accessToken(id, fresh: true),
                      let current = state.withLock({ $0.sandboxes[id] }) else { continue }
                return Self.json(current.json(token: token, includeRoutingHint: true))
            case .starting, .resuming:
                // §3.4: wait up to 6 s, then 409 with the emulator-chosen code.
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero {
                    return Self.conflict("Sandbox is still \(record.status.rawValue)", code: "sandbox_\(record.status.rawValue)")
                }
                let status = record.status
                _ = await waitWhile(id, limit: remaining) { $0 == status }
            case .pausing:
                return Self.conflict("Sandbox is pausing", code: "sandbox_pausing")
            case .failed:
                return Self.conflict("Sandbox has failed", code: "sandbox_failed")
            case .migrating, .deleted:
                return Self.conflict()
            }
        }
    }

    func resume(_ id: String) async -> Response {
        guard state.withLock({ $0.sandboxes[id] }) != nil else { return Self.notFound() }
        // §3.4: only from `paused`; from anything else, `active` included, 409.
        if state.withLock({ $0.sandboxes[id]?.status == .paused && overQuota($0) }) { return Self.tooManySandboxes() }
        guard beginTransition(id, .resuming, from: [.paused]) else { return Self.conflict() }
        guard let record = await waitWhile(id, limit: .seconds(3600), { $0 == .resuming }) else { return Self.notFound() }
        guard record.status == .active, let token = accessToken(id, fresh: true) else { return Self.conflict() }
        return Self.json(.object([("id", .string(id)), ("status", .string("active")), ("access_token", .string(token))]))
    }

    func pause(_ request: Request, _ id: String) async -> Response {
        guard state.withLock({ $0.sandboxes[id] }) != nil else { return Self.notFound() }
        guard beginTransition(id, .pausing, from: [.active]) else { return Self.conflict() }
        logger.info("superserve.sandbox.pausing", metadata: ["sandbox.id": "\(id)"])
        let respondAsync = request.headers[all: "Prefer"].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "respond-async" }
        }
        // §3.5: with `Prefer: respond-async` answer at once; without it hold the
        // request until the snapshot exists (or our own wait runs out).
        let record = respondAsync
            ? state.withLock({ $0.sandboxes[id] })
            : await waitWhile(id, limit: configuration.pauseWait) { $0 == .pausing }
        if let record, record.status == .pausing {
            return Self.json(.object([("status", .string("pausing"))]), status: 202)
        }
        return .empty(status: 204)
    }

    // MARK: update (§3.6), delete (§3.7)

    func update(_ request: Request, _ id: String) -> Response {
        let body: JSONValue
        switch Self.strictObject(request.body, allowed: SuperserveValidation.patchFields) {
        case .success(let value): body = value
        case .failure(let message): return Self.badRequest(message.description)
        }
        guard let fields = body.objectValue, !fields.isEmpty else { return Self.badRequest("empty update") }
        var metadata: [String: String]?
        if let raw = body["metadata"] {
            switch SuperserveValidation.metadata(raw) {
            case .success(let m): metadata = m
            case .failure(let message): return Self.badRequest(message.description)
            }
        }
        var network: SuperserveNetworkRules?
        if let raw = body["network"] {
            switch SuperserveValidation.network(raw) {
            case .success(let n): network = n
            case .failure(let message): return Self.badRequest(message.description)
            }
        }
        // Explicit `null` clears a timeout; a number sets it.
        func timeout(_ key: String, _ range: ClosedRange<Int>) -> Result<Int??, SuperserveValidation.Message> {
            guard let raw = body[key] else { return .success(.none) }
            if raw.isNull { return .success(.some(nil)) }
            guard let v = raw.intValue, range.contains(v) else { return .failure("\(key) must be an integer in \(range.lowerBound)-\(range.upperBound) or null") }
            return .success(.some(v))
        }
        let timeoutSeconds: Int??, autoDeleteSeconds: Int??
        switch timeout("timeout_seconds", SuperserveValidation.timeoutSecondsRange) {
        case .success(let v): timeoutSeconds = v
        case .failure(let m): return Self.badRequest(m.description)
        }
        switch timeout("auto_delete_seconds", SuperserveValidation.autoDeleteSecondsRange) {
        case .success(let v): autoDeleteSeconds = v
        case .failure(let m): return Self.badRequest(m.description)
        }
        var previewAccess: String?
        if let raw = body["preview_access"] {
            guard let s = raw.stringValue, SuperserveValidation.previewAccessValues.contains(s) else {
                return Self.badRequest("preview_access must be one of legacy_public, public, private")
            }
            previewAccess = s
        }
        return state.withLock { store -> Response in
            guard var record = store.sandboxes[id] else { return Self.notFound() }
            // §3.6: network only while active.
            if network != nil, record.status != .active {
                return Self.conflict("network can only be updated while the sandbox is active")
            }
            if let metadata { record.metadata = metadata }
            if let network { record.network = network }
            if let timeoutSeconds { record.timeoutSeconds = timeoutSeconds }
            if let autoDeleteSeconds {
                record.autoDeleteSeconds = autoDeleteSeconds
                // The window counts from now when the sandbox is already paused
                // (superserve 0.11.4 `update` docs).
                if record.status == .paused { record.statusSince = .now; record.statusSinceDate = Date() }
            }
            if let previewAccess { record.previewAccess = previewAccess }
            store.sandboxes[id] = record
            return .empty(status: 204)
        }
    }

    func delete(_ id: String) -> Response {
        let stuckAge = configuration.stuckTransitionAge
        let verdict = state.withLock { store -> Response? in
            guard let record = store.sandboxes[id] else { return Self.notFound() }
            if record.status.isTransitional, record.statusSince.advanced(by: stuckAge) > .now {
                return Self.conflict("Sandbox is \(record.status.rawValue); retry once the transition completes")
            }
            return nil
        }
        if let verdict { return verdict }
        removeSandbox(id)
        return .empty(status: 204)
    }
}
