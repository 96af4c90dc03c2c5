import Foundation
import Yams

/// The configuration file of `serve`/`poll --config FILE` (or `CMA_CONFIG`), YAML
/// (README "Configuration file"). It lists the environments this deployment serves,
/// each with its sandbox profile, plus the upstream endpoints they share. Secrets are
/// only referenced (`SecretReference`); they are resolved here, at load, and every
/// error names the field and the line, never a value.
///
/// Precedence, for a setting both the file and a variable can give: a flag, then the
/// file, then the process environment, then `--env-file`, then the default. Process
/// settings (port, limits, logs) stay environment variables and flags.
public struct ConfigFile: Sendable, Equatable {
    /// Path as given, for messages.
    public var path: String
    /// `anthropic.base_url`.
    public var anthropicBaseURL: URL?
    /// `anthropic.webhook_signing_keys`: keys shared by every environment without its own.
    public var webhookSigningKeys: [String] = []
    /// `superserve.api_key` / `.base_url` / `.sandbox_url`: one team, one token bucket (rule 35).
    public var superserveAPIKey: String?
    public var superserveBaseURL: URL?
    public var superserveSandboxURL: URL?
    /// `environments`, in file order; ids are unique.
    public var environments: [EnvironmentProfile] = []

    public init(path: String) { self.path = path }

