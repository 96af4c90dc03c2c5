import Foundation
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

    /// The byte reader against Foundation's JSONSerialization as the reference, on
    /// valid envelopes with every JSON feature around the fields and on malformed text.
    func testTheReaderAgreesWithAFullJSONParser() {
        func reference(_ body: [UInt8]) -> WebhookEnvelope? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
                  let type = object["type"] as? String, let id = object["id"] as? String,
                  let data = object["data"] as? [String: Any], let dataType = data["type"] as? String else { return nil }
            return WebhookEnvelope(type: type, id: id, dataType: dataType, sessionID: data["id"] as? String)
        }
        let bodies = [
            #" { "type" : "event" , "id" : "e\u00e9\n" , "data" : { "type" : "session.status_idled" , "id" : "s\ud83d\ude00" } } "#,
            #"{"type":"event","id":"e","data":{"type":"t","id":7,"nested":{"a":[1,-2.5e+3,true,false,null,{"b":"\""}]}},"n":0}"#,
            #"{"type":"event","id":"e","data":{"type":"t","extra":[[[]]],"id":"s"},"z":{}}"#,
            #"{"type":"event","id":"e","data":{"type":"t"}} x"#,
            #"{"type":"event","id":"e","data":{"type":"t"}"#,
            #"{"type":"event","id":"e","data":{"type":"\x"}}"#,
            #"{"type":"event","id":"e","data":{"type":"\ud800"}}"#,
            #"{"type":"event","id":"e","data":{"type":"t","n":01}}"#,
            #"{"type":"event","id":"e","data":{"type":"t","n":1.}}"#,
            #"{"type":"event","id":"e","data":{"type":"t","n":-}}"#,
            #"{"type":"event","id":"e","data":{"type":"t","b":tru}}"#,
            #"{"type":1,"id":"e","data":{"type":"t"}}"#,
            #"{"type":"event","id":"e","data":"t"}"#,
            "{\"type\":\"event\",\"id\":\"e\",\"data\":{\"type\":\"a\tb\"}}",
        ]
        for body in bodies {
            let bytes = Array(body.utf8)
            XCTAssertEqual(WebhookEnvelope.decode(bytes), reference(bytes), body)
        }
        // A trailing comma is not JSON (RFC 8259 §4); Foundation tolerates it, the reader does not.
        XCTAssertNil(WebhookEnvelope.decode(Array(#"{"type":"event","id":"e","data":{"type":"t"},}"#.utf8)))
        // Invalid UTF-8 inside a string is refused by both.
        var invalid = Array(#"{"type":"event","id":"e","data":{"type":"t"}}"#.utf8)
        invalid[10] = 0xFF
        XCTAssertNil(WebhookEnvelope.decode(invalid))
        XCTAssertNil(reference(invalid))
        // Deep nesting is refused instead of recursing without bound.
        let deep = #"{"type":"event","id":"e","data":{"type":"t"},"x":"# + String(repeating: "[", count: 500)
            + String(repeating: "]", count: 500) + "}"
        XCTAssertNil(WebhookEnvelope.decode(Array(deep.utf8)))
    }

    /// Seeded random edits of valid envelopes (bytes that matter to JSON inserted,
    /// deleted or replaced), each judged by the reader and by Foundation's parser.
    /// Foundation accepts a trailing comma; those cases must be refused by the reader.
    func testRandomEditsAgreeWithAFullJSONParser() {
        let seeds = [
            WebhookFixture.bodyText,
            #"{"type":"event","id":"e\u00e9","data":{"type":"t","id":"s","x":[1,{"y":null},-0.5e-3,true]},"z":false}"#,
            #"{"data":{"id":"s\ud83d\ude00","type":"session.deleted"},"id":"e","type":"event"}"#,
        ]
        let alphabet = Array(#"{}[]:,"\ 0123456789.eE+-tfnulrasxyz/"#.utf8) + [0x00, 0x0A, 0x09, 0x7F, 0xC3, 0xA9, 0xFF]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
        var agreed = 0, decoded = 0
        for round in 0..<6000 {
            var body = Array(seeds[round % seeds.count].utf8)
            for _ in 0...next(3) {
                let at = next(body.count)
                switch next(3) {
                case 0: body.insert(alphabet[next(alphabet.count)], at: at)
                case 1: body.remove(at: at)
                default: body[at] = alphabet[next(alphabet.count)]
                }
            }
            let ours = WebhookEnvelope.decode(body)
            let theirs = Self.reference(body)
            if ours == theirs { agreed += 1; if ours != nil { decoded += 1 }; continue }
            // Foundation's one leniency: `,` before a closing bracket.
            let text = String(decoding: body, as: UTF8.self).filter { !" \t\n\r".contains($0) }
            XCTAssertTrue(ours == nil && (text.contains(",}") || text.contains(",]")),
                          "reader \(String(describing: ours)) vs reference \(String(describing: theirs)) on \(text)")
        }
        XCTAssertGreaterThan(agreed, 5000)
        XCTAssertGreaterThan(decoded, 300)
    }

    static func reference(_ body: [UInt8]) -> WebhookEnvelope? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let type = object["type"] as? String, let id = object["id"] as? String,
              let data = object["data"] as? [String: Any], let dataType = data["type"] as? String else { return nil }
        return WebhookEnvelope(type: type, id: id, dataType: dataType, sessionID: data["id"] as? String)
    }
}
