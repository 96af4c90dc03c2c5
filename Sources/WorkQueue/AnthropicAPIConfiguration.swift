import Foundation
import Glibc

/// How the orchestrator talks to Anthropic's work queue (anthropic.md §1, §5).
public struct AnthropicAPIConfiguration: Sendable, CustomStringConvertible {
    /// `anthropic-version` the SDK sends on the wire (§1).
    public static let anthropicVersion = "2026-10-21"
    /// `anthropic-beta` on every work and session call (§1).
    public static let anthropicBeta = "managed-agents-2026-04-01"
    /// Highest `block_ms` the server accepts (§2).
    public static let maximumBlockMs = 999

    /// Base URL; a path prefix is kept (`ANTHROPIC_BASE_URL`, rule 46).
    public var baseURL: URL
    public var environmentID: String
    /// Environment key (`sk-ant-oat01-…`): a secret, never logged or printed.
    public var environmentKey: String
    /// `Anthropic-Worker-ID`, stable per process (rule 3).
    public var workerID: String
    /// Deadline of each non-poll call (style habit 8).
    public var callTimeout: Duration
    /// A poll's deadline is `block_ms` plus this margin, so it always outlives the
    /// server-side wait (rule 36 / style habit 8).
    public var pollTimeoutMargin: Duration
    /// Rule 36: at most this many Anthropic calls in flight (polls included).
    public var maxConcurrentCalls: Int
    /// Attempts for stop and session reads (transient failures only), per-item
    /// backoff capped at `perItemBackoffCap` (rule 34).
    public var perCallAttempts: Int
    public var perItemBackoffCap: Duration

    public init(baseURL: URL, environmentID: String, environmentKey: String,
                workerID: String = AnthropicAPIConfiguration.processWorkerID,
                callTimeout: Duration = .seconds(10), pollTimeoutMargin: Duration = .seconds(10),
                maxConcurrentCalls: Int = 4, perCallAttempts: Int = 3, perItemBackoffCap: Duration = .seconds(30)) {
        self.baseURL = baseURL
        self.environmentID = environmentID
        self.environmentKey = environmentKey
        self.workerID = workerID
        self.callTimeout = callTimeout
        self.pollTimeoutMargin = pollTimeoutMargin
        self.maxConcurrentCalls = maxConcurrentCalls
        self.perCallAttempts = perCallAttempts
        self.perItemBackoffCap = perItemBackoffCap
    }

    /// The key is redacted (style habit 6).
    public var description: String {
        "AnthropicAPIConfiguration(baseURL: \(baseURL.absoluteString), environmentID: \(environmentID), workerID: \(workerID), environmentKey: <redacted>)"
    }

    /// `<hostname>-<12 hex>`, chosen once per process (rule 3, the SDK's default shape).
    public static let processWorkerID: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        var host = "cma-orchestrator"
        if gethostname(&buffer, buffer.count - 1) == 0 {
            let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !name.isEmpty { host = name }
        }
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<12).map { _ in String(Int.random(in: 0..<16, using: &generator), radix: 16) }.joined()
        return "\(host)-\(hex)"
    }()
}
