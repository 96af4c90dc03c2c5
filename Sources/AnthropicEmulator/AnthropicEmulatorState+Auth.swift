/// Who is calling, after the bearer or `x-api-key` value was looked up (anthropic.md §1).
public enum AnthropicCredential: Sendable, Equatable {
    case environmentKey(environmentID: String)
    case apiKey
    case sessionsToken(sessionID: String)
}

/// What a route accepts (anthropic.md §2 credential column, §3.1, §8).
public enum AnthropicAccess: Sendable, Equatable {
    /// poll, ack, list: the environment key of the path's environment.
    case environmentKey
    /// stats: environment key or API key.
    case environmentKeyOrAPIKey
    /// retrieve, update: the API key only.
    case apiKey
    /// heartbeat (allowAPIKey false) and stop (true): the item's sessions token or the environment key.
    case workItem(allowAPIKey: Bool)
    /// session routes: the session's token, its environment's key, or the API key.
    case session
}

extension AnthropicEmulatorState {
    /// 401 for a missing or unknown credential.
    public func authenticate(_ presented: String?) throws(AnthropicEmulatorError) -> AnthropicCredential {
        guard let presented, !presented.isEmpty else { throw .authentication("missing credential") }
        if presented == apiKey { return .apiKey }
        if let env = environments.first(where: { $0.value.key == presented && !$0.value.revoked })?.key {
            return .environmentKey(environmentID: env)
        }
        if let session = tokens[presented] { return .sessionsToken(sessionID: session) }
        throw .authentication("invalid credential")
    }

    /// 403 for the wrong kind of credential or another environment's or session's one;
    /// 404 for an unknown environment, item or session.
    public func authorize(_ credential: AnthropicCredential, _ access: AnthropicAccess, environmentID: String?,
                          workID: String? = nil, sessionID: String? = nil) throws(AnthropicEmulatorError) {
        let wrongKind = AnthropicEmulatorError.permission("this credential cannot be used for this operation")
        let otherEnvironment = AnthropicEmulatorError.permission("credential belongs to another environment")
        let otherSession = AnthropicEmulatorError.permission("sessions token belongs to another session")
        if let environmentID, environments[environmentID] == nil { throw .notFound("environment not found") }
        switch access {
        case .environmentKey, .environmentKeyOrAPIKey:
            switch credential {
            case .environmentKey(let env): if env != environmentID { throw otherEnvironment }
            case .apiKey: if access == .environmentKey { throw wrongKind }
            case .sessionsToken: throw wrongKind
            }
        case .apiKey:
            if credential != .apiKey { throw wrongKind }
        case .workItem(let allowAPIKey):
            switch credential {
            case .environmentKey(let env): if env != environmentID { throw otherEnvironment }
            case .apiKey: if !allowAPIKey { throw wrongKind }
            case .sessionsToken(let sid):
                guard let environmentID, let workID else { throw wrongKind }
                let item = try record(environmentID, workID)
                if item.sessionID != sid { throw otherSession }
            }
        case .session:
            guard let sessionID, let session = sessions[sessionID] else { throw .notFound("session not found") }
            switch credential {
            case .environmentKey(let env): if env != session.environmentID { throw otherEnvironment }
            case .apiKey: break
            case .sessionsToken(let sid): if sid != sessionID { throw otherSession }
            }
        }
    }
}

extension AnthropicEmulatorState {
    /// Revokes (or restores) an environment's key, as deleting it in the Console does:
    /// every call made with it then answers 401 (anthropic.md §1).
    public mutating func setKeyRevoked(environmentID: String, _ revoked: Bool) throws(AnthropicEmulatorError) {
        guard environments[environmentID] != nil else { throw .notFound("environment not found") }
        environments[environmentID]?.revoked = revoked
    }
}
