import Foundation
import JSON

/// What the template builds keep beyond their records: the log lines (superserve.md
/// §6's SSE events), the spec's steps for the log, failures asked for by the
/// `builds/fail` switch with their `error_message`, and the log followers to wake.
struct SuperserveBuildExtras: Sendable {
    /// Template id → "FROM …", "RUN …", … (logged by each build of it).
    var steps: [String: [String]] = [:]
    /// Build id → events so far.
    var lines: [String: [JSONValue]] = [:]
    /// Build id → open log streams.
    var followers: [String: [AsyncStream<JSONValue>.Continuation]] = [:]
    var buildErrors: [String: String] = [:]
    var templateErrors: [String: String] = [:]
    var failuresLeft = 0
    var failureMessage = "step_failed: step 2 exited with status 100"

    static func event(_ stream: String, _ text: String, finished status: String? = nil) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("timestamp", .string(SuperserveClock.rfc3339(Date()))), ("stream", .string(stream)), ("text", .string(text)),
        ]
        if let status { fields += [("finished", .bool(true)), ("status", .string(status))] }
        return .object(fields)
    }

    mutating func log(_ buildID: String, _ stream: String, _ text: String) {
        append(buildID, Self.event(stream, text))
    }

    /// The final event; followers are told and closed.
    mutating func finish(_ buildID: String, status: String) {
        append(buildID, Self.event("system", "build \(status)", finished: status))
        for follower in followers.removeValue(forKey: buildID) ?? [] { follower.finish() }
    }

    private mutating func append(_ buildID: String, _ event: JSONValue) {
        lines[buildID, default: []].append(event)
        for follower in followers[buildID] ?? [] { follower.yield(event) }
    }

    /// A template or build object with its `error_message`.
    static func withError(_ json: JSONValue, _ error: String?) -> JSONValue {
        guard let error else { return json }
        var value = json
        value.set("error_message", .string(error))
        return value
    }
}
