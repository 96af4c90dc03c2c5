import Foundation
import Synchronization

/// The last few lifecycle events, newest first, for the status page. Entries hold
/// ids and fixed reasons only, never secrets (style habit 6).
public final class ActivityLog: Sendable {
    public struct Entry: Sendable, Equatable {
        public var at: Date
        public var event: String
        public var sessionID: String?
        public var workID: String?
        public var sandboxID: String?
        public var detail: String?
        /// The environment the event belongs to, when known (launches); nil for webhooks,
        /// which name none (rule 42).
        public var environmentID: String?
    }

    public let capacity: Int
    /// A ring: once full, each entry overwrites the oldest (a webhook burst records
    /// one entry per delivery, so this is on the webhook route's hot path).
    private struct Ring {
        var slots: [Entry] = []
        var oldest = 0
    }
    private let ring = Mutex(Ring())

    public init(capacity: Int = 50) { self.capacity = max(1, capacity) }

    public func record(_ event: String, sessionID: String? = nil, workID: String? = nil, sandboxID: String? = nil,
                       detail: String? = nil, environmentID: String? = nil) {
        let entry = Entry(at: Date(), event: event, sessionID: sessionID, workID: workID, sandboxID: sandboxID,
                          detail: detail.map { $0.utf8.count <= 500 ? $0 : String($0.prefix(500)) },
                          environmentID: environmentID)
        ring.withLock { ring in
            if ring.slots.count < capacity {
                ring.slots.append(entry)
            } else {
                ring.slots[ring.oldest] = entry
                ring.oldest = (ring.oldest + 1) % capacity
            }
        }
    }

    /// Newest first.
    public var recent: [Entry] {
        ring.withLock { ring in
            Array(ring.slots[..<ring.oldest].reversed()) + ring.slots[ring.oldest...].reversed()
        }
    }
}