    /// A problem in the file: `file:line: field: problem`. Never carries a value.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public let file: String
        public let line: Int?
        public let field: String
        public let problem: String
        public var description: String {
            let place = line.map { "\(file):\($0)" } ?? file
            return field.isEmpty ? "\(place): \(problem)" : "\(place): \(field): \(problem)"
        }
    }

    static let topKeys: Set<String> = ["version", "anthropic", "superserve", "environments"]
    static let anthropicKeys: Set<String> = ["base_url", "webhook_signing_keys"]
    static let superserveKeys: Set<String> = ["api_key", "base_url", "sandbox_url"]
    static let environmentKeys: Set<String> = [
        "id", "key", "webhook_signing_keys", "template", "egress", "runner_env", "workdir", "idle_pause_seconds",
        "max_idle_seconds", "sandbox", "warm_pool",
    ]
    static let sandboxKeys: Set<String> = ["timeout_seconds", "auto_delete_seconds"]
    static let egressKeys: Set<String> = ["allow"]
    static let warmPoolKeys: Set<String> = ["size", "max_age_seconds"]
    /// Upper bound of `warm_pool.size` per environment.
    public static let maximumWarmPool = 100

    /// Reads and validates the file at `path` (relative to `workingDirectory`),
    /// resolving secret references against `environment`.
    public static func load(path: String, environment: [String: String],
                            workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws(Error) -> ConfigFile {
        let url = URL(fileURLWithPath: path, relativeTo: workingDirectory)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Error(file: path, line: nil, field: "", problem: "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Error(file: path, line: nil, field: "", problem: "is not UTF-8 text")
        }
        return try parse(text, path: path, environment: environment, directory: url.deletingLastPathComponent())
    }

    /// Parses file text; `directory` resolves relative secret file paths.
    public static func parse(_ text: String, path: String, environment: [String: String], directory: URL) throws(Error) -> ConfigFile {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw Error(file: path, line: nil, field: "", problem: "is empty; it must list environments")
            }
            root = node
        } catch let error as Error {
            throw error
        } catch let error as YamlError {
            throw syntaxError(error, path: path)
        } catch {
            throw Error(file: path, line: nil, field: "", problem: "is not valid YAML")
        }
        var file = ConfigFile(path: path)
        let top = try ConfigNode(node: root, path: "", file: path).mapping(allowed: topKeys)
        if let version = top["version"] {
            guard try version.int(in: 1...1000) == 1 else { throw version.error("must be 1") }
        }
        if let anthropic = try top["anthropic"]?.mapping(allowed: anthropicKeys) {
            file.anthropicBaseURL = try anthropic["base_url"]?.url()
            if let keys = anthropic["webhook_signing_keys"] {
                file.webhookSigningKeys = try signingKeys(keys, environment: environment, directory: directory)
            }
        }
        if let superserve = try top["superserve"]?.mapping(allowed: superserveKeys) {
            if let key = superserve["api_key"] {
                let value = try SecretReference.parse(key).resolve(at: key, environment: environment, directory: directory)
                guard !value.contains(where: \.isWhitespace) else { throw key.error("the key must not contain whitespace") }
                file.superserveAPIKey = value
            }
            file.superserveBaseURL = try superserve["base_url"]?.url()
            file.superserveSandboxURL = try superserve["sandbox_url"]?.url()
        }
        guard let list = top["environments"] else {
            throw Error(file: path, line: root.mark?.line, field: "environments", problem: "is required: list at least one environment")
        }
        let entries = try list.sequence()
        guard !entries.isEmpty else { throw list.error("must list at least one environment") }
        var seen: [String: Int] = [:]
        for entry in entries {
            let profile = try environmentProfile(entry, environment: environment, directory: directory)
            if let first = seen[profile.id] {
                throw entry.error("duplicate environment id (first listed as environments[\(first)])")
            }
            seen[profile.id] = file.environments.count
            file.environments.append(profile)
        }
        return file
    }

    /// libyaml's own problem text and position; it never quotes the document.
    static func syntaxError(_ error: YamlError, path: String) -> Error {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return Error(file: path, line: mark.line, field: "", problem: "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let keys, let context):
            // Keys are names, never values; the line is the first of the repeated key.
            return Error(file: path, line: context.mark.line, field: keys.joined(separator: ", "),
                         problem: "is given twice in the same mapping")
        case .reader(let problem, _, _, _):
            return Error(file: path, line: nil, field: "", problem: "invalid YAML: \(problem)")
        default:
            return Error(file: path, line: nil, field: "", problem: "invalid YAML")
        }
    }

    static func signingKeys(_ node: ConfigNode, environment: [String: String], directory: URL) throws(Error) -> [String] {
        var keys: [String] = []
        for item in try node.sequence() {
            let value = try SecretReference.parse(item).resolve(at: item, environment: environment, directory: directory)
            // One reference may hold several keys during rotation, as the variable does.
            let split = value.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" }).map(String.init)
            for key in split where !WebhookKeyCheck.isValid(key) {
                throw item.error("each key must be base64, optionally prefixed with whsec_")
            }
            keys += split
        }
        guard !keys.isEmpty else { throw node.error("must list at least one key reference") }
        return keys
    }

    static func environmentProfile(_ entry: ConfigNode, environment: [String: String], directory: URL) throws(Error) -> EnvironmentProfile {
        let fields = try entry.mapping(allowed: environmentKeys)
        guard let idNode = fields["id"] else { throw entry.error("needs an id (env_…)") }
        let id = try idNode.string()
        guard id.hasPrefix("env_"), id.count > 4, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw idNode.error("must look like env_…")
        }
        guard let keyNode = fields["key"] else { throw entry.error("needs a key: {env: VARIABLE} or {file: PATH}") }
        let key = try SecretReference.parse(keyNode).resolve(at: keyNode, environment: environment, directory: directory)
        guard key.hasPrefix("sk-ant-"), !key.contains(where: \.isWhitespace) else {
            throw keyNode.error("must be an environment key (sk-ant-…)")
        }
        var profile = EnvironmentProfile(id: id, key: key)
        profile.line = entry.line
        if let keys = fields["webhook_signing_keys"] {
            profile.webhookSigningKeys = try signingKeys(keys, environment: environment, directory: directory)
        }
        if let template = fields["template"] {
            let name = try template.string()
            // superserve.md §6: the name rule of templates (system templates have a slash too).
            guard name.count <= 128, name.range(of: #"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$"#, options: .regularExpression) != nil else {
                throw template.error("must be a template name (lower-case letters, digits, . _ / -)")
            }
            profile.template = name
        }
        if let egress = fields["egress"] {
            profile.egress = try egressPolicy(egress)
        }
        if let variables = fields["runner_env"] {
            for (name, nameNode, value) in try variables.pairs() {
                if let problem = RunnerVariableCheck.problem(name) { throw nameNode.error(problem) }
                if case .scalar = value.node {
                    // A literal: for settings, never for secrets (those use a reference).
                    profile.runnerVariables[name] = try value.string()
                } else {
                    profile.runnerVariables[name] = try SecretReference.parse(value)
                        .resolve(at: value, environment: environment, directory: directory)
                }
            }
        }
        if let workdir = fields["workdir"] {
            let dir = try workdir.string()
            guard dir.hasPrefix("/"), !dir.contains(" "), !dir.contains("..") else {
                throw workdir.error("must be an absolute path without spaces")
            }
            profile.workdir = dir
        }
        profile.idlePauseSeconds = try fields["idle_pause_seconds"]?.seconds(in: 1...604_800)
        profile.maxIdleSeconds = try fields["max_idle_seconds"]?.int(in: 1...86_400)
        if let sandbox = try fields["sandbox"]?.mapping(allowed: sandboxKeys) {
            profile.sandboxTimeoutSeconds = try sandbox["timeout_seconds"]?.int(in: 60...604_800)
            profile.autoDeleteSeconds = try sandbox["auto_delete_seconds"]?.int(in: 60...2_592_000)
        }
        if let pool = fields["warm_pool"] {
            if case .scalar = pool.node {
                profile.warmPool = .init(size: try pool.int(in: 0...maximumWarmPool))
            } else {
                let entries = try pool.mapping(allowed: warmPoolKeys)
                guard let size = entries["size"] else { throw pool.error("needs a size") }
                profile.warmPool = .init(size: try size.int(in: 0...maximumWarmPool),
                                         maxAgeSeconds: try entries["max_age_seconds"]?.int(in: 60...604_800)
                                             ?? EnvironmentProfile.WarmPool.defaultMaxAgeSeconds)
            }
        }
        return profile
    }

    /// `egress: open`, or `egress: {allow: [...]}` (the Anthropic host and
    /// `deny_out 0.0.0.0/0` are always added, rule 22).
    static func egressPolicy(_ node: ConfigNode) throws(Error) -> EnvironmentProfile.Egress {
        if case .scalar = node.node {
            guard try node.string() == "open" else {
                throw node.error("must be open or a mapping with an allow list")
            }
            return .open
        }
        let fields = try node.mapping(allowed: egressKeys)
        guard let allow = fields["allow"] else { throw node.error("needs an allow list (or write egress: open)") }
        var hosts: [String] = []
        for item in try allow.sequence() {
            let entry = try item.string()
            if let problem = EgressEntryCheck.problem(entry) { throw item.error(problem) }
            if !hosts.contains(entry) { hosts.append(entry) }
        }
        return .allow(hosts)
    }

    /// The environment named `id`, or the only one; several without a choice is an error
    /// (`setup template`, `prepare`; `serve`/`poll` serve them all, `Configuration.loadEnvironments`).
    public func select(_ id: String?) throws(Error) -> EnvironmentProfile {
        if let id {
            guard let profile = environments.first(where: { $0.id == id }) else {
                throw Error(file: path, line: nil, field: "environments",
                            problem: "lists no environment \(id) (it lists \(environments.map(\.id).joined(separator: ", ")))")
            }
            return profile
        }
        guard environments.count == 1 else {
            throw Error(file: path, line: environments.dropFirst().first?.line, field: "environments",
                        problem: "lists \(environments.count) environments; choose one with --environment ID")
        }
        return environments[0]
    }
}
