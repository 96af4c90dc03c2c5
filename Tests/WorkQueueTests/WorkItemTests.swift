import XCTest
import Foundation
@testable import WorkQueue

final class WorkItemTests: XCTestCase {
    func testDecodesTheComposedPollResponse() throws {
        let body = #"""
        {"type":"work","id":"work_01JEXAMPLE7","environment_id":"env_01JEXAMPLE","state":"queued",
         "created_at":"2026-11-01T12:00:00.104211Z","acknowledged_at":null,"metadata":{"superserve.sandbox_id":"6a1f"},
         "secret":"eyJzZXNzaW9uc190b2tlbiI6InNrLWFudC1yZXEtRVhBTVBMRTAxIn0",
         "data":{"type":"session","id":"sesn_01JEXAMPLE","metadata":{"k":"v","n":1},"extra":true}}
        """#
        let item = try XCTUnwrap(WorkItem.decodePoll(Data(body.utf8)))
        XCTAssertEqual(item.id, "work_01JEXAMPLE7")
        XCTAssertEqual(item.environmentID, "env_01JEXAMPLE")
        XCTAssertEqual(item.state, "queued")
        XCTAssertEqual(item.metadata, ["superserve.sandbox_id": "6a1f"])
        XCTAssertEqual(item.dataType, "session")
        XCTAssertEqual(item.sessionID, "sesn_01JEXAMPLE")
        XCTAssertEqual(item.dataMetadata, ["k": "v"])
        XCTAssertEqual(item.sessionsToken, "sk-ant-req-EXAMPLE01")
    }

    func testLenientDecodingKeepsDefaults() throws {
        let item = try XCTUnwrap(WorkItem.decodePoll(Data(#"{"id":"w","metadata":"oops","data":{"type":"healthcheck"}}"#.utf8)))
        XCTAssertEqual(item.metadata, [:])
        XCTAssertEqual(item.dataType, "healthcheck")
        XCTAssertNil(item.sessionID)
        XCTAssertNil(item.secret)
        XCTAssertNil(item.dataMetadata)
    }

    // anthropic.md §3.1
    func testSessionsTokenDecodingTable() {
        func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
        let json = #"{"sessions_token":"sk-ant-req-TEST?>?","api_base_url":"x"}"#   // `?>?` forces +/ vs -_ characters
        let standard = b64(json)
        let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let cases: [(String, String?)] = [
            (standard, "sk-ant-req-TEST?>?"),
            (urlSafe, "sk-ant-req-TEST?>?"),
            (urlSafe.replacingOccurrences(of: "=", with: ""), "sk-ant-req-TEST?>?"),
            (standard.replacingOccurrences(of: "=", with: ""), "sk-ant-req-TEST?>?"),
            (b64(#"{"sessions_token":""}"#), nil),
            (b64(#"{"sessions_token":5}"#), nil),
            (b64(#"{"other":"x"}"#), nil),
            (b64("not json"), nil),
            (b64(#"["sk-ant-req-TEST"]"#), nil),
            ("!!!!", nil),
            ("", nil),
            ("A", nil),
        ]
        XCTAssertTrue(standard.contains("+") || standard.contains("/"), "fixture must exercise the alphabets")
        for (secret, expected) in cases {
            XCTAssertEqual(WorkItem.sessionsToken(fromSecret: secret), expected, secret)
        }
    }

    // style habit 6: the secret never shows in description, debugDescription or dumps
    func testDescriptionsRedactTheSecret() throws {
        let item = try XCTUnwrap(WorkItem.decodePoll(Data(Q.itemJSON("w1").utf8)))
        XCTAssertNotNil(item.secret)
        var dumped = ""
        dump(item, to: &dumped)
        for text in [item.description, item.debugDescription, String(describing: item), String(reflecting: item), "\(item)", dumped, "\([item])"] {
            XCTAssertFalse(text.contains(Q.secret), text)
            XCTAssertFalse(text.contains("sk-ant-req"), text)
            XCTAssertTrue(text.contains("w1"), text)
        }
    }
}
