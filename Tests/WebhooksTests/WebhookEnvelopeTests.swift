import XCTest
@testable import Webhooks

final class WebhookEnvelopeTests: XCTestCase {
    func testDecodesTheWorkedExample() {
        XCTAssertEqual(WebhookEnvelope.decode(WebhookFixture.body),
                       WebhookEnvelope(type: "event", id: "wevt_01", dataType: "session.status_run_started", sessionID: "sesn_01ABC"))
    }

    func testDecodingTable() {
        let cases: [(String, WebhookEnvelope?)] = [
            (#"{"type":"event","id":"e1","data":{"type":"vault.created","id":"v1"}}"#,
             WebhookEnvelope(type: "event", id: "e1", dataType: "vault.created", sessionID: "v1")),   // unknown types decode
            (#"{"type":"event","id":"e1","data":{"type":"session.deleted"},"extra":1}"#,
             WebhookEnvelope(type: "event", id: "e1", dataType: "session.deleted", sessionID: nil)),
            (#"{"type":"event","id":"e1"}"#, nil),
            (#"{"type":"event","id":"e1","data":{"id":"s"}}"#, nil),
            (#"{"id":"e1","data":{"type":"x"}}"#, nil),
            (#"[1,2]"#, nil),
            ("null", nil),
            ("not json", nil),
            ("", nil),
        ]
        for (body, expected) in cases {
            XCTAssertEqual(WebhookEnvelope.decode(Array(body.utf8)), expected, body)
        }
    }
}
