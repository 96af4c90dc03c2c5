import Foundation

/// One page of `GET …/work` (anthropic.md §2, list): what the reconciler reads of each
/// item. The list never carries a `secret` (§3).
public struct WorkListing: Sendable, Equatable {
    /// An item as listed: its state and the times that tell whether a runner ever
    /// claimed it (a heartbeat) and how long ago it was acked.
    public struct Item: Sendable, Equatable {
        public var id: String
        public var state: String
        public var dataType: String
        public var sessionID: String?
        public var acknowledgedAt: Date?
        public var latestHeartbeatAt: Date?

        public init(id: String, state: String, dataType: String = "session", sessionID: String?,
                    acknowledgedAt: Date?, latestHeartbeatAt: Date?) {
            self.id = id
            self.state = state
            self.dataType = dataType
            self.sessionID = sessionID
            self.acknowledgedAt = acknowledgedAt
            self.latestHeartbeatAt = latestHeartbeatAt
        }
    }

    public var items: [Item]
    /// The opaque cursor of the next page; nil on the last.
    public var nextPage: String?

    public init(items: [Item], nextPage: String?) {
        self.items = items
        self.nextPage = nextPage
    }

    /// Reads `{"data":[…],"next_page":…|null}`; entries without a string `id` are skipped.
    static func decode(_ body: Data) -> WorkListing? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let data = object["data"] as? [Any] else { return nil }
        let items = data.compactMap { entry -> Item? in
            guard let item = entry as? [String: Any], let id = item["id"] as? String, !id.isEmpty else { return nil }
            let payload = item["data"] as? [String: Any]
            return Item(id: id, state: item["state"] as? String ?? "", dataType: payload?["type"] as? String ?? "",
                        sessionID: payload?["id"] as? String,
                        acknowledgedAt: (item["acknowledged_at"] as? String).flatMap(parseTime),
                        latestHeartbeatAt: (item["latest_heartbeat_at"] as? String).flatMap(parseTime))
        }
        let next = (object["next_page"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        return WorkListing(items: items, nextPage: next)
    }

    /// RFC 3339 with or without fractional seconds (the server sends microseconds).
    static func parseTime(_ text: String) -> Date? {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }
}
