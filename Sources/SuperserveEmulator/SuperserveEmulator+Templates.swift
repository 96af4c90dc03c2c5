import Foundation
import HTTPServer
import HTTPWire
import JSON

/// Template endpoints (superserve.md §6). Builds run nothing: a build moves
/// `pending` → `building` → `snapshotting` → `ready` over `templateBuildDelay`, and
/// writes a log line per step, which `GET …/builds/{id}/logs` streams as SSE
/// (`{timestamp, stream, text, finished?, status?}`). `POST /templates/{id}/builds`
/// rebuilds the stored spec (the SDK's `rebuild()`). The switch
/// `POST /_emulator/superserve/builds/fail` `{"count":N,"error":"step_failed: …"}`
/// makes the next N builds fail with that `error_message`.
extension SuperserveEmulator {
    func addTemplateRoutes(to router: inout Router) {
        router.add(.POST, "/templates", endpoint("templates.create", plane: .control) { [self] in createTemplate($0) })
        router.add(.GET, "/templates", endpoint("templates.list", plane: .control) { [self] in listTemplates($0) })
        router.add(nil, "/templates", match: .prefix, .async { [self] request in
            let s = request.pathSegments.map(String.init)
            switch (s.count, request.method) {
            case (2, .GET):
                return await handle(label: "templates.get", plane: .control, request: request) { [self] _ in getTemplate(s[1]) }
            case (2, .DELETE):
                return await handle(label: "templates.delete", plane: .control, request: request) { [self] _ in deleteTemplate(s[1]) }
            case (3, .GET) where s[2] == "builds":
                return await handle(label: "templates.builds.list", plane: .control, request: request) { [self] _ in listBuilds(s[1]) }
            case (3, .POST) where s[2] == "builds":
                return await handle(label: "templates.builds.create", plane: .control, request: request) { [self] _ in rebuild(s[1]) }
            case (4, .GET) where s[2] == "builds":
                return await handle(label: "templates.builds.get", plane: .control, request: request) { [self] _ in getBuild(s[1], s[3]) }
            case (5, .GET) where s[2] == "builds" && s[4] == "logs":
                return await handle(label: "templates.builds.logs", plane: .control, request: request) { [self] _ in buildLogs(s[1], s[3]) }
            default:
                return Self.envelope(404, "not_found", "route not found")
            }
        })
        router.add(.POST, Self.switchPrefix + "/builds/fail", .async { [self] request in failNextBuilds(request) })
    }

    func createTemplate(_ request: Request) -> Response {
        let body: JSONValue
        switch Self.strictObject(request.body, allowed: SuperserveValidation.templateFields) {
        case .success(let value): body = value
        case .failure(let message): return Self.badRequest(message.description)
        }
        guard let name = body["name"]?.stringValue else { return Self.badRequest("name is required") }
        if let message = SuperserveValidation.templateName(name) { return Self.badRequest(message.description) }
        func intField(_ key: String, _ range: ClosedRange<Int>, _ fallback: Int) -> Int? {
            guard let raw = body[key], !raw.isNull else { return fallback }
            guard let v = raw.intValue, range.contains(v) else { return nil }
            return v
        }
        guard let vcpu = intField("vcpu", 1...4, 2) else { return Self.badRequest("vcpu must be 1-4") }
        guard let memory = intField("memory_mib", 256...4096, 2048) else { return Self.badRequest("memory_mib must be 256-4096") }
        guard let disk = intField("disk_mib", 1024...8192, 4096) else { return Self.badRequest("disk_mib must be 1024-8192") }
        guard let spec = body["build_spec"], let specFields = spec.objectValue else {
            return Self.badRequest("build_spec is required")
        }
        if let unknown = SuperserveValidation.unknownField(in: specFields, allowed: SuperserveValidation.buildSpecFields) {
            return Self.badRequest("build_spec: \(unknown)")
        }
        guard let from = spec["from"]?.stringValue, !from.isEmpty else { return Self.badRequest("build_spec.from is required") }
        let lowerFrom = from.lowercased()
        if lowerFrom.contains("alpine") || lowerFrom.contains("distroless") {
            return Self.badRequest("alpine and distroless base images are not supported")
        }
        var workdir: String?
        var stepTexts: [String] = []
        if let steps = spec["steps"], !steps.isNull {
            guard case .array(let items) = steps else { return Self.badRequest("build_spec.steps must be a list") }
            for step in items {
                guard let fields = step.objectValue, fields.count == 1,
                      ["run", "env", "workdir", "user"].contains(fields[0].0) else {
                    return Self.badRequest("each step must have exactly one of run, env, workdir, user")
                }
                stepTexts.append(fields[0].0.uppercased() + " " + (fields[0].1.stringValue ?? fields[0].1.serialized))
                if fields[0].0 == "workdir" {
                    guard let dir = fields[0].1.stringValue, dir.hasPrefix("/") else { return Self.badRequest("workdir must be an absolute path") }
                    workdir = dir
                }
            }
        }
        for key in ["start_cmd", "ready_cmd"] {
            if let raw = spec[key], !raw.isNull, raw.stringValue == nil { return Self.badRequest("build_spec.\(key) must be a string") }
        }

        let now = Date()
        let templateID = "tpl-" + UUID().uuidString.lowercased()
        let buildID = "bld-" + UUID().uuidString.lowercased()
        let result = state.withLock { store -> Response in
            if store.templates.values.contains(where: { $0.name == name }) {
                return Self.conflict("template name already exists")
            }
            if store.templates.values.filter({ !$0.system }).count >= configuration.maxTemplates {
                return Self.envelope(429, "too_many_templates", "template limit reached")
            }
            if store.builds.values.filter({ !$0.isFinished }).count >= configuration.maxConcurrentBuilds {
                return Self.envelope(429, "too_many_builds", "concurrent build limit reached")
            }
            let template = SuperserveTemplateRecord(id: templateID, teamID: Self.teamID, name: name, status: "building",
                                                    vcpu: vcpu, memoryMiB: memory, diskMiB: disk, createdAt: now,
                                                    builtAt: nil, latestBuildID: buildID, workdir: workdir, system: false)
            store.templates[templateID] = template
            store.builds[buildID] = SuperserveBuildRecord(id: buildID, templateID: templateID, status: "pending",
                                                          specHash: SuperserveClock.random64Hex(), createdAt: now)
            store.buildExtras.steps[templateID] = ["FROM \(from)"] + stepTexts
            var json = template.json
            if case .object(var fields) = json { fields.append(("build_id", .string(buildID))); json = .object(fields) }
            return Self.json(json, status: 202)
        }
        if result.status == 202 { runBuild(templateID: templateID, buildID: buildID) }
        return result
    }

