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
    }

    public let capacity: Int
    private let entries = Mutex<[Entry]>([])

    public init(capacity: Int = 50) { self.capacity = capacity }

    public func record(_ event: String, sessionID: String? = nil, workID: String? = nil, sandboxID: String? = nil,
                       detail: String? = nil) {
        let entry = Entry(at: Date(), event: event, sessionID: sessionID, workID: workID, sandboxID: sandboxID,
                          detail: detail.map { String($0.prefix(500)) })
        entries.withLock { list in
            list.insert(entry, at: 0)
            if list.count > capacity { list.removeLast(list.count - capacity) }
        }
    }

    public var recent: [Entry] { entries.withLock { $0 } }
}
