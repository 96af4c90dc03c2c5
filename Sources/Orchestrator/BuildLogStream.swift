import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Follows a template build's log (`GET /templates/{id}/builds/{build_id}/logs`, SSE,
/// superserve.md §6) and hands each event's text to `onLine` as it arrives. The log
/// is informational only: the build poll decides the outcome (rule 47), so a stream
/// that fails or ends early is ignored. The API key goes in the header only.
final class BuildLogStream: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let onLine: @Sendable (String) -> Void
    private let lock = NSLock()
    private var buffer = Data()
    private var session: URLSession?

    init(onLine: @escaping @Sendable (String) -> Void) {
        self.onLine = onLine
    }

    func start(url: URL, apiKey: String) {
        var request = URLRequest(url: url)
        request.setValue(apiKey, forHTTPHeaderField: "X-API-Key")
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        request.timeoutInterval = 600
        let session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: nil)
        lock.withLock { self.session = session }
        session.dataTask(with: request).resume()
    }

    func stop() {
        let session = lock.withLock { () -> URLSession? in
            defer { self.session = nil }
            return self.session
        }
        session?.invalidateAndCancel()
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let ok = (response as? HTTPURLResponse).map { (200..<300).contains($0.statusCode) } ?? false
        completionHandler(ok ? .allow : .cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let lines: [Data] = lock.withLock {
            buffer.append(data)
            var out: [Data] = []
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                out.append(buffer[buffer.startIndex..<newline])
                buffer.removeSubrange(buffer.startIndex...newline)
            }
            return out
        }
        for line in lines {
            if let text = Self.text(ofEventLine: line) { onLine(text) }
        }
    }

    /// `data: {"timestamp","stream","text",…}` → `[stream] text`; other lines → nil.
    static func text(ofEventLine line: Data) -> String? {
        var text = String(decoding: line, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        guard text.hasPrefix("data:") else { return nil }
        let payload = text.dropFirst(5).trimmingCharacters(in: .whitespaces)
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { return nil }
        let stream = object["stream"] as? String ?? "system"
        var message = object["text"] as? String ?? ""
        while message.hasSuffix("\n") { message.removeLast() }
        if message.isEmpty, let status = object["status"] as? String { message = "build \(status)" }
        return message.isEmpty ? nil : "[\(stream)] \(message)"
    }
}
