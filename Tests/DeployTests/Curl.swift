import Foundation
import TestSupport

/// HTTP(S) requests through the `curl` CLI: TLS with a given CA, a chosen source
/// address on the loopback (`--interface 127.0.0.2` is a client that is not the proxy),
/// and no proxy from the environment.
struct Curl {
    let tool: DeployTool
    let scratch: URL
    /// The CA file for https URLs.
    var caFile: URL?

    struct Answer {
        var status: Int
        var headers: String
        var body: String
    }

    init(scratch: URL, caFile: URL? = nil) throws {
        tool = try DeployTool.require("curl", package: "curl")
        self.scratch = scratch
        self.caFile = caFile
    }

    func send(_ url: String, method: String? = nil, headers: [String] = [], body: [UInt8]? = nil,
              from source: String? = nil) throws -> Answer {
        let tag = UUID().uuidString.prefix(8)
        let bodyOut = scratch.appendingPathComponent("answer-\(tag).body")
        let headersOut = scratch.appendingPathComponent("answer-\(tag).headers")
        defer {
            try? FileManager.default.removeItem(at: bodyOut)
            try? FileManager.default.removeItem(at: headersOut)
        }
        var arguments = ["-sS", "--noproxy", "*", "--max-time", "20", "-o", bodyOut.path, "-D", headersOut.path,
                         "-w", "%{http_code}"]
        if let caFile { arguments += ["--cacert", caFile.path] }
        if let source { arguments += ["--interface", source] }
        if let method { arguments += ["-X", method] }
        for header in headers { arguments += ["-H", header] }
        if let body {
            let file = scratch.appendingPathComponent("request-\(tag).body")
            try Data(body).write(to: file)
            arguments += ["--data-binary", "@\(file.path)"]
        }
        let result = try tool.run(arguments + [url])
        guard result.status == 0, let status = Int(result.output.suffix(3)) else {
            throw DeployTool.Failure("curl \(url) failed (exit \(result.status)): \(result.output)")
        }
        return Answer(status: status,
                      headers: (try? String(contentsOf: headersOut, encoding: .utf8)) ?? "",
                      body: (try? String(contentsOf: bodyOut, encoding: .utf8)) ?? "")
    }

    /// The value of an unlabelled sample (or one with its labels written out) in a
    /// Prometheus text scrape of `base`.
    func metric(_ base: String, _ series: String) throws -> Double? {
        let scrape = try send("\(base)/metrics").body
        for line in scrape.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass.
func eventually(_ what: String, within seconds: TimeInterval = 20, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(50_000)
    }
    throw DeployTool.Failure("timed out after \(Int(seconds)) s waiting for \(what)")
}
