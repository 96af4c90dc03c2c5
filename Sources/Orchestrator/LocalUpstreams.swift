import Foundation
import HTTPServer

/// Upstream APIs served by the instance itself, on its own port: what
/// `serve --emulated` passes in to embed both emulators (rule 46). The product knows
/// only this seam; the emulators live in targets the library never links.
public protocol LocalUpstreams: Sendable {
    /// Routes merged into the instance's router before it binds.
    var routes: Router { get }
    /// Applies the upstreams' own credentials (signing keys, environment key, API key)
    /// before any part is built.
    func configure(_ configuration: inout Configuration)
    /// The server is bound and reachable at `url`: points the configuration's upstream
    /// URLs there (and whatever the upstreams themselves need to know about it).
    func bound(to url: URL, configuration: inout Configuration)
    /// Stops them; the instance calls it last, after its HTTP server has stopped.
    func shutdown() async
}
