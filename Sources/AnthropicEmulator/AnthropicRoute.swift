import HTTPWire

/// The API routes of the emulator, parsed from the percent-decoded path segments
/// (the project's `Router` matches prefixes only; path parameters are read here).
enum AnthropicRoute: Sendable, Equatable {
    case poll(environmentID: String)
    case list(environmentID: String)
    case stats(environmentID: String)
    case retrieve(environmentID: String, workID: String)
    case update(environmentID: String, workID: String)
    case ack(environmentID: String, workID: String)
    case heartbeat(environmentID: String, workID: String)
    case stop(environmentID: String, workID: String)
    case session(sessionID: String)
    case listEvents(sessionID: String)
    case sendEvents(sessionID: String)
    case streamEvents(sessionID: String)

    /// Resolves `/v1/environments/{env}/work…` and `/v1/sessions/{id}…`.
    static func resolve(method: HTTPMethod, segments: [Substring]) -> Result<AnthropicRoute, AnthropicEmulatorError> {
        let s = segments.map(String.init)
        let notFound = AnthropicEmulatorError.notFound("no route for this path")
        func allow(_ m: HTTPMethod, _ route: AnthropicRoute) -> Result<AnthropicRoute, AnthropicEmulatorError> {
            method == m ? .success(route) : .failure(.api(AnthropicAPIFailure(status: 405, type: "invalid_request_error",
                                                                              message: "method not allowed")))
        }
        guard s.count >= 3, s[0] == "v1" else { return .failure(notFound) }
        if s[1] == "environments", s.count >= 4, s[3] == "work" {
            let env = s[2]
            switch s.count {
            case 4: return allow(.GET, .list(environmentID: env))
            case 5:
                switch s[4] {
                case "poll": return allow(.GET, .poll(environmentID: env))
                case "stats": return allow(.GET, .stats(environmentID: env))
                default:
                    if method == .GET { return .success(.retrieve(environmentID: env, workID: s[4])) }
                    return allow(.POST, .update(environmentID: env, workID: s[4]))
                }
            case 6:
                let work = s[4]
                switch s[5] {
                case "ack": return allow(.POST, .ack(environmentID: env, workID: work))
                case "heartbeat": return allow(.POST, .heartbeat(environmentID: env, workID: work))
                case "stop": return allow(.POST, .stop(environmentID: env, workID: work))
                default: return .failure(notFound)
                }
            default: return .failure(notFound)
            }
        }
        if s[1] == "sessions" {
            let sid = s[2]
            switch s.count {
            case 3: return allow(.GET, .session(sessionID: sid))
            case 4 where s[3] == "events":
                if method == .GET { return .success(.listEvents(sessionID: sid)) }
                return allow(.POST, .sendEvents(sessionID: sid))
            case 5 where s[3] == "events" && s[4] == "stream": return allow(.GET, .streamEvents(sessionID: sid))
            default: return .failure(notFound)
            }
        }
        return .failure(notFound)
    }

    /// Call name for the item's history and for fault-plan route groups.
    var kind: String {
        switch self {
        case .poll: "poll"
        case .list: "list"
        case .stats: "stats"
        case .retrieve: "retrieve"
        case .update: "update"
        case .ack: "ack"
        case .heartbeat: "heartbeat"
        case .stop: "stop"
        case .session: "session"
        case .listEvents: "events"
        case .sendEvents: "send_events"
        case .streamEvents: "stream"
        }
    }

    /// Fault-plan groups: `all`, `work` or `sessions`, and the call name.
    var faultGroups: [String] {
        switch self {
        case .session, .listEvents, .sendEvents, .streamEvents: ["all", "sessions", kind]
        default: ["all", "work", kind]
        }
    }

    var workID: String? {
        switch self {
        case .retrieve(_, let w), .update(_, let w), .ack(_, let w), .heartbeat(_, let w), .stop(_, let w): w
        default: nil
        }
    }

    var environmentID: String? {
        switch self {
        case .poll(let e), .list(let e), .stats(let e), .retrieve(let e, _), .update(let e, _), .ack(let e, _),
             .heartbeat(let e, _), .stop(let e, _): e
        default: nil
        }
    }

    var sessionID: String? {
        switch self {
        case .session(let s), .listEvents(let s), .sendEvents(let s), .streamEvents(let s): s
        default: nil
        }
    }

    var access: AnthropicAccess {
        switch self {
        case .poll, .ack, .list: .environmentKey
        case .stats: .environmentKeyOrAPIKey
        case .retrieve, .update: .apiKey
        case .heartbeat: .workItem(allowAPIKey: false)
        case .stop: .workItem(allowAPIKey: true)
        case .session, .listEvents, .sendEvents, .streamEvents: .session
        }
    }
}
