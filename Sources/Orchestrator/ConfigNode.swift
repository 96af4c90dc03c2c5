import Foundation
import Yams

/// A YAML node of the configuration file with its dotted field path
/// (`environments[1].egress.allow[0]`) and line, so that every error names both and
/// never the value (README "Configuration file").
struct ConfigNode {
    let node: Node
    let path: String
    let file: String

    var line: Int? { node.mark?.line }

    func error(_ problem: String) -> ConfigFile.Error {
        ConfigFile.Error(file: file, line: line, field: path, problem: problem)
    }

    func child(_ key: String, _ node: Node) -> ConfigNode {
        ConfigNode(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    func element(_ index: Int, _ node: Node) -> ConfigNode {
        ConfigNode(node: node, path: "\(path)[\(index)]", file: file)
    }

    /// The mapping's entries in file order; unknown keys and repeated keys are errors
    /// (a repeated key would silently drop one of the two settings).
    func mapping(allowed: Set<String>) throws(ConfigFile.Error) -> [String: ConfigNode] {
        guard case .mapping(let mapping) = node else { throw error("must be a mapping (key: value lines)") }
        var entries: [String: ConfigNode] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw ConfigNode(node: keyNode, path: path, file: file).error("keys must be plain names")
            }
            let key = scalar.string
            let named = ConfigNode(node: keyNode, path: path.isEmpty ? key : "\(path).\(key)", file: file)
            guard allowed.contains(key) else {
                throw named.error("unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            guard entries[key] == nil else { throw named.error("is given twice") }
            entries[key] = child(key, value)
        }
        return entries
    }

    /// Any mapping (runner variables), keys checked by the caller.
    func pairs() throws(ConfigFile.Error) -> [(key: String, keyNode: ConfigNode, value: ConfigNode)] {
        guard case .mapping(let mapping) = node else { throw error("must be a mapping (NAME: value lines)") }
        var seen: Set<String> = []
        var out: [(String, ConfigNode, ConfigNode)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw ConfigNode(node: keyNode, path: path, file: file).error("keys must be plain names")
            }
            let key = scalar.string
            let named = ConfigNode(node: keyNode, path: "\(path).\(key)", file: file)
            guard seen.insert(key).inserted else { throw named.error("is given twice") }
            out.append((key, named, child(key, value)))
        }
        return out
    }

    func sequence() throws(ConfigFile.Error) -> [ConfigNode] {
        guard case .sequence(let sequence) = node else { throw error("must be a list") }
        return sequence.enumerated().map { element($0.offset, $0.element) }
    }

    var isNull: Bool {
        if case .scalar(let s) = node, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) { return true }
        return false
    }

    /// A plain string (quoted or not); YAML's other scalars are accepted as their text.
    func string() throws(ConfigFile.Error) -> String {
        guard case .scalar(let scalar) = node, !isNull else { throw error("must be a text value") }
        let text = scalar.string.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { throw error("must not be empty") }
        return text
    }

    func int(in range: ClosedRange<Int>) throws(ConfigFile.Error) -> Int {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string), range.contains(value) else {
            throw error("must be an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    func seconds(in range: ClosedRange<Double>) throws(ConfigFile.Error) -> Double {
        guard case .scalar(let scalar) = node, let value = Double(scalar.string), value.isFinite, range.contains(value) else {
            throw error("must be a number of seconds between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound))")
        }
        return value
    }

    func url() throws(ConfigFile.Error) -> URL {
        let text = try string()
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              url.host != nil else { throw error("must be an http or https URL") }
        return url
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
