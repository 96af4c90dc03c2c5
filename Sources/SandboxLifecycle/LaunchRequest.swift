import Foundation

/// One session work item to launch, as the drainer hands it over after the ack: a
/// plain value. What the launch asks back of the item's owner goes through the
/// `LaunchContext` passed beside it.
public struct LaunchRequest: Sendable, Equatable {
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

    public init(workID: String, sessionID: String, environmentID: String,
                workMetadata: [String: String] = [:], dataMetadata: [String: String]? = nil,
                workSecret: String?, sessionsTokenPresent: Bool) {
        self.workID = workID
        self.sessionID = sessionID
        self.environmentID = environmentID
        self.workMetadata = workMetadata
        self.dataMetadata = dataMetadata
        self.workSecret = workSecret
        self.sessionsTokenPresent = sessionsTokenPresent
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
