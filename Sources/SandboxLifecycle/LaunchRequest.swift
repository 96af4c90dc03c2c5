import Foundation

/// One session work item to launch, as the drainer hands it over after the ack.
public struct LaunchRequest: Sendable {
    public var workID: String
    public var sessionID: String
    public var environmentID: String
    /// `work.metadata` (rule 11, first place).
    public var workMetadata: [String: String]
    /// `work.data.metadata` when present (rule 11, second place).
    public var dataMetadata: [String: String]?
    /// The raw `secret`, passed as ANTHROPIC_WORK_SECRET when it decodes (rule 26). Never logged.
    public var workSecret: String?
    /// Whether `workSecret` decodes to a non-empty sessions token (anthropic.md §3.1).
    public var sessionsTokenPresent: Bool
    /// `GET /v1/sessions/{id}` → metadata (rule 11, third place), called only when
    /// the first two places carry no prepared id. Throw `SessionMetadataError` to
    /// classify failures; anything else counts as transient.
    public var sessionMetadata: @Sendable () async throws -> [String: String]
    /// Called when the probe after the hand-off fails (rules 30, 37).
    public var reportLateFailure: @Sendable (LaunchFailure) async -> Void

    public init(workID: String, sessionID: String, environmentID: String,
                workMetadata: [String: String] = [:], dataMetadata: [String: String]? = nil,
                workSecret: String?, sessionsTokenPresent: Bool,
                sessionMetadata: @escaping @Sendable () async throws -> [String: String],
                reportLateFailure: @escaping @Sendable (LaunchFailure) async -> Void) {
        self.workID = workID
        self.sessionID = sessionID
        self.environmentID = environmentID
        self.workMetadata = workMetadata
        self.dataMetadata = dataMetadata
        self.workSecret = workSecret
        self.sessionsTokenPresent = sessionsTokenPresent
        self.sessionMetadata = sessionMetadata
        self.reportLateFailure = reportLateFailure
    }
}

/// Why a launch failed; never carries a secret. `logTail` is the end of runner.log
/// (or of launch.sh's output) when there is one.
public struct LaunchFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var sandboxID: String?
    public var logTail: String?

    public init(reason: String, sandboxID: String? = nil, logTail: String? = nil) {
        self.reason = reason
        self.sandboxID = sandboxID
        self.logTail = logTail
    }

    public var description: String {
        var text = reason
        if let sandboxID { text += " (sandbox \(sandboxID))" }
        if let logTail, !logTail.isEmpty { text += "; log tail: \(logTail)" }
        return text
    }
}

public enum LaunchOutcome: Sendable, Equatable {
    case launched(sandboxID: String, pid: Int, alreadyRunning: Bool)
    case failed(LaunchFailure)
}
