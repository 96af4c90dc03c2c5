import HTTPWire

/// One answered request, as the access log records it: plain fields, no metadata
/// dictionary, so a sink can write the line's bytes directly.
public struct AccessRecord: Sendable {
    public let method: HTTPMethod
    /// Path only: the query never reaches logs (it may carry tokens).
    public let path: Substring
    public let status: Int
    public let bytes: Int
    public let durationNanos: UInt64
    public let requestID: String
    public let clientAddress: String
}

/// Where access lines go instead of the server's logger (one `info` line "request"
/// each). Called on the connection's queue: it must not block.
public protocol AccessLogSink: Sendable {
    func record(_ entry: AccessRecord)
}
