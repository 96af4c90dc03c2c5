/// Request method. The common ones are cases so that routing compares integers;
/// any other valid token is kept as `.other`.
public enum HTTPMethod: Sendable, Hashable, CustomStringConvertible {
    case GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT
    case other(String)

    public init(token: String) {
        switch token {
        case "GET": self = .GET
        case "HEAD": self = .HEAD
        case "POST": self = .POST
        case "PUT": self = .PUT
        case "DELETE": self = .DELETE
        case "PATCH": self = .PATCH
        case "OPTIONS": self = .OPTIONS
        case "TRACE": self = .TRACE
        case "CONNECT": self = .CONNECT
        default: self = .other(token)
        }
    }

    public var description: String {
        switch self {
        case .GET: "GET"
        case .HEAD: "HEAD"
        case .POST: "POST"
        case .PUT: "PUT"
        case .DELETE: "DELETE"
        case .PATCH: "PATCH"
        case .OPTIONS: "OPTIONS"
        case .TRACE: "TRACE"
        case .CONNECT: "CONNECT"
        case .other(let token): token
        }
    }
}
