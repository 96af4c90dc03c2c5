import APIClient
import Foundation

/// Templates (superserve.md §6, rule 47).
extension SuperserveClient {
    /// `GET /templates?name_prefix=…`. Accepts a bare array or an object with `data`/`templates`.
    public func listTemplates(namePrefix: String, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> [TemplateInfo] {
        let response = try await control("GET", "/templates", query: [("name_prefix", namePrefix)], timeout: timeout)
        let parsed = try? JSONSerialization.jsonObject(with: response.body)
        let array = parsed as? [[String: Any]]
            ?? (parsed as? [String: Any]).flatMap { ($0["data"] ?? $0["templates"]) as? [[String: Any]] }
        guard let array else { throw .invalidResponse("template list is not a JSON array") }
        var templates: [TemplateInfo] = []
        for object in array { templates.append(try Self.template(object)) }
        return templates
    }

    /// `GET /templates/{id}`.
    public func getTemplate(id: String, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> TemplateInfo {
        let response = try await control("GET", "/templates/\(Self.segment(id))", timeout: timeout)
        return try Self.template(Self.object(response))
    }

    /// `GET /templates/{id}/builds/{build_id}`.
    public func getBuild(templateID: String, buildID: String, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> BuildInfo {
        let response = try await control("GET", "/templates/\(Self.segment(templateID))/builds/\(Self.segment(buildID))",
                                         timeout: timeout)
        let object = try Self.object(response)
        guard let id = object["id"] as? String, let status = object["status"] as? String else {
            throw .invalidResponse("build without id or status")
        }
        return BuildInfo(id: id, templateID: object["template_id"] as? String ?? templateID, status: status,
                         errorMessage: object["error_message"] as? String)
    }

    /// `POST /templates` with a caller-built body (name, vcpu, memory_mib, build_spec);
    /// returns the template and its `build_id` (202).
    public func createTemplate(body: Data, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> (template: TemplateInfo, buildID: String) {
        let response = try await control("POST", "/templates", body: body, timeout: timeout ?? configuration.lifecycleTimeout)
        let object = try Self.object(response)
        guard let buildID = object["build_id"] as? String else { throw .invalidResponse("template create answer without build_id") }
        return (try Self.template(object), buildID)
    }

    /// `POST /templates/{id}/builds`: a new build of the template's stored spec (the
    /// SDK's `rebuild()`), e.g. after a failed one; returns the build.
    public func rebuildTemplate(id: String, timeout: Duration? = nil) async throws(SandboxLifecycleError) -> BuildInfo {
        let response = try await control("POST", "/templates/\(Self.segment(id))/builds", timeout: timeout ?? configuration.lifecycleTimeout)
        let object = try Self.object(response)
        guard let buildID = object["id"] as? String, let status = object["status"] as? String else {
            throw .invalidResponse("build without id or status")
        }
        return BuildInfo(id: buildID, templateID: object["template_id"] as? String ?? id, status: status,
                         errorMessage: object["error_message"] as? String)
    }

    /// The setup command's flow (rule 47): create, then poll the build every
    /// `buildPollInterval` until `ready`; `failed` and `cancelled` are errors.
    public func buildTemplate(body: Data) async throws(SandboxLifecycleError) -> TemplateInfo {
        let (template, buildID) = try await createTemplate(body: body)
        logger.info("superserve.template.build_started", metadata: ["template.id": "\(template.id)", "build.id": "\(buildID)"])
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.buildTimeout
        while true {
            let build = try await getBuild(templateID: template.id, buildID: buildID)
            switch build.status {
            case "ready":
                return try await getTemplate(id: template.id)
            case "failed", "cancelled":
                throw .buildFailed("\(build.status): \(build.errorMessage ?? "no detail")")
            default:
                guard clock.now + configuration.buildPollInterval < deadline else {
                    throw .buildFailed("build \(buildID) not ready after \(LaunchPlanner.seconds(configuration.buildTimeout))")
                }
                do { try await sleeper.sleep(for: configuration.buildPollInterval) } catch { throw .transport(.cancelled) }
            }
        }
    }

    static func object(_ response: InboundResponse) throws(SandboxLifecycleError) -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
            throw .invalidResponse("answer is not a JSON object")
        }
        return object
    }

    static func template(_ object: [String: Any]) throws(SandboxLifecycleError) -> TemplateInfo {
        guard let id = object["id"] as? String, let name = object["name"] as? String,
              let status = object["status"] as? String else {
            throw .invalidResponse("template without id, name or status")
        }
        return TemplateInfo(id: id, name: name, status: status, errorMessage: object["error_message"] as? String,
                            latestBuildID: object["latest_build_id"] as? String)
    }
}
