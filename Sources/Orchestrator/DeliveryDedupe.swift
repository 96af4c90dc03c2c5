import Synchronization

/// Rule 41: `webhook-id`s seen in the last `window` seconds, checked after
/// verification. Bounded in time and in size (the oldest entries go first when
/// `capacity` is reached), so a flood of valid deliveries cannot grow it without
/// limit. Correctness never depends on it: claiming work is atomic upstream.
public final class DeliveryDedupe: Sendable {
    private struct State {
        var seen: [String: Int64] = [:]
        /// Insertion order, for expiry; `head` skips consumed entries.
        var order: [(id: String, at: Int64)] = []
        var head = 0
    }

    public let window: Int64
    public let capacity: Int
    private let state = Mutex(State())

    /// `window` 0 turns deduplication off (benchmarks replaying one delivery).
    public init(windowSeconds: Int, capacity: Int = 100_000) {
        window = Int64(windowSeconds)
        self.capacity = max(1, capacity)
    }

    /// Records `id` at `now` (seconds); true when it was already seen within the window.
    public func isRepeat(_ id: String, now: Int64) -> Bool {
        guard window > 0 else { return false }
        return state.withLock { s in
            expire(&s, now: now)
            if let at = s.seen[id], now - at < window { return true }
            s.seen[id] = now
            s.order.append((id, now))
            while s.seen.count > capacity, s.head < s.order.count {
                let oldest = s.order[s.head]
                s.head += 1
                if s.seen[oldest.id] == oldest.at { s.seen[oldest.id] = nil }
            }
            compact(&s)
            return false
        }
    }

    public var count: Int { state.withLock { $0.seen.count } }

    private func expire(_ s: inout State, now: Int64) {
        while s.head < s.order.count, now - s.order[s.head].at >= window {
            let entry = s.order[s.head]
            if s.seen[entry.id] == entry.at { s.seen[entry.id] = nil }
            s.head += 1
        }
    }

    private func compact(_ s: inout State) {
        if s.head > 1024, s.head * 2 > s.order.count {
            s.order.removeFirst(s.head)
            s.head = 0
        }
    }
}
