import Foundation
import TestSupport
import XCTest

/// `deploy/nginx.conf` in front of `cma-orchestrator serve --emulated`, both real
/// processes on the loopback: the orchestrator on port 0 with
/// `CMA_TRUSTED_PROXIES=127.0.0.1`, nginx on a free port with a self-signed
/// certificate made by the `openssl` CLI. The test's copy of nginx.conf differs from
/// the shipped one only in paths and ports.
final class ProxiedOrchestrator {
    let serve: ServeProcess
    let nginx = Process()
    let directory: URL
    let curl: Curl
    /// `https://127.0.0.1:<nginx port>`
    let proxy: String
    /// `http://127.0.0.1:<orchestrator port>`
    var direct: String { serve.base }

    init(_ test: XCTestCase, environment extra: [String: String] = [:]) async throws {
        let nginxTool = try DeployTool.require("nginx", package: "nginx")
        let openssl = try DeployTool.require("openssl", package: "openssl")
        directory = try DeployFiles.scratch(test, "nginx")
        let certificate = directory.appendingPathComponent("cert.pem")
        let key = directory.appendingPathComponent("key.pem")
        try openssl.succeed(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                             "-keyout", key.path, "-out", certificate.path, "-days", "2",
                             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        curl = try Curl(scratch: directory, caFile: certificate)

        var environment = ["CMA_TRUSTED_PROXIES": "127.0.0.1"]
        environment.merge(extra) { _, new in new }
        let serve = try await ServeProcess(pythonBin: "/usr/bin", sandboxes: directory.appendingPathComponent("sandboxes"),
                                           environment: environment)
        self.serve = serve
        let port: Int
        let configFile = directory.appendingPathComponent("nginx.conf")
        do {
            port = try Self.freePort()
            let dir = directory.path
            let config = try DeployFiles.template(try DeployFiles.text("nginx.conf"), file: "deploy/nginx.conf", [
                ("pid /run/nginx.pid;", "pid \(dir)/nginx.pid;"),
                ("error_log /var/log/nginx/error.log warn;", "error_log \(dir)/error.log warn;"),
                ("access_log /var/log/nginx/access.log;", "access_log \(dir)/access.log;"),
                ("server 127.0.0.1:8080;", "server 127.0.0.1:\(serve.port);"),
                ("listen 443 ssl;", "listen 127.0.0.1:\(port) ssl;"),
                ("listen [::]:443 ssl;", "listen [::1]:\(port) ssl;"),
                ("/etc/ssl/certs/cma.example.com.crt", certificate.path),
                ("/etc/ssl/private/cma.example.com.key", key.path),
            ])
            try config.write(to: configFile, atomically: true, encoding: .utf8)
        } catch {
            serve.stop()
            throw error
        }
        proxy = "https://127.0.0.1:\(port)"
        let dir = directory.path

        nginx.executableURL = URL(fileURLWithPath: nginxTool.path)
        nginx.arguments = ["-c", configFile.path, "-p", dir + "/", "-e", "\(dir)/error.log", "-g", "daemon off;"]
        nginx.standardInput = FileHandle.nullDevice
        nginx.standardOutput = FileHandle.nullDevice
        nginx.standardError = FileHandle.nullDevice
        do {
            try nginx.run()
            try eventually("nginx to answer on \(proxy)") {
                guard nginx.isRunning else { throw DeployTool.Failure("nginx exited: \(errorLog)") }
                return (try? curl.send("\(proxy)/healthz").status) == 200
            }
        } catch {
            stop()
            throw error
        }
    }

    var errorLog: String {
        (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
    }

    /// The orchestrator's access log line (`request`) of the request with this
    /// `X-Request-Id` (the server keeps a well-formed incoming id).
    func accessLine(requestID: String) throws -> [String: Any] {
        var found: [String: Any]?
        try eventually("the orchestrator's log line of request \(requestID)") {
            found = serve.logLines(message: "request").last { $0["request.id"] as? String == requestID }
            return found != nil
        }
        return found ?? [:]
    }

    /// Established connections from nginx's workers to the orchestrator, by `ss`
    /// (iproute2). The orchestrator's own metric counts its connections to its embedded
    /// emulators too, so it cannot tell these apart.
    func upstreamConnectionsHeldByNginx() throws -> Int {
        let ss = try DeployTool.require("ss", package: "iproute2")
        let output = try ss.succeed(["-H", "-t", "-n", "-p", "state", "established", "dport", "=", ":\(serve.port)"])
        return output.split(separator: "\n").filter { $0.contains("\"nginx\"") }.count
    }

    /// nginx first (it holds connections to the orchestrator), then the orchestrator.
    func stop() {
        if nginx.isRunning {
            kill(nginx.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while nginx.isRunning, Date() < deadline { usleep(20_000) }
            if nginx.isRunning { kill(nginx.processIdentifier, SIGKILL) }
            nginx.waitUntilExit()
        }
        serve.stop()
    }

    /// A port nothing listens on now: bound to 127.0.0.1:0, read back, released.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DeployTool.Failure("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw DeployTool.Failure("bind 127.0.0.1:0: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
