import Foundation
import JSON

/// The eight sandbox statuses of superserve.md §4. The emulator emits nothing else
/// (§10.11: the Python SDK raises `ValueError` on any other value).
enum SuperserveSandboxStatus: String, Sendable, CaseIterable {
    case starting, active, pausing, paused, resuming, migrating, failed, deleted

    /// Values the list filter accepts (§3.3); `migrating` is not one of them.
    static let filterable: Set<String> = ["starting", "active", "pausing", "paused", "resuming", "failed", "deleted"]

    var isTransitional: Bool { self == .starting || self == .pausing || self == .resuming }
}

/// Egress rules as stored (§5): the emulator records them and never enforces them
/// (orchestrator.md rule 46).
struct SuperserveNetworkRules: Sendable, Equatable {
    var allowOut: [String]
    var denyOut: [String]

    var isEmpty: Bool { allowOut.isEmpty && denyOut.isEmpty }

    /// §3.1: `allow_out` comes back CIDRs (and addresses) first, then domains, each
    /// group in the order given.
    var json: JSONValue {
        let cidrs = allowOut.filter { SuperserveValidation.isIPv4OrCIDR($0) }
        let domains = allowOut.filter { !SuperserveValidation.isIPv4OrCIDR($0) }
        return .object([
            ("allow_out", .array((cidrs + domains).map { .string($0) })),
            ("deny_out", .array(denyOut.map { .string($0) })),
        ])
    }
}

struct SuperserveSandboxRecord: Sendable {
    let id: String
    var name: String
    var status: SuperserveSandboxStatus
    let vcpuCount: Int
    let memoryMiB: Int
    let createdAt: Date
    /// Creation order; breaks `created_at` ties so that "newest first" is total.
    let sequence: Int
    var timeoutSeconds: Int?
    var autoDeleteSeconds: Int?
    var network: SuperserveNetworkRules?
    var metadata: [String: String]
    var previewAccess: String
    var envVars: [String: String]
    var secrets: [String: String]
    /// Valid data-plane tokens with their expiry: the newest and the one before it,
    /// like the service's current and previous HMAC window (§1).
    var tokens: [(token: String, expires: ContinuousClock.Instant)] = []
    var snapshotID: String?
    /// When the current status began (stuck transitions, auto-pause, auto-delete).
    var statusSince: ContinuousClock.Instant
    /// Wall-clock twin of `statusSince` for `auto_delete_at`.
    var statusSinceDate: Date
    /// Bumped on every status change so that a delayed transition completion can
    /// tell whether it is still the current one.
    var generation: Int = 0
    /// The template's working directory (exec default, §8.2).
    var workdir: String?
    /// The template it was created from (template delete is 409 while in use, §6).
    var templateID: String = ""

    func json(token: String? = nil, includeRoutingHint: Bool = false) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("id", .string(id)),
            ("name", .string(name)),
            ("status", .string(status.rawValue)),
            ("vcpu_count", .int(vcpuCount)),
            ("memory_mib", .int(memoryMiB)),
            ("created_at", .string(SuperserveClock.rfc3339(createdAt))),
        ]
        if let timeoutSeconds { fields.append(("timeout_seconds", .int(timeoutSeconds))) }
        if let autoDeleteSeconds { fields.append(("auto_delete_seconds", .int(autoDeleteSeconds))) }
        if status == .paused, let autoDeleteSeconds {
            let at = statusSinceDate.addingTimeInterval(TimeInterval(autoDeleteSeconds))
            fields.append(("auto_delete_at", .string(SuperserveClock.rfc3339(at))))
        } else {
            fields.append(("auto_delete_at", .null))
        }
        if let network, !network.isEmpty { fields.append(("network", network.json)) }
        fields.append(("metadata", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        fields.append(("preview_access", .string(previewAccess)))
        if let snapshotID { fields.append(("snapshot_id", .string(snapshotID))) }
        if let token {
            fields.append(("access_token", .string(token)))
            if includeRoutingHint { fields.append(("routing_hint", .null)) }
        }
        return .object(fields)
    }
}

struct SuperserveTemplateRecord: Sendable {
    let id: String
    let teamID: String
    let name: String
    var status: String          // pending, building, ready, failed
    let vcpu: Int
    let memoryMiB: Int
    let diskMiB: Int
    let createdAt: Date
    var builtAt: Date?
    var latestBuildID: String?
    var workdir: String?
    let system: Bool

    var json: JSONValue {
        var fields: [(String, JSONValue)] = [
            ("id", .string(id)), ("team_id", .string(teamID)), ("name", .string(name)),
            ("status", .string(status)), ("vcpu", .int(vcpu)), ("memory_mib", .int(memoryMiB)),
            ("disk_mib", .int(diskMiB)), ("size_bytes", status == "ready" ? .int(diskMiB * 1024 * 1024 / 4) : .null),
            ("error_message", .null),
            ("created_at", .string(SuperserveClock.rfc3339(createdAt))),
            ("built_at", builtAt.map { .string(SuperserveClock.rfc3339($0)) } ?? .null),
        ]
        if let latestBuildID { fields.append(("latest_build_id", .string(latestBuildID))) }
        return .object(fields)
    }
}

struct SuperserveBuildRecord: Sendable {
    let id: String
    let templateID: String
    var status: String          // pending, building, snapshotting, ready, failed, cancelled
    let specHash: String
    let createdAt: Date
    var startedAt: Date?
    var finalizedAt: Date?

    var isFinished: Bool { status == "ready" || status == "failed" || status == "cancelled" }

    var json: JSONValue {
        .object([
            ("id", .string(id)), ("template_id", .string(templateID)), ("status", .string(status)),
            ("build_spec_hash", .string(specHash)), ("error_message", .null),
            ("started_at", startedAt.map { .string(SuperserveClock.rfc3339($0)) } ?? .null),
            ("finalized_at", finalizedAt.map { .string(SuperserveClock.rfc3339($0)) } ?? .null),
            ("created_at", .string(SuperserveClock.rfc3339(createdAt))),
        ])
    }
}

enum SuperserveClock {
    /// RFC 3339 with fractional seconds, UTC (§2).
    static func rfc3339(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func random64Hex() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }
}
