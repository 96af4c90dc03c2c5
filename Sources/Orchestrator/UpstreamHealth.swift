import Foundation
import Logging
import Synchronization

/// How each upstream has been answering, from every call the metered transports see.
/// Reported on `/status`, in `cma_upstream_up` and in the log, never on `/readyz`:
/// every replica sees the same outage, and a readiness that followed it would take
/// them all out of the Service at once (rule 47 as amended).
///
/// A call fails when it gets no answer (`transport_error`) or a 5xx; other statuses
/// (404 on a lookup, 409 on a stop) are answers. An outage starts when the first
/// failure after the last success is `outageAfter` old and failures keep coming;
/// one success ends it. A single blip is not an outage.
final class UpstreamHealth: Sendable {
    struct Entry: Sendable, Equatable {
        var lastSuccess: Date?
        /// The first failure since the last success; nil while calls succeed.
        var failingSince: Date?
        var lastFailure: String?
        var inOutage = false
    }

    /// Failing for this long without a success counts as an outage.
    static let outageAfter: TimeInterval = 5

    private let entries = Mutex<[UpstreamRoute.Upstream: Entry]>([:])
    private let logger = Mutex<Logger?>(nil)
    private let onChange: @Sendable (UpstreamRoute.Upstream, Bool) -> Void

    /// `onChange(upstream, up)` hears each outage start and end (the gauge).
    init(onChange: @escaping @Sendable (UpstreamRoute.Upstream, Bool) -> Void) {
        self.onChange = onChange
    }

    func attach(logger: Logger) { self.logger.withLock { $0 = logger } }

    /// One answered or failed call; `statusClass` as the metrics label it (`2xx`…, `transport_error`).
    func record(_ upstream: UpstreamRoute.Upstream, statusClass: String, at now: Date = Date()) {
        let failed = statusClass == "transport_error" || statusClass == "5xx"
        let transition: Bool? = entries.withLock { all in
            var e = all[upstream] ?? Entry()
            defer { all[upstream] = e }
            if !failed {
                e.lastSuccess = now
                e.failingSince = nil
                if e.inOutage { e.inOutage = false; return true }
                return nil
            }
            e.lastFailure = statusClass
            let since = e.failingSince ?? now
            e.failingSince = since
            if !e.inOutage, now.timeIntervalSince(since) >= Self.outageAfter {
                e.inOutage = true
                return false
            }
            return nil
        }
        guard let up = transition else { return }
        onChange(upstream, up)
        let log = logger.withLock { $0 }
        if up {
            log?.notice("upstream.recovered", metadata: ["upstream.name": "\(upstream.rawValue)"])
        } else {
            log?.error("upstream.outage", metadata: ["upstream.name": "\(upstream.rawValue)", "error.class": "\(statusClass)"])
        }
    }

    func entry(_ upstream: UpstreamRoute.Upstream) -> Entry { entries.withLock { $0[upstream] ?? Entry() } }
}
