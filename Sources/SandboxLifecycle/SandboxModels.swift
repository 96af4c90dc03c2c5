import Foundation

/// Sandbox status (superserve.md §4). Unknown values are kept: rule 13 treats
/// them as "exists, not usable yet".
public enum SandboxStatus: Sendable, Hashable {
    case starting, active, pausing, paused, resuming, migrating, failed, deleted
    case unknown(String)

    public init(_ raw: String) {
        switch raw {
        case "starting": self = .starting
        case "active": self = .active
        case "pausing": self = .pausing
        case "paused", "idle": self = .paused       // "idle" is the pre-April-2026 name
        case "resuming": self = .resuming
        case "migrating": self = .migrating
        case "failed": self = .failed
        case "deleted": self = .deleted
        default: self = .unknown(raw)
        }
    }

    public var rawValue: String {
        switch self {
        case .starting: "starting"
        case .active: "active"
        case .pausing: "pausing"
        case .paused: "paused"
        case .resuming: "resuming"
        case .migrating: "migrating"
        case .failed: "failed"
        case .deleted: "deleted"
        case .unknown(let raw): raw
        }
    }
}

/// Egress rules (superserve.md §5). Rule 22/23 compare them as sets.
public struct NetworkPolicy: Sendable, Equatable {
    public var allowOut: [String]
    public var denyOut: [String]

    public init(allowOut: [String], denyOut: [String]) {
        self.allowOut = allowOut
        self.denyOut = denyOut
    }

    /// Same rules regardless of order (the server puts CIDRs first, rule 23).
    public func matches(_ other: NetworkPolicy?) -> Bool {
        // No rules at all (an `egress: open` profile) and an answer without `network` are the same.
        guard let other else { return allowOut.isEmpty && denyOut.isEmpty }
        return Set(allowOut) == Set(other.allowOut) && Set(denyOut) == Set(other.denyOut)
    }

    var json: [String: Any] { ["allow_out": allowOut, "deny_out": denyOut] }
}

/// A sandbox as the control plane returns it. `accessToken` and `routingHint`
/// come only from create and activate; list items never carry them.
public struct Sandbox: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var status: SandboxStatus
    public var createdAt: Date?
    public var metadata: [String: String]
    public var network: NetworkPolicy?
    public var accessToken: String?
    public var routingHint: String?

    public init(id: String, name: String? = nil, status: SandboxStatus, createdAt: Date? = nil,
                metadata: [String: String] = [:], network: NetworkPolicy? = nil,
                accessToken: String? = nil, routingHint: String? = nil) {
        self.id = id
        self.name = name
        self.status = status
        self.createdAt = createdAt
        self.metadata = metadata
        self.network = network
        self.accessToken = accessToken
        self.routingHint = routingHint
    }

    init(json object: [String: Any]) throws(SandboxLifecycleError) {
        guard let id = object["id"] as? String, let status = object["status"] as? String else {
            throw .invalidResponse("sandbox object without id or status")
        }
        var metadata: [String: String] = [:]
        for (key, value) in object["metadata"] as? [String: Any] ?? [:] {
            metadata[key] = value as? String ?? "\(value)"
        }
        var network: NetworkPolicy?
        if let rules = object["network"] as? [String: Any] {
            network = NetworkPolicy(allowOut: rules["allow_out"] as? [String] ?? [],
                                    denyOut: rules["deny_out"] as? [String] ?? [])
        }
        self.init(id: id, name: object["name"] as? String, status: SandboxStatus(status),
                  createdAt: (object["created_at"] as? String).flatMap(Timestamp.parse),
                  metadata: metadata, network: network,
                  accessToken: object["access_token"] as? String,
                  routingHint: object["routing_hint"] as? String)
    }
}

/// What `POST /exec` answers (superserve.md §8.2); a non-zero exit is a result.
public struct ExecResult: Sendable, Equatable {
    public var stdout: String
    public var stderr: String
    public var exitCode: Int
    public var truncated: Bool

    public init(stdout: String, stderr: String, exitCode: Int, truncated: Bool = false) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitCode = exitCode
        self.truncated = truncated
    }
}

/// A template (superserve.md §6).
public struct TemplateInfo: Sendable, Equatable {
    public var id: String
    public var name: String
    public var status: String
    public var errorMessage: String?
    public var latestBuildID: String?
}

/// A template build (superserve.md §6).
public struct BuildInfo: Sendable, Equatable {
    public var id: String
    public var templateID: String
    public var status: String
    public var errorMessage: String?
}

/// RFC 3339 timestamps with or without fractional seconds (superserve.md §2).
public enum Timestamp {
    public static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }

    public static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}