    /// Advances a build through its statuses, one third of the delay each, logging a
    /// line per step; a build marked to fail stops at `building` with its error.
    private func runBuild(templateID: String, buildID: String) {
        let step = configuration.templateBuildDelay / 3
        let failure: String? = state.withLock { store in
            guard store.buildExtras.failuresLeft > 0 else { return nil }
            store.buildExtras.failuresLeft -= 1
            return store.buildExtras.failureMessage
        }
        Task.detached { [self] in
            for status in ["building", "snapshotting", "ready"] {
                try? await Task.sleep(for: step)
                state.withLock { store in
                    guard var build = store.builds[buildID], !build.isFinished else { return }
                    let steps = store.buildExtras.steps[templateID] ?? []
                    if status == "building" {
                        build.startedAt = Date()
                        store.buildExtras.log(buildID, "system", "build \(buildID) started")
                        for (index, text) in steps.enumerated() {
                            store.buildExtras.log(buildID, "stdout", "Step \(index + 1)/\(steps.count): \(text)")
                        }
                    }
                    if status == "snapshotting", let failure {
                        build.status = "failed"
                        build.finalizedAt = Date()
                        store.buildExtras.buildErrors[buildID] = failure
                        if var template = store.templates[templateID], template.builtAt == nil {
                            template.status = "failed"
                            store.templates[templateID] = template
                            store.buildExtras.templateErrors[templateID] = failure
                        }
                        store.buildExtras.log(buildID, "stderr", failure)
                        store.buildExtras.finish(buildID, status: "failed")
                        store.builds[buildID] = build
                        return
                    }
                    build.status = status
                    if status == "ready" {
                        build.finalizedAt = Date()
                        if var template = store.templates[templateID] {
                            template.status = "ready"
                            template.builtAt = Date()
                            template.latestBuildID = buildID
                            store.templates[templateID] = template
                            store.buildExtras.templateErrors[templateID] = nil
                        }
                        store.buildExtras.log(buildID, "system", "snapshot stored")
                        store.buildExtras.finish(buildID, status: "ready")
                    }
                    store.builds[buildID] = build
                }
            }
        }
    }

