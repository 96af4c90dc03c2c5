import Foundation
import Logging
import Synchronization
import APIClient
import TestSupport
@testable import WorkQueue

/// Shared values for the WorkQueue tests: placeholder credentials only.
enum Q {
    static let environmentID = "env_TEST"
    static let key = "sk-ant-oat01-TEST"
    static let workerID = "testhost-0123456789ab"
    static let baseURL = URL(string: "http://127.0.0.1:9/prefix/")!
    static let work = "/prefix/v1/environments/env_TEST/work"
    static let pollPath = work + "/poll"
    static func ackPath(_ id: String) -> String { "\(work)/\(id)/ack" }
    static func stopPath(_ id: String) -> String { "\(work)/\(id)/stop" }
    static func heartbeatPath(_ id: String) -> String { "\(work)/\(id)/heartbeat" }

    /// URL-safe base64 without padding of `{"sessions_token":"sk-ant-req-TEST"}` (§3.1).
    static let secret = base64URL(#"{"sessions_token":"sk-ant-req-TEST"}"#)

    static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func itemJSON(_ id: String, dataType: String = "session", sessionID: String? = nil, secret: String?? = .some(Q.secret)) -> String {
        let session = sessionID ?? "sesn_\(id)"
        let secretJSON: String = switch secret {
        case .some(.some(let s)): "\"\(s)\""
        default: "null"
        }
        return """
        {"type":"work","id":"\(id)","environment_id":"env_TEST","state":"queued","created_at":"2026-11-01T12:00:00Z",
         "metadata":{},"secret":\(secretJSON),"data":{"type":"\(dataType)","id":"\(session)"}}
        """
    }

    static func configuration(maxConcurrentCalls: Int = 4) -> AnthropicAPIConfiguration {
        AnthropicAPIConfiguration(baseURL: baseURL, environmentID: environmentID, environmentKey: key, workerID: workerID,
                                  callTimeout: .seconds(5), maxConcurrentCalls: maxConcurrentCalls)
    }

    static func client(_ transport: ScriptedTransport, sleeper: ManualSleeper = ManualSleeper(), maxConcurrentCalls: Int = 4) -> WorkClient {
        WorkClient(configuration: configuration(maxConcurrentCalls: maxConcurrentCalls), transport: transport, sleeper: sleeper, random: { 0 })
    }

    static func query(_ request: OutboundRequest) -> [String: String] {
        var out: [String: String] = [:]
        for item in URLComponents(url: request.url, resolvingAgainstBaseURL: false)?.queryItems ?? [] { out[item.name] = item.value ?? "" }
        return out
    }

    static func bodyText(_ request: OutboundRequest) -> String? {
        request.body.map { String(decoding: $0, as: UTF8.self) }
    }
}

/// A handler that records what it got and answers per item; optionally parks
/// until released, to hold launch slots.
final class RecordingHandler: WorkHandler {
    private let items = Mutex<[WorkItem]>([])
    private let active = Mutex(0)
    let gate: AsyncSemaphore?
    private let outcome: @Sendable (WorkItem) -> WorkOutcome
    private let onEntry: (@Sendable (WorkItem) -> Void)?

    init(gated: Bool = false, onEntry: (@Sendable (WorkItem) -> Void)? = nil,
         outcome: @escaping @Sendable (WorkItem) -> WorkOutcome = { _ in .handedOff }) {
        gate = gated ? AsyncSemaphore(value: 0) : nil
        self.outcome = outcome
        self.onEntry = onEntry
    }

    var handled: [String] { items.withLock { $0.map(\.id) } }
    var handledItems: [WorkItem] { items.withLock { $0 } }
    var running: Int { active.withLock { $0 } }

    func handle(_ item: WorkItem, from drainer: Drainer) async -> WorkOutcome {
        onEntry?(item)
        items.withLock { $0.append(item) }
        active.withLock { $0 += 1 }
        defer { active.withLock { $0 -= 1 } }
        if let gate { try? await gate.wait() }
        return outcome(item)
    }
}

/// Captures log records so tests can check messages and metadata (rule 37) and
/// that no secret is logged.
struct CapturingLogHandler: LogHandler {
    struct Record: Sendable { var level: Logger.Level; var message: String; var metadata: [String: String] }

    final class Store: Sendable {
        let records = Mutex<[Record]>([])
        var all: [Record] { records.withLock { $0 } }
        var text: String { all.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n") }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(store: Store) { self.store = store }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var flat: [String: String] = [:]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[k] = "\(v)" }
        store.records.withLock { $0.append(Record(level: event.level, message: "\(event.message)", metadata: flat)) }
    }

    static func logger() -> (Logger, Store) {
        let store = Store()
        return (Logger(label: "test") { _ in CapturingLogHandler(store: store) }, store)
    }
}
