import XCTest
import Foundation
import TestSupport
@testable import Webhooks

/// Contract tests against the real standardwebhooks 1.1.0 (the library the
/// Anthropic SDK's `unwrap()` delegates to, anthropic.md §7.2).
final class StandardWebhooksContractTests: XCTestCase {
    func testLibraryVerifiesWhatOurSignerProduces() throws {
        // Non-ASCII UTF-8 and a trailing newline: the library decodes the body as
        // UTF-8 text, so this is as far from plain ASCII as it accepts.
        let body: [UInt8] = Array("{\"type\":\"event\",\"id\":\"wevt_9\",\"note\":\"caf\u{e9} \u{2603}\",\"data\":{\"type\":\"session.status_run_started\",\"id\":\"sesn_9\"}}\n".utf8)
        let now = Int64(Date().timeIntervalSince1970)
        let signature = try WebhookSigner.signature(secret: WebhookFixture.secretB, id: "msg_contract_1", timestamp: now, body: body)
        let script = """
        import base64, os, sys
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
        body = base64.b64decode(os.environ["BODY_B64"])
        headers = {"webhook-id": os.environ["WH_ID"], "webhook-timestamp": os.environ["WH_TS"], "webhook-signature": os.environ["WH_SIG"]}
        Webhook(os.environ["WH_SECRET"]).verify(body, headers)
        try:
            Webhook(os.environ["WH_SECRET"]).verify(body + b" ", headers)
            print("TAMPERED-ACCEPTED")
        except WebhookVerificationError:
            print("TAMPERED-REJECTED")
        print("VERIFIED")
        """
        let result = try SDKPython.run(script: script, environment: [
            "BODY_B64": Data(body).base64EncodedString(), "WH_ID": "msg_contract_1", "WH_TS": String(now),
            "WH_SIG": signature, "WH_SECRET": WebhookFixture.secretB,
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n"), ["TAMPERED-REJECTED", "VERIFIED"], result.stderr)
    }

    func testOurVerifierAcceptsWhatTheLibrarySigns() throws {
        let script = """
        import base64, json, time
        from datetime import datetime, timezone
        from standardwebhooks.webhooks import Webhook
        secret = "whsec_" + base64.b64encode(bytes(range(64, 96))).decode()
        body = b'{"type":"event","id":"wevt_lib","data":{"type":"session.status_idled","id":"sesn_lib"}}'
        ts = int(time.time())
        sig = Webhook(secret).sign("msg_lib_1", datetime.fromtimestamp(ts, tz=timezone.utc), body.decode())
        print(json.dumps({"secret": secret, "body": base64.b64encode(body).decode(), "ts": ts, "sig": sig}))
        """
        let result = try SDKPython.run(script: script)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let secret = try XCTUnwrap(object["secret"] as? String)
        let body = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(object["body"] as? String)))
        let ts = try XCTUnwrap(object["ts"] as? Int)
        let sig = try XCTUnwrap(object["sig"] as? String)
        let verifier = try WebhookVerifier(secrets: [WebhookFixture.secretA, secret])
        let headers = ["webhook-id": "msg_lib_1", "webhook-timestamp": String(ts), "webhook-signature": sig]
        XCTAssertEqual(verifier.verify(body: Array(body), headers: headers, now: Int64(ts)),
                       .success(VerifiedDelivery(webhookID: "msg_lib_1", timestamp: Int64(ts))))
        XCTAssertEqual(verifier.verify(body: Array(body) + [0x20], headers: headers, now: Int64(ts)), .failure(.noMatchingSignature))
        XCTAssertEqual(WebhookEnvelope.decode(Array(body))?.sessionID, "sesn_lib")
    }
}
