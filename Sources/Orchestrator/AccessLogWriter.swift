import Dispatch
import HTTPServer
import Synchronization
import Glibc

/// The access log, off the connections' path: each answered request's line is
/// formatted straight into a bounded buffer (no metadata dictionary, no `String`
/// per field), and a background writer hands whole batches to `write(2)`.
///
/// - Bound: `capacity` bytes wait at most (256 KiB by default). A line that does
///   not fit is dropped and counted (`onDrop`, `cma_access_log_dropped_total`):
///   blocking would stall every connection of the queue, probes included, on a
///   slow stdout reader; a counted gap in a diagnostic log is the lesser harm.
/// - Flush: every `interval` (100 ms) from the injected trigger, as soon as half
///   the capacity is used, and on `close()` (graceful shutdown), so nothing
///   accepted is lost on SIGTERM.
/// - Order: one batch is taken and written at a time, under one lock, so lines
///   leave in the order they were accepted.
public final class AccessLogWriter: AccessLogSink, Sendable {
    /// Starts a periodic flush; returns what stops it. Tests inject their own.
    /// Runs a flush soon, off the caller's thread (half the capacity is waiting).
    public typealias Wake = @Sendable (_ flush: @escaping @Sendable () -> Void) -> Void
    public typealias Trigger = @Sendable (_ interval: Duration, _ flush: @escaping @Sendable () -> Void) -> @Sendable () -> Void

    public static let defaultCapacity = 256 << 10
    public static let defaultInterval: Duration = .milliseconds(100)

    private struct Pending {
        var bytes: [UInt8] = []
        var stamp = AccessLine.Stamp()
        var flushRequested = false
        var closed = false
    }
    private let pending = Mutex(Pending())
    /// Held while a batch is written; its value is the spare buffer batches swap with.
    private let writing = Mutex<[UInt8]>([])
    private let stopTrigger = Mutex<(@Sendable () -> Void)?>(nil)
    private let capacity: Int
    private let format: AccessLine.Format
    private let output: @Sendable (UnsafeRawBufferPointer) -> Void
    private let onDrop: @Sendable () -> Void
    private let wake: Wake

    public init(capacity: Int = defaultCapacity, interval: Duration = defaultInterval, format: AccessLine.Format,
                output: @escaping @Sendable (UnsafeRawBufferPointer) -> Void, onDrop: @escaping @Sendable () -> Void = {},
                trigger: Trigger = AccessLogWriter.timer, wake: @escaping Wake = AccessLogWriter.soon) {
        self.wake = wake
        self.capacity = capacity
        self.format = format
        self.output = output
        self.onDrop = onDrop
        pending.withLock { $0.bytes.reserveCapacity(capacity) }
        writing.withLock { $0.reserveCapacity(capacity) }
        let stop = trigger(interval) { [weak self] in self?.flush() }
        stopTrigger.withLock { $0 = stop }
    }

    /// Lines to a file descriptor (stdout), each batch in as few `write(2)` calls as it takes.
    public static func fileOutput(_ fd: Int32) -> @Sendable (UnsafeRawBufferPointer) -> Void {
        { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }

    /// A Dispatch timer on a utility queue.
    public static let timer: Trigger = { interval, flush in
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "cma.access-log.timer", qos: .utility))
        let nanos = Int(interval.components.seconds) * 1_000_000_000 + Int(interval.components.attoseconds / 1_000_000_000)
        source.schedule(deadline: .now() + .nanoseconds(nanos), repeating: .nanoseconds(nanos), leeway: .milliseconds(10))
        source.setEventHandler(handler: flush)
        source.resume()
        // Cancelling is thread-safe (Dispatch documents it); the type is not marked Sendable.
        nonisolated(unsafe) let cancellable = source
        return { cancellable.cancel() }
    }

    public static let soon: Wake = { flush in DispatchQueue.global(qos: .utility).async(execute: flush) }

    public func record(_ entry: AccessRecord) {
        let (accepted, wake) = pending.withLock { p -> (Bool, Bool) in
            if p.closed { return (false, false) }
            let start = p.bytes.count
            format.append(entry, stamp: &p.stamp, to: &p.bytes)
            if p.bytes.count > capacity {
                p.bytes.removeSubrange(start...)
                return (false, false)
            }
            guard p.bytes.count >= capacity / 2, !p.flushRequested else { return (true, false) }
            p.flushRequested = true
            return (true, true)
        }
        if !accepted { onDrop() }
        if wake { self.wake { [weak self] in self?.flush() } }
    }

    /// Writes what is waiting, in order (one batch at a time).
    public func flush() {
        writing.withLock { batch in
            pending.withLock { p in
                swap(&p.bytes, &batch)
                p.flushRequested = false
            }
            guard !batch.isEmpty else { return }
            batch.withUnsafeBytes(output)
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// Stops the periodic flush, refuses later lines and writes what waits: the
    /// last step of a graceful shutdown, after the server's last answer.
    public func close() {
        let stop = stopTrigger.withLock { s in defer { s = nil }; return s }
        stop?()
        pending.withLock { $0.closed = true }
        flush()
    }
}
