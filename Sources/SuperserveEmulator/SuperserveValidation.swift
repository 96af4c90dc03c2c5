import Foundation
import JSON

/// Input rules of superserve.md §3.2, §5 and §6 as pure functions. Each returns nil
/// when the input is valid, or the message of the 400 `bad_request` answer.
enum SuperserveValidation {
    static let maxNameBytes = 64
    static let maxMetadataKeys = 64
    static let maxMetadataKeyBytes = 256
    static let maxMetadataValueBytes = 2048
    static let maxMetadataTotalBytes = 16384
    static let maxEnvVars = 64
    static let maxEnvKeyBytes = 256
    static let maxEnvValueBytes = 8192
    static let maxEnvTotalBytes = 65536
    static let timeoutSecondsRange = 1...604_800
    static let autoDeleteSecondsRange = 0...2_592_000
    static let previewAccessValues: Set<String> = ["legacy_public", "public", "private"]

    /// Fields accepted by the strict decoders (§2: an unknown field is 400).
    static let createFields: Set<String> = ["name", "from_template", "from_snapshot", "timeout_seconds",
                                            "auto_delete_seconds", "metadata", "env_vars", "secrets",
                                            "network", "preview_access"]
    static let patchFields: Set<String> = ["metadata", "network", "auto_delete_seconds", "timeout_seconds", "preview_access"]
    static let networkFields: Set<String> = ["allow_out", "deny_out"]
    static let templateFields: Set<String> = ["name", "vcpu", "memory_mib", "disk_mib", "build_spec"]
    static let buildSpecFields: Set<String> = ["from", "steps", "start_cmd", "ready_cmd"]

    static func unknownField(in fields: [(String, JSONValue)], allowed: Set<String>) -> String? {
        fields.map(\.0).sorted().first { !allowed.contains($0) }.map { "unknown field \"\($0)\"" }
    }

    /// §3.2 metadata: ≤64 keys, key 1–256 bytes, value ≤2048 bytes, ≤16384 bytes in
    /// total, string values, and no key starting `superserve.` or `_superserve` in
    /// any case (orchestrator.md rule 17).
    static func metadata(_ value: JSONValue) -> Result<[String: String], Message> {
        guard let fields = value.objectValue else { return .failure("metadata must be an object") }
        guard fields.count <= maxMetadataKeys else { return .failure("metadata has more than \(maxMetadataKeys) keys") }
        var out: [String: String] = [:]
        var total = 0
        for (key, raw) in fields {
            guard let string = raw.stringValue else { return .failure("metadata values must be strings") }
            guard (1...maxMetadataKeyBytes).contains(key.utf8.count) else {
                return .failure("metadata keys must be 1-\(maxMetadataKeyBytes) bytes")
            }
            guard string.utf8.count <= maxMetadataValueBytes else {
                return .failure("metadata values must be at most \(maxMetadataValueBytes) bytes")
            }
            let lower = key.lowercased()
            if lower.hasPrefix("superserve.") || lower.hasPrefix("_superserve") {
                return .failure("metadata keys starting with \"superserve.\" or \"_superserve\" are reserved")
            }
            total += key.utf8.count + string.utf8.count
            out[key] = string
        }
        guard total <= maxMetadataTotalBytes else { return .failure("metadata exceeds \(maxMetadataTotalBytes) bytes") }
        return .success(out)
    }

    /// §3.2 env_vars.
    static func envVars(_ value: JSONValue) -> Result<[String: String], Message> {
        guard let fields = value.objectValue else { return .failure("env_vars must be an object") }
        guard fields.count <= maxEnvVars else { return .failure("env_vars has more than \(maxEnvVars) keys") }
        var out: [String: String] = [:]
        var total = 0
        for (key, raw) in fields {
            guard let string = raw.stringValue else { return .failure("env_vars values must be strings") }
            guard !key.isEmpty, key.utf8.count <= maxEnvKeyBytes, !key.contains("="), !key.utf8.contains(0) else {
                return .failure("env_vars keys must be 1-\(maxEnvKeyBytes) bytes without '=' or NUL")
            }
            guard string.utf8.count <= maxEnvValueBytes, !string.utf8.contains(0) else {
                return .failure("env_vars values must be at most \(maxEnvValueBytes) bytes")
            }
            total += key.utf8.count + string.utf8.count
            out[key] = string
        }
        guard total <= maxEnvTotalBytes else { return .failure("env_vars exceed \(maxEnvTotalBytes) bytes") }
        return .success(out)
    }

