import Foundation
import HTTPServer
import TestSupport
import XCTest

final class StaticFilesTests: XCTestCase {
    private var dir: URL!
    private var harness: ServerHarness!
    private let secret = "TOP-SECRET-OUTSIDE-ROOT"
    private let bigJS = String(repeating: "function hello() { return 'world'; }\n", count: 100)

    override func setUp() async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString)")
        let pub = dir.appendingPathComponent("public")
        let fm = FileManager.default
        try fm.createDirectory(at: pub.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let files: [(String, String)] = [
            ("index.html", "<h1>home</h1>"), ("app.css", "body{}"), ("app.js", bigJS), ("data.json", "{}"),
            ("logo.svg", "<svg/>"), ("img.png", "PNG"), ("favicon.ico", "ICO"), ("notes.txt", "notes"),
            ("font.woff2", "WOFF2"), ("sub/index.html", "<p>sub</p>"), (".env", "HIDDEN"),
        ]
        for (name, text) in files { try Data(text.utf8).write(to: pub.appendingPathComponent(name)) }
        try Data(secret.utf8).write(to: dir.appendingPathComponent("secret.txt"))
        try fm.createSymbolicLink(atPath: pub.appendingPathComponent("escape.txt").path, withDestinationPath: dir.appendingPathComponent("secret.txt").path)
        try fm.createSymbolicLink(atPath: pub.appendingPathComponent("outdir").path, withDestinationPath: dir.path)
        try fm.createSymbolicLink(atPath: pub.appendingPathComponent("alias.txt").path, withDestinationPath: "notes.txt")
        var router = Router()
        router.add(.GET, "/", match: .prefix, StaticFiles(root: pub, cacheControl: "public, max-age=60").handler)
        harness = try ServerHarness(router: router)
    }

    override func tearDown() async throws {
        await harness.stop()
        try? FileManager.default.removeItem(at: dir)
    }

    private func get(_ target: String, _ extra: String = "") throws -> RawResponse {
        let c = try harness.client()
        try c.send("GET \(target) HTTP/1.1\r\nHost: x\r\n\(extra)\r\n")
        return try c.readResponse()
    }

    func testContentTypesFollowTheExtension() throws {
        let table: [(String, String)] = [
            ("/", "text/html; charset=utf-8"), ("/index.html", "text/html; charset=utf-8"),
            ("/app.css", "text/css; charset=utf-8"), ("/app.js", "text/javascript; charset=utf-8"),
            ("/data.json", "application/json"), ("/logo.svg", "image/svg+xml"), ("/img.png", "image/png"),
            ("/favicon.ico", "image/x-icon"), ("/notes.txt", "text/plain; charset=utf-8"), ("/font.woff2", "font/woff2"),
            ("/sub/", "text/html; charset=utf-8"), ("/alias.txt", "text/plain; charset=utf-8"),
        ]
        for (path, type) in table {
            let r = try get(path)
            XCTAssertEqual(r.status, 200, path)
            XCTAssertEqual(r.header("Content-Type"), type, path)
            XCTAssertEqual(r.header("Cache-Control"), "public, max-age=60", path)
        }
        XCTAssertEqual(try get("/").bodyText, "<h1>home</h1>")
        XCTAssertEqual(try get("/sub/").bodyText, "<p>sub</p>")
        XCTAssertEqual(try get("/nope.txt").status, 404)
    }

    func testETagRevalidationAnswers304() throws {
        let first = try get("/notes.txt")
        let etag = try XCTUnwrap(first.header("ETag"))
        XCTAssertTrue(etag.hasPrefix("\"") && etag.hasSuffix("\""), "strong ETag")
        let again = try get("/notes.txt", "If-None-Match: \(etag)\r\n")
        XCTAssertEqual(again.status, 304)
        XCTAssertEqual(again.header("ETag"), etag)
        XCTAssertTrue(again.body.isEmpty)
        XCTAssertEqual(try get("/notes.txt", "If-None-Match: \"other\", W/\(etag)\r\n").status, 304)
        XCTAssertEqual(try get("/notes.txt", "If-None-Match: \"other\"\r\n").status, 200)
    }

    func testChangedFilesGetANewETag() throws {
        let before = try XCTUnwrap(try get("/notes.txt").header("ETag"))
        try Data("changed notes, longer".utf8).write(to: dir.appendingPathComponent("public/notes.txt"))
        let r = try get("/notes.txt")
        XCTAssertEqual(r.bodyText, "changed notes, longer")
        XCTAssertNotEqual(r.header("ETag"), before)
    }

    func testTraversalAttemptsNeverLeaveTheRoot() throws {
        let attempts = [
            "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt",
            "/sub/..%2fsecret.txt", "/..%2f..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/..%5csecret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt", "/sub/../../secret.txt", "/escape.txt", "/outdir/secret.txt",
            "/%00index.html", "/index.html%00", "/.env", "/%2eenv", "/%252e%252e/secret.txt", "/%zz",
            "/sub%2f..%2f..%2fsecret.txt", "/..\\secret.txt",
        ]
        for a in attempts {
            let c = try harness.client()
            try c.send("GET \(a) HTTP/1.1\r\nHost: x\r\n\r\n")
            let r: RawResponse
            do { r = try c.readResponse() } catch RawClient.Failure.closed { continue }
            XCTAssertTrue(r.status == 404 || r.status == 400, "\(a) → \(r.status)")
            XCTAssertFalse(r.bodyText.contains(secret), a)
            XCTAssertFalse(r.bodyText.contains("HIDDEN"), a)
        }
    }

    func testCompressibleFilesAreServedGzippedFromTheCache() throws {
        let plain = try get("/app.js")
        XCTAssertEqual(plain.bodyText, bigJS)
        XCTAssertEqual(plain.header("Vary"), "Accept-Encoding")
        for _ in 0..<2 {
            let z = try get("/app.js", "Accept-Encoding: gzip\r\n")
            XCTAssertEqual(z.header("Content-Encoding"), "gzip")
            XCTAssertEqual(gunzip(z.body).map { String(decoding: $0, as: UTF8.self) }, bigJS)
            XCTAssertNotEqual(z.header("ETag"), plain.header("ETag"))
            XCTAssertEqual(try get("/app.js", "Accept-Encoding: gzip\r\nIf-None-Match: \(z.header("ETag")!)\r\n").status, 304)
        }
        XCTAssertNil(try get("/img.png", "Accept-Encoding: gzip\r\n").header("Content-Encoding"))
        XCTAssertNil(try get("/app.js", "Accept-Encoding: gzip;q=0\r\n").header("Content-Encoding"))
    }

    func testHeadOnAStaticFileHasNoBody() throws {
        let c = try harness.client()
        try c.send("HEAD /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse(forHEAD: true)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Length"), "5")
        try c.send("GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().bodyText, "notes", "nothing stray after the HEAD answer")
    }
}
