import Foundation
import Synchronization

/// Per-minute counts over the last hour for the status page's plots: launches by
/// outcome, launch duration percentiles, webhooks by outcome. A ring of `minutes`
/// buckets keyed by the minute they count; a bucket is reused when its minute is older
/// than the window. Each bucket keeps at most `maxSamplesPerMinute` launch durations
/// (a burst overwrites its oldest samples), so memory is bounded whatever the load.
public final class StatusSeries: Sendable {
    public static let launchOutcomes = ["launched", "failed"]
    /// Every `WebhookEndpoint` answer's outcome label, as `/metrics` names them.
    public static let webhookOutcomes = WebhookOutcome.allCases.map(\.rawValue)

    struct Bucket {
        var minute: Int64
        var launches: [Int]
        var webhooks: [Int]
        var durations: [Double] = []
        var nextSample = 0

        init(minute: Int64) {
            self.minute = minute
            launches = Array(repeating: 0, count: StatusSeries.launchOutcomes.count)
            webhooks = Array(repeating: 0, count: StatusSeries.webhookOutcomes.count)
        }
    }

    /// One minute of the series, as `/status` shows it.
    public struct Minute: Sendable, Equatable {
        /// Start of the minute.
        public var start: Date
        /// Counts in `launchOutcomes` order.
        public var launches: [Int]
        /// Counts in `webhookOutcomes` order.
        public var webhooks: [Int]
        /// Launch duration percentiles in seconds (p50, p90, p99); nil without launches.
        public var p50: Double?
        public var p90: Double?
        public var p99: Double?
    }

    public let minutes: Int
    public let maxSamplesPerMinute: Int
    private let now: @Sendable () -> Date
    private let ring: Mutex<[Bucket?]>

    public init(minutes: Int = 60, maxSamplesPerMinute: Int = 512, now: @escaping @Sendable () -> Date = { Date() }) {
        self.minutes = max(1, minutes)
        self.maxSamplesPerMinute = max(1, maxSamplesPerMinute)
        self.now = now
        ring = Mutex(Array(repeating: nil, count: max(1, minutes)))
    }

    public func launch(_ outcome: String, duration: Duration) {
        guard let index = Self.launchOutcomes.firstIndex(of: outcome) else { return }
        let seconds = duration.secondsDouble
        let cap = maxSamplesPerMinute
        withBucket { bucket in
            bucket.launches[index] += 1
            if bucket.durations.count < cap {
                bucket.durations.append(seconds)
            } else {
                bucket.durations[bucket.nextSample] = seconds
                bucket.nextSample = (bucket.nextSample + 1) % cap
            }
        }
    }

    public func webhook(_ outcome: String) {
        guard let index = Self.webhookOutcomes.firstIndex(of: outcome) else { return }
        withBucket { $0.webhooks[index] += 1 }
    }

    /// The last `minutes` minutes, oldest first, the current minute last; minutes
    /// without events are zeros.
    public var window: [Minute] {
        let current = Self.minute(of: now())
        let buckets = ring.withLock { $0 }
        return (0..<minutes).map { offset in
            let minute = current - Int64(minutes - 1 - offset)
            let bucket = buckets[slot(minute)].flatMap { $0.minute == minute ? $0 : nil } ?? Bucket(minute: minute)
            let sorted = bucket.durations.sorted()
            return Minute(start: Date(timeIntervalSince1970: TimeInterval(minute * 60)),
                          launches: bucket.launches, webhooks: bucket.webhooks,
                          p50: Self.percentile(sorted, 0.50), p90: Self.percentile(sorted, 0.90),
                          p99: Self.percentile(sorted, 0.99))
        }
    }

    /// Nearest-rank percentile of sorted samples (the smallest value with at least
    /// `q` of the samples at or below it).
    static func percentile(_ sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count, max(1, rank)) - 1]
    }

    static func minute(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / 60).rounded(.down))
    }

    private func slot(_ minute: Int64) -> Int {
        Int(((minute % Int64(minutes)) + Int64(minutes)) % Int64(minutes))
    }

    private func withBucket(_ change: (inout Bucket) -> Void) {
        let minute = Self.minute(of: now())
        let index = slot(minute)
        ring.withLock { ring in
            var bucket = ring[index].flatMap { $0.minute == minute ? $0 : nil } ?? Bucket(minute: minute)
            change(&bucket)
            ring[index] = bucket
        }
    }
}
