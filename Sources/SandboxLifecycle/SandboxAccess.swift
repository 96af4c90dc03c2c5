import Foundation
import Synchronization

/// Data-plane credentials of one sandbox (superserve.md §1): the access token and
/// routing hint from create/activate. Refreshed in place by `SuperserveClient` on
/// 401/403, 404 `sandbox_route_stale` and 503 (rule 32). The token is never logged.
public final class SandboxAccess: Sendable {
    public struct Credentials: Sendable, Equatable {
        public var accessToken: String
        public var routingHint: String?
    }

    public let sandboxID: String
    private let state: Mutex<Credentials>

    public init(sandboxID: String, accessToken: String, routingHint: String?) {
        self.sandboxID = sandboxID
        self.state = Mutex(Credentials(accessToken: accessToken, routingHint: routingHint))
    }

    /// From a create or activate answer, which must carry a token.
    public convenience init(_ sandbox: Sandbox) throws(SandboxLifecycleError) {
        guard let token = sandbox.accessToken, !token.isEmpty else {
            throw .invalidResponse("sandbox \(sandbox.id) answer carries no access token")
        }
        self.init(sandboxID: sandbox.id, accessToken: token, routingHint: sandbox.routingHint)
    }

    public var credentials: Credentials {
        state.withLock { $0 }
    }

    func update(_ credentials: Credentials) {
        state.withLock { $0 = credentials }
    }
}
