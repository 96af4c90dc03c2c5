import Foundation

/// Where a secret of the configuration file comes from: never the file itself.
/// `{env: NAME}` reads a variable of the process (or of `--env-file`); `{file: PATH}`
/// reads a file, as Kubernetes and Docker mount secrets (the `*_FILE` habit); one
/// trailing newline is dropped. Errors name the variable or path, never the value.
enum SecretReference: Equatable {
    case environment(String)
    case file(String)

    /// Reads `{env: NAME}` or `{file: PATH}` at `node`; a plain value is refused, so
    /// that a secret pasted into the file is caught at start.
    static func parse(_ node: ConfigNode) throws(ConfigFile.Error) -> SecretReference {
        if case .scalar = node.node {
            throw node.error("secrets are never written in the file; give {env: VARIABLE} or {file: /path/to/secret}")
        }
        let entries = try node.mapping(allowed: ["env", "file"])
        guard entries.count == 1 else { throw node.error("give exactly one of env or file") }
        if let name = entries["env"] {
            let text = try name.string()
            guard RunnerVariableCheck.isName(text) else { throw name.error("must be an environment variable name") }
            return .environment(text)
        }
        return .file(try entries["file"]!.string())
    }

    /// The secret's value; `directory` resolves relative paths (the file's folder).
    func resolve(at node: ConfigNode, environment: [String: String], directory: URL) throws(ConfigFile.Error) -> String {
        switch self {
        case .environment(let name):
            guard let value = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
                throw node.error("names the variable \(name), which is not set")
            }
            return value
        case .file(let path):
            let url = URL(fileURLWithPath: path, relativeTo: directory)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw node.error("names the file \(path), which cannot be read")
            }
            guard var text = String(data: data, encoding: .utf8) else { throw node.error("the file \(path) is not UTF-8 text") }
            if text.hasSuffix("\r\n") { text.removeLast(2) } else if text.hasSuffix("\n") { text.removeLast() }
            guard !text.isEmpty else { throw node.error("the file \(path) is empty") }
            return text
        }
    }
}