    /// §5: `{"allow_out": […]|null, "deny_out": […]|null}`. `allow_out` takes IPv4
    /// addresses/CIDRs and domain names (`*.example.com`, bare `*`); `deny_out` takes
    /// IPv4 addresses/CIDRs only. IPv6 anywhere is 400.
    static func network(_ value: JSONValue) -> Result<SuperserveNetworkRules, Message> {
        guard let fields = value.objectValue else { return .failure("network must be an object") }
        if let unknown = unknownField(in: fields, allowed: networkFields) { return .failure("network: \(unknown)") }
        func list(_ name: String) -> Result<[String], Message> {
            guard let raw = value[name], !raw.isNull else { return .success([]) }
            guard case .array(let items) = raw else { return .failure("network.\(name) must be a list") }
            var out: [String] = []
            for item in items {
                guard let s = item.stringValue, !s.isEmpty else { return .failure("network.\(name) entries must be non-empty strings") }
                out.append(s)
            }
            return .success(out)
        }
        let allow: [String], deny: [String]
        switch list("allow_out") { case .success(let l): allow = l; case .failure(let m): return .failure(m) }
        switch list("deny_out") { case .success(let l): deny = l; case .failure(let m): return .failure(m) }
        for entry in allow where !(isIPv4OrCIDR(entry) || isDomainPattern(entry)) {
            return .failure(entry.contains(":") ? "IPv6 is not supported in allow_out" : "invalid allow_out entry \"\(entry)\"")
        }
        for entry in deny where !isIPv4OrCIDR(entry) {
            return .failure(entry.contains(":") ? "IPv6 is not supported in deny_out" : "deny_out accepts IPv4 addresses and CIDRs only")
        }
        return .success(SuperserveNetworkRules(allowOut: allow, denyOut: deny))
    }

    static func isIPv4OrCIDR(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return false }
        if parts.count == 2 {
            guard let bits = Int(parts[1]), (0...32).contains(bits), parts[1].allSatisfy(\.isASCII) else { return false }
        }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        return octets.allSatisfy { o in
            !o.isEmpty && o.count <= 3 && o.allSatisfy { $0.isASCII && $0.isNumber } && Int(o)! <= 255
        }
    }

    /// A DNS name (labels of letters, digits and `-`, ≤63 bytes each, ≤253 in all),
    /// optionally behind `*.`, or a bare `*` (accepted; matches nothing, §5).
    static func isDomainPattern(_ s: String) -> Bool {
        if s == "*" { return true }
        let name = s.hasPrefix("*.") ? String(s.dropFirst(2)) : s
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 || name == "localhost" else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" }
        } && !(labels.last!.allSatisfy(\.isNumber))
    }

    /// §6: 1–128 chars, `^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$`, not `superserve/…`.
    static func templateName(_ name: String) -> Message? {
        guard (1...128).contains(name.count) else { return "template name must be 1-128 characters" }
        if name.hasPrefix("superserve/") { return "template names starting with \"superserve/\" are reserved" }
        func edge(_ c: Character) -> Bool { c.isASCII && (c.isLowercase || c.isNumber) }
        func inner(_ c: Character) -> Bool { edge(c) || c == "." || c == "_" || c == "/" || c == "-" }
        guard let first = name.first, let last = name.last, edge(first), edge(last), name.allSatisfy(inner) else {
            return "template name must match ^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$"
        }
        return nil
    }

    typealias Message = SuperserveEmulatorError
}