    /// `POST /templates/{id}/builds`: a new build of the stored spec → 202 build object;
    /// 409 while a build of the template is still running.
    func rebuild(_ idOrName: String) -> Response {
        let now = Date()
        let buildID = "bld-" + UUID().uuidString.lowercased()
        let answer: (Response, String?) = state.withLock { store in
            guard var template = store.template(named: idOrName), !template.system else {
                return (Self.notFound("template not found"), nil)
            }
            if store.builds.values.contains(where: { $0.templateID == template.id && !$0.isFinished }) {
                return (Self.conflict("a build of this template is in progress"), nil)
            }
            let build = SuperserveBuildRecord(id: buildID, templateID: template.id, status: "pending",
                                              specHash: SuperserveClock.random64Hex(), createdAt: now)
            store.builds[buildID] = build
            if template.status != "ready" { template.status = "building" }
            template.latestBuildID = buildID
            store.templates[template.id] = template
            store.buildExtras.templateErrors[template.id] = nil
            return (Self.json(build.json, status: 202), template.id)
        }
        if let templateID = answer.1 { runBuild(templateID: templateID, buildID: buildID) }
        return answer.0
    }

    /// `GET /templates/{id}/builds/{build_id}/logs`: the lines so far, then new ones as
    /// the build writes them, until the final event (`finished: true`, `status`).
    func buildLogs(_ templateIDOrName: String, _ buildID: String) -> Response {
        let (events, continuation) = AsyncStream.makeStream(of: JSONValue.self)
        let found: Bool = state.withLock { store in
            guard let template = store.template(named: templateIDOrName),
                  let build = store.builds[buildID], build.templateID == template.id else { return false }
            for line in store.buildExtras.lines[buildID] ?? [] { continuation.yield(line) }
            if build.isFinished, store.buildExtras.lines[buildID]?.last?["finished"]?.boolValue == true {
                continuation.finish()
            } else if build.isFinished {
                continuation.yield(SuperserveBuildExtras.event("system", "", finished: build.status))
                continuation.finish()
            } else {
                store.buildExtras.followers[buildID, default: []].append(continuation)
            }
            return true
        }
        guard found else { return Self.notFound("build not found") }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        return Response(status: 200, headers: headers, body: .stream { writer in
            for await event in events { try await writer.write(Self.sseEvent(event)) }
        })
    }

    /// Switch: the next `count` builds fail with `error` (default `step_failed: …`).
    func failNextBuilds(_ request: Request) -> Response {
        guard let body = try? JSONValue.parse(request.body), body.objectValue != nil,
              let count = body["count"]?.intValue, count >= 0 else {
            return Self.badRequest("body must be {\"count\":N,\"error\"?:\"code: detail\"}")
        }
        let message = body["error"]?.stringValue ?? "step_failed: step 2 exited with status 100"
        state.withLock { store in
            store.buildExtras.failuresLeft = count
            store.buildExtras.failureMessage = message
        }
        return Self.json(.object([("count", .int(count)), ("error", .string(message))]))
    }

    func listTemplates(_ request: Request) -> Response {
        let prefix = request.query("name_prefix") ?? ""
        let templates = state.withLock { Array($0.templates.values) }
            .filter { $0.name.hasPrefix(prefix) }
            .sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.name < $1.name }
        let errors = state.withLock { $0.buildExtras.templateErrors }
        return Self.json(.array(templates.map { SuperserveBuildExtras.withError($0.json, errors[$0.id]) }))
    }

    func getTemplate(_ idOrName: String) -> Response {
        guard let (template, error) = state.withLock({ store in
            store.template(named: idOrName).map { ($0, store.buildExtras.templateErrors[$0.id]) }
        }) else { return Self.notFound("template not found") }
        return Self.json(SuperserveBuildExtras.withError(template.json, error))
    }

    func deleteTemplate(_ idOrName: String) -> Response {
        state.withLock { store -> Response in
            guard let template = store.template(named: idOrName), !template.system else { return Self.notFound("template not found") }
            // §6: deleting a template in use is 409.
            if store.sandboxes.values.contains(where: { $0.templateID == template.id }) {
                return Self.conflict("template is in use")
            }
            store.templates[template.id] = nil
            return .empty(status: 204)
        }
    }

    func listBuilds(_ templateIDOrName: String) -> Response {
        state.withLock { store -> Response in
            guard let template = store.template(named: templateIDOrName) else { return Self.notFound("template not found") }
            let builds = store.builds.values.filter { $0.templateID == template.id }.sorted { $0.createdAt > $1.createdAt }
            return Self.json(.array(builds.map { SuperserveBuildExtras.withError($0.json, store.buildExtras.buildErrors[$0.id]) }))
        }
    }

    func getBuild(_ templateIDOrName: String, _ buildID: String) -> Response {
        state.withLock { store -> Response in
            guard let template = store.template(named: templateIDOrName),
                  let build = store.builds[buildID], build.templateID == template.id else {
                return Self.notFound("build not found")
            }
            return Self.json(SuperserveBuildExtras.withError(build.json, store.buildExtras.buildErrors[build.id]))
        }
    }
}
