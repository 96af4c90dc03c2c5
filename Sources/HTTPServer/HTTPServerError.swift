/// The one error type of this module: what can go wrong starting the server.
/// (Per-request failures are answered on the wire, never thrown.)
public enum HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed; `call` names it, `errno` is its error number.
    case system(call: String, errno: Int32)
    /// `host` did not resolve to an IPv4 or IPv6 address.
    case badHost(String)
    /// An entry of `trustedProxies` is neither an address nor a CIDR.
    case badTrustedProxy(String)
    /// `bind()`, `serve(router:)` or `start()` was called again, or after `shutdown()`.
    case alreadyStarted
    /// A configuration value is out of range; the text names the setting.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .system(let call, let errno): "\(call) failed (errno \(errno))"
        case .badHost(let h): "host \(h) is not an address this server can bind"
        case .badTrustedProxy(let p): "trustedProxies entry \(p) is not an IP address or CIDR"
        case .alreadyStarted: "the server was already started"
        case .invalidConfiguration(let why): "invalid HTTP server configuration: \(why)"
        }
    }
}
