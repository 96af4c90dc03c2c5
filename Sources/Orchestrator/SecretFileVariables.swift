import Foundation

/// The `*_FILE` habit of mounted Kubernetes and Docker secrets for the secret
/// variables: `ANTHROPIC_ENVIRONMENT_KEY_FILE=/run/secrets/env-key` stands for
/// `ANTHROPIC_ENVIRONMENT_KEY` with the file's contents (one trailing newline
/// dropped). Setting both names is an error, as is a file that cannot be read; the
/// message names the variable and the path, never the contents.
public enum SecretFileVariables {
    /// The secret variables that also take a `_FILE` form.
    public static let names = [
        "ANTHROPIC_ENVIRONMENT_KEY", "ANTHROPIC_WEBHOOK_SIGNING_KEY", "ANTHROPIC_WEBHOOK_SECRET", "SUPERSERVE_API_KEY",
        "ANTHROPIC_API_KEY",
    ]

    public static func resolve(_ environment: [String: String]) throws(Configuration.Error) -> [String: String] {
        var out = environment
        for name in names {
            guard let path = environment[name + "_FILE"]?.trimmingCharacters(in: .whitespaces), !path.isEmpty else { continue }
            if let direct = environment[name], !direct.trimmingCharacters(in: .whitespaces).isEmpty {
                throw Configuration.Error(name + "_FILE", "set only one of \(name) and \(name)_FILE")
            }
            guard let data = FileManager.default.contents(atPath: path), var text = String(data: data, encoding: .utf8) else {
                throw Configuration.Error(name + "_FILE", "names a file that cannot be read (\(path))")
            }
            if text.hasSuffix("\r\n") { text.removeLast(2) } else if text.hasSuffix("\n") { text.removeLast() }
            out[name] = text
        }
        return out
    }
}
