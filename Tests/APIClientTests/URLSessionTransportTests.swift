import XCTest
import Foundation
import TestSupport
@testable import APIClient

final class URLSessionTransportTests: XCTestCase {
    func testSendsMethodHeadersAndBodyAndReturnsLowercasedHeaders() async throws {
        let server = try LoopbackServer { _ in
            LoopbackServer.response(status: 201, reason: "Created", headers: [("Request-Id", "req_1"), ("Content-Type", "application/json")], body: "{\"ok\":true}")
        }
        defer { server.stop() }
        let transport = URLSessionTransport()
        let request = OutboundRequest(method: "POST", url: URL(string: "http://127.0.0.1:\(server.port)/v1/things?x=1")!,
                                      headers: [("Authorization", "Bearer sk-ant-oat01-TEST"), ("Content-Type", "application/json")],
                                      body: Data("{\"a\":1}".utf8), timeout: .seconds(5))
        let response = try await transport.send(request)
        XCTAssertEqual(response.status, 201)
        XCTAssertEqual(response.header("REQUEST-ID"), "req_1")
        XCTAssertEqual(response.headers["request-id"], "req_1")
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "{\"ok\":true}")
        let raw = try XCTUnwrap(server.recordedRequests.first)
        XCTAssertTrue(raw.hasPrefix("POST /v1/things?x=1 HTTP/1.1\r\n"), raw)
        XCTAssertTrue(raw.contains("Authorization: Bearer sk-ant-oat01-TEST\r\n"), raw)
        XCTAssertTrue(raw.hasSuffix("\r\n\r\n{\"a\":1}"), raw)
    }

    func testEmptyPostCarriesContentLengthZero() async throws {
        let server = try LoopbackServer { _ in LoopbackServer.response(status: 200, body: "null") }
        defer { server.stop() }
        let transport = URLSessionTransport()
        let request = OutboundRequest(method: "POST", url: URL(string: "http://127.0.0.1:\(server.port)/ack")!,
                                      headers: [("Content-Type", "application/json")], body: Data(), timeout: .seconds(5))
        let response = try await transport.send(request)
        XCTAssertEqual(response.status, 200)
        let raw = try XCTUnwrap(server.recordedRequests.first).lowercased()
        XCTAssertTrue(raw.contains("content-length: 0\r\n"), raw)
        XCTAssertTrue(raw.contains("content-type: application/json\r\n"), raw)
    }

    /// A 3xx is an error of its own kind (callers treat it as fatal, never retried)
    /// and is never followed: the second loopback server, where
    /// every redirect points, must not see any request, let alone a credential header.
    func testARedirectIsAnErrorAndNoCredentialReachesItsTarget() async throws {
        let target = try LoopbackServer { _ in LoopbackServer.response(status: 200, body: "{}") }
        defer { target.stop() }
        let credentials = [("X-API-Key", "ss_live_use_TESTKEY"), ("X-Access-Token", "tok-TEST"),
                           ("X-Api-Key", "sk-ant-api03-TEST"), ("Authorization", "Bearer sk-ant-oat01-TEST")]
        for status in [301, 302, 303, 307, 308] {
            let redirecting = try LoopbackServer { _ in
                LoopbackServer.response(status: status, reason: "Redirect",
                                        headers: [("Location", "http://127.0.0.1:\(target.port)/stolen")], body: "")
            }
            defer { redirecting.stop() }
            do {
                let response = try await URLSessionTransport().send(OutboundRequest(
                    method: "POST", url: URL(string: "http://127.0.0.1:\(redirecting.port)/v1/things")!,
                    headers: credentials, body: Data("{}".utf8), timeout: .seconds(5)))
                XCTFail("\(status) answered as a response: \(response.status)")
            } catch let error as TransportError {
                guard case .redirectRefused(let why) = error else { return XCTFail("\(status): \(error)") }
                XCTAssertTrue(why.hasPrefix("\(status) from 127.0.0.1:"), why)
                for (_, value) in credentials { XCTAssertFalse(error.description.contains(value)) }
            }
            XCTAssertEqual(redirecting.recordedRequests.count, 1, "\(status)")
        }
        let reached = target.recordedRequests.joined(separator: "\n").lowercased()
        XCTAssertTrue(target.recordedRequests.isEmpty, reached)
        for name in ["x-api-key", "x-access-token", "authorization"] { XCTAssertFalse(reached.contains(name)) }
    }

    func testErrorStatusesAreResponsesNotErrors() async throws {
        let server = try LoopbackServer { _ in
            LoopbackServer.response(status: 429, reason: "Too Many Requests", headers: [("retry-after", "3")], body: "{}")
        }
        defer { server.stop() }
        let response = try await URLSessionTransport().send(
            OutboundRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(server.port)/")!, timeout: .seconds(5)))
        XCTAssertEqual(response.status, 429)
        XCTAssertEqual(RetryHint.delay(from: response), .seconds(3))
    }

    func testSilentServerMapsToTimedOutWithinTheDeadline() async throws {
        let server = try LoopbackServer { _ in nil }
        defer { server.stop() }
        let started = ContinuousClock.now
        do {
            _ = try await URLSessionTransport().send(
                OutboundRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(server.port)/slow")!, timeout: .milliseconds(300)))
            XCTFail("expected a timeout")
        } catch let error as TransportError {
            XCTAssertEqual(error, .timedOut)
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(300))
        XCTAssertLessThan(elapsed, .seconds(3))
    }

    func testRefusedConnectionMapsToConnectionFailedWithoutHeaderValues() async throws {
        // Bind then close to get a port nobody listens on.
        let server = try LoopbackServer { _ in nil }
        let port = server.port
        server.stop()
        do {
            _ = try await URLSessionTransport().send(
                OutboundRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(port)/v1/x?token=QUERYSECRET")!,
                                headers: [("Authorization", "Bearer sk-ant-oat01-TEST")], timeout: .seconds(5)))
            XCTFail("expected a connection failure")
        } catch let error as TransportError {
            guard case .connectionFailed(let text) = error else { return XCTFail("got \(error)") }
            XCTAssertFalse(text.contains("sk-ant"), text)
            XCTAssertFalse(String(describing: error).contains("sk-ant"))
            XCTAssertFalse(text.contains("QUERYSECRET"), text)
            XCTAssertTrue(text.contains("127.0.0.1:\(port)"), text)
        }
    }

    func testCancellingTheTaskThrowsCancelled() async throws {
        let server = try LoopbackServer { _ in nil }
        defer { server.stop() }
        let transport = URLSessionTransport()
        let url = URL(string: "http://127.0.0.1:\(server.port)/hang")!
        let task = Task { try await transport.send(OutboundRequest(method: "GET", url: url, timeout: .seconds(30))) }
        let arrived = await ManualSleeper.waitUntil { server.recordedRequests.count == 1 }
        XCTAssertTrue(arrived)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("expected cancellation")
        } catch let error as TransportError {
            XCTAssertEqual(error, .cancelled)
        }
    }
}
