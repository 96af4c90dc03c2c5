import Foundation
import HTTPServer
import HTTPWire
import JSON

/// Template endpoints (superserve.md §6). Builds run nothing: a build moves
/// `pending` → `building` → `snapshotting` → `ready` over `templateBuildDelay`.
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
            case (4, .GET) where s[2] == "builds":
                return await handle(label: "templates.builds.get", plane: .control, request: request) { [self] _ in getBuild(s[1], s[3]) }
            default:
                return Self.envelope(404, "not_found", "route not found")
            }
        })
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
        if let steps = spec["steps"], !steps.isNull {
            guard case .array(let items) = steps else { return Self.badRequest("build_spec.steps must be a list") }
            for step in items {
                guard let fields = step.objectValue, fields.count == 1,
                      ["run", "env", "workdir", "user"].contains(fields[0].0) else {
                    return Self.badRequest("each step must have exactly one of run, env, workdir, user")
                }
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
            var json = template.json
            if case .object(var fields) = json { fields.append(("build_id", .string(buildID))); json = .object(fields) }
            return Self.json(json, status: 202)
        }
        if result.status == 202 { runBuild(templateID: templateID, buildID: buildID) }
        return result
    }

    /// Advances a build through its statuses, one third of the delay each.
    private func runBuild(templateID: String, buildID: String) {
        let step = configuration.templateBuildDelay / 3
        Task.detached { [self] in
            for status in ["building", "snapshotting", "ready"] {
                try? await Task.sleep(for: step)
                state.withLock { store in
                    guard var build = store.builds[buildID], !build.isFinished else { return }
                    build.status = status
                    if status == "building" { build.startedAt = Date() }
                    if status == "ready" {
                        build.finalizedAt = Date()
                        if var template = store.templates[templateID] {
                            template.status = "ready"
                            template.builtAt = Date()
                            store.templates[templateID] = template
                        }
                    }
                    store.builds[buildID] = build
                }
            }
        }
    }

    func listTemplates(_ request: Request) -> Response {
        let prefix = request.query("name_prefix") ?? ""
        let templates = state.withLock { Array($0.templates.values) }
            .filter { $0.name.hasPrefix(prefix) }
            .sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.name < $1.name }
        return Self.json(.array(templates.map(\.json)))
    }

    func getTemplate(_ idOrName: String) -> Response {
        guard let template = state.withLock({ $0.template(named: idOrName) }) else { return Self.notFound("template not found") }
        return Self.json(template.json)
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
            return Self.json(.array(builds.map(\.json)))
        }
    }

    func getBuild(_ templateIDOrName: String, _ buildID: String) -> Response {
        state.withLock { store -> Response in
            guard let template = store.template(named: templateIDOrName),
                  let build = store.builds[buildID], build.templateID == template.id else {
                return Self.notFound("build not found")
            }
            return Self.json(build.json)
        }
    }
}
