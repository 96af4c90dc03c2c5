import XCTest
@testable import Webhooks

final class WebhookVerifierTests: XCTestCase {
    // anthropic.md §7.3
    func testWorkedExampleVerifiesUnderItsKey() throws {
        let result = try WebhookFixture().verify()
        XCTAssertEqual(result, .success(VerifiedDelivery(webhookID: WebhookFixture.id, timestamp: WebhookFixture.timestamp)))
        XCTAssertEqual(WebhookFixture.body.count, 184)
    }

    func testSignerReproducesTheWorkedExampleSignatures() throws {
        XCTAssertEqual(try WebhookSigner.signature(secret: WebhookFixture.secretA, id: WebhookFixture.id,
                                                   timestamp: WebhookFixture.timestamp, body: WebhookFixture.body),
                       WebhookFixture.signatureA)
        XCTAssertEqual(try WebhookSigner.signature(secret: WebhookFixture.secretB, id: WebhookFixture.id,
                                                   timestamp: WebhookFixture.timestamp, body: WebhookFixture.body),
                       WebhookFixture.signatureB)
        XCTAssertEqual(try WebhookSigner.signature(secret: WebhookFixture.secretA, id: WebhookFixture.id,
                                                   timestamp: WebhookFixture.timestamp, body: WebhookFixture.body + [0x20]),
                       "v1,qSP+oEmWU2QXdJXjfHhAzD3mEMv3cw118z7vofOr5Kk=")
        XCTAssertEqual(HMACSHA256.mac(key: Array(0..<32), message: WebhookVerifier.signedBytes(
            id: WebhookFixture.id, timestamp: WebhookFixture.timestamp, body: WebhookFixture.body))
            .map { String(format: "%02x", $0) }.joined(),
            "55651a86cf4f8665baf14b2cc52ed2ad2c8f206349b53109ec2ac8a02f207a27")
    }

    // The HMAC construction on libcrypto's SHA-256 against RFC 4231 §4: short key,
    // ASCII key, and keys longer than a block (hashed first), one also with data
    // longer than a block; plus a key of exactly one block. Split points must not matter.
    func testHMACMatchesRFC4231() {
        let cases: [(key: [UInt8], data: String, mac: String)] = [
            ([UInt8](repeating: 0x0b, count: 20), "Hi There",
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), "what do ya want for nothing?",
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xaa, count: 131), "Test Using Larger Than Block-Size Key - Hash Key First",
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            ([UInt8](repeating: 0xaa, count: 131),
             "This is a test using a larger than block-size key and a larger than block-size data. "
                + "The key needs to be hashed before being used by the HMAC algorithm.",
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
            ([UInt8](repeating: 0xaa, count: 64), "",
             "db2cf93f633fcdfd9bb7f3b99763a63725cb8e38b4fa60a87d0e94b71d8b5970"),
        ]
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        func split(_ key: HMACSHA256.Key, _ head: ArraySlice<UInt8>, _ tail: ArraySlice<UInt8>) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: HMACSHA256.byteCount)
            head.withUnsafeBytes { h in tail.withUnsafeBytes { t in out.withUnsafeMutableBufferPointer { key.mac(h, t, into: $0) } } }
            return out
        }
        for (key, data, mac) in cases {
            let message = Array(data.utf8)
            XCTAssertEqual(hex(HMACSHA256.mac(key: key, message: message)), mac, data)
            let prepared = HMACSHA256.Key(key)
            for cut in Set([0, 1, message.count / 2, message.count]) where cut <= message.count {
                XCTAssertEqual(hex(split(prepared, message[..<cut], message[cut...])), mac, "\(data) cut at \(cut)")
            }
        }
    }

    // rule 38: several keys (rotation), several entries
    func testRotationHeaderVerifiesUnderEitherKey() throws {
        var fixture = WebhookFixture()
        fixture.headers["webhook-signature"] = "\(WebhookFixture.signatureB) \(WebhookFixture.signatureA)"
        XCTAssertNoThrow(try fixture.verify(secrets: [WebhookFixture.secretA]).get())
        XCTAssertNoThrow(try fixture.verify(secrets: [WebhookFixture.secretB]).get())
        XCTAssertNoThrow(try fixture.verify(secrets: [WebhookFixture.secretB, WebhookFixture.secretA]).get())
        fixture.headers["webhook-signature"] = WebhookFixture.signatureB
        XCTAssertNoThrow(try fixture.verify(secrets: [WebhookFixture.secretA, WebhookFixture.secretB]).get())
    }

    func testSecretWithoutPrefixOrPaddingIsAccepted() throws {
        let bare = String(WebhookFixture.secretA.dropFirst("whsec_".count).dropLast())
        XCTAssertNoThrow(try WebhookFixture().verify(secrets: [bare]).get())
    }

    func testTimestampBoundaryIsInclusiveAtThreeHundredSeconds() throws {
        for offset: Int64 in [-300, -1, 0, 1, 300] {
            var fixture = WebhookFixture()
            fixture.now = WebhookFixture.timestamp + offset
            XCTAssertNoThrow(try fixture.verify().get(), "offset \(offset)")
        }
    }

    /// One mutation of the valid fixture per rule; every row must fail with the given error.
    func testEachMutationIsRejected() throws {
        typealias Mutation = (name: String, mutate: (inout WebhookFixture) -> Void, secrets: [String], error: WebhookError)
        let a = [WebhookFixture.secretA]
        let mutations: [Mutation] = [
            ("now 301 s after", { $0.now += 301 }, a, .timestampOutOfWindow),
            ("now 301 s before", { $0.now -= 301 }, a, .timestampOutOfWindow),
            ("float timestamp", { $0.headers["webhook-timestamp"] = "1793534400.0" }, a, .invalidTimestamp),
            ("non-numeric timestamp", { $0.headers["webhook-timestamp"] = "yesterday" }, a, .invalidTimestamp),
            ("signed timestamp", { $0.headers["webhook-timestamp"] = "+1793534400" }, a, .invalidTimestamp),
            ("timestamp with space", { $0.headers["webhook-timestamp"] = " 1793534400" }, a, .invalidTimestamp),
            ("huge timestamp", { $0.headers["webhook-timestamp"] = "99999999999999999999999" }, a, .invalidTimestamp),
            ("missing id", { $0.headers["webhook-id"] = nil }, a, .missingHeader("webhook-id")),
            ("empty id", { $0.headers["webhook-id"] = "" }, a, .missingHeader("webhook-id")),
            ("missing timestamp", { $0.headers["webhook-timestamp"] = nil }, a, .missingHeader("webhook-timestamp")),
            ("missing signature", { $0.headers["webhook-signature"] = nil }, a, .missingHeader("webhook-signature")),
            ("empty signature list", { $0.headers["webhook-signature"] = "" }, a, .missingHeader("webhook-signature")),
            ("no v1 prefix", { $0.headers["webhook-signature"] = String(WebhookFixture.signatureA.dropFirst(3)) }, a, .malformedSignature),
            ("entry without comma", { $0.headers["webhook-signature"] = "v1 " + WebhookFixture.signatureA }, a, .malformedSignature),
            ("entry with two commas", { $0.headers["webhook-signature"] = WebhookFixture.signatureA + ",x" }, a, .malformedSignature),
            ("malformed entry after a valid one", { $0.headers["webhook-signature"] = WebhookFixture.signatureA + " v1,!!!!" }, a, .malformedSignature),
            ("malformed entry before a valid one", { $0.headers["webhook-signature"] = "v1,AAAA " + WebhookFixture.signatureA }, a, .malformedSignature),
            ("double space", { $0.headers["webhook-signature"] = WebhookFixture.signatureB + "  " + WebhookFixture.signatureA }, a, .malformedSignature),
            ("unpadded v1", { $0.headers["webhook-signature"] = String(WebhookFixture.signatureA.dropLast()) }, a, .malformedSignature),
            ("url-safe alphabet", { $0.headers["webhook-signature"] = "v1,2y0IKUMNXL98nJSMi34RkQYgLVftoqArhOSoCe4XQcY=".replacingOccurrences(of: "Y", with: "-") }, a, .malformedSignature),
            ("only other versions", { $0.headers["webhook-signature"] = "v2,whatever v1a,xyz" }, a, .noMatchingSignature),
            ("wrong key", { _ in }, [WebhookFixture.secretB], .noMatchingSignature),
            ("one changed body byte", { $0.body[10] ^= 0x01 }, a, .noMatchingSignature),
            ("body plus a space", { $0.body.append(0x20) }, a, .noMatchingSignature),
            ("other webhook-id", { $0.headers["webhook-id"] = "msg_other" }, a, .noMatchingSignature),
            ("timestamp one second off but in window", { $0.headers["webhook-timestamp"] = "1793534401" }, a, .noMatchingSignature),
        ]
        for m in mutations {
            var fixture = WebhookFixture()
            m.mutate(&fixture)
            XCTAssertEqual(try fixture.verify(secrets: m.secrets), .failure(m.error), m.name)
        }
    }

    func testOtherVersionsAreSkippedNotRejected() throws {
        var fixture = WebhookFixture()
        fixture.headers["webhook-signature"] = "v2,not-base64!! " + WebhookFixture.signatureA
        XCTAssertNoThrow(try fixture.verify().get())
    }

    /// Every entry is decoded into scratch space sized from the header; a long header
    /// (many rotated keys) must find a match in any position.
    func testMatchIsFoundAmongManyEntriesInAnyPosition() throws {
        let other = "v1,2y0IKUMNXL98nJSMi34RkQYgLVftoqArhOSoCe4XQcY="
        for (count, position) in [(2, 1), (5, 0), (40, 39), (40, 17)] {
            var entries = Array(repeating: other, count: count)
            entries[position] = WebhookFixture.signatureA
            var fixture = WebhookFixture()
            fixture.headers["webhook-signature"] = entries.joined(separator: " ")
            XCTAssertNoThrow(try fixture.verify().get(), "\(count) entries, match at \(position)")
            fixture.headers["webhook-signature"] = Array(repeating: other, count: count).joined(separator: " ")
            XCTAssertEqual(try fixture.verify(), .failure(.noMatchingSignature), "\(count) entries, no match")
        }
    }

    /// The signature decoder is a fixed-size fast path of the general one: it must accept
    /// exactly what the general decoder accepts with a 32-byte result, and give the same bytes.
    func testDigestDecoderAgreesWithTheGeneralDecoder() {
        let valid = Array("VWUahs9PhmW68UssxS7SrSyPIGNJtTEJ7CrIoC8geic=".utf8)
        var inputs: [[UInt8]] = [valid, Array(valid.dropLast()), valid + [UInt8(ascii: "=")], Array(valid.dropLast(2)) + Array("==".utf8)]
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ !".utf8)
        for position in 0..<valid.count {
            for byte in alphabet + [0x00, 0x80, 0xff] {
                var text = valid
                text[position] = byte
                inputs.append(text)
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var digest = [UInt8](repeating: 0, count: 32)
            for k in digest.indices { digest[k] = generator.next() }
            inputs.append(Array(Base64.encode(digest).utf8))
        }
        var accepted = 0
        for text in inputs {
            let general = Base64.decode(text, requirePadding: true).flatMap { $0.count == 32 ? $0 : nil }
            var out = [UInt8](repeating: 0, count: 32)
            let fast = text.withUnsafeBytes { t in out.withUnsafeMutableBufferPointer { Base64.decodeDigest(t, into: $0.baseAddress!) } }
            XCTAssertEqual(fast, general != nil, String(decoding: text, as: UTF8.self))
            if let general, fast { XCTAssertEqual(out, general); accepted += 1 }
        }
        XCTAssertGreaterThan(accepted, 2000)
    }

    func testHeaderNamesMatchCaseInsensitively() throws {
        var fixture = WebhookFixture()
        fixture.headers = ["Webhook-Id": WebhookFixture.id, "WEBHOOK-TIMESTAMP": String(WebhookFixture.timestamp),
                           "Webhook-Signature": WebhookFixture.signatureA]
        XCTAssertNoThrow(try fixture.verify().get())
    }

    func testNonUTF8BodyVerifiesAsBytes() throws {
        var fixture = WebhookFixture()
        fixture.body = [0xff, 0xfe, 0x00, 0xc3, 0x28, 0x7b]
        fixture.headers["webhook-signature"] = try WebhookSigner.signature(
            secret: WebhookFixture.secretA, id: WebhookFixture.id, timestamp: WebhookFixture.timestamp, body: fixture.body)
        XCTAssertNoThrow(try fixture.verify().get())
        fixture.body[0] = 0xfd
        XCTAssertEqual(try fixture.verify(), .failure(.noMatchingSignature))
    }

    func testEmptyOrInvalidKeysAreRefused() {
        for secret in ["", "whsec_", "whsec_!!!!", "whsec_A"] {
            XCTAssertThrowsError(try WebhookVerifier(secrets: [secret]), secret) { error in
                XCTAssertEqual(error as? WebhookError, .invalidSecret)
            }
            XCTAssertThrowsError(try WebhookSigner.signature(secret: secret, id: "x", timestamp: 1, body: []), secret)
        }
        XCTAssertThrowsError(try WebhookVerifier(secrets: []))
    }

    // style habit 6: no secret or expected MAC in any error text
    func testErrorDescriptionsNeverRevealSecretsOrMACs() throws {
        let forbidden = [WebhookFixture.secretA, String(WebhookFixture.secretA.dropFirst(6)), "VWUahs9PhmW68UssxS7SrSyPIGNJtTEJ7CrIoC8geic",
                         "qSP+oEmWU2QXdJXjfHhAzD3mEMv3cw118z7vofOr5Kk", "2y0IKUMNXL98nJSMi34RkQYgLVftoqArhOSoCe4XQcY"]
        var results: [WebhookError] = []
        var fixture = WebhookFixture()
        fixture.body.append(0x20)
        if case .failure(let e) = try fixture.verify() { results.append(e) }
        fixture = WebhookFixture()
        if case .failure(let e) = try fixture.verify(secrets: [WebhookFixture.secretB]) { results.append(e) }
        fixture.headers["webhook-signature"] = WebhookFixture.signatureB + " v1,bad"
        if case .failure(let e) = try fixture.verify() { results.append(e) }
        do { _ = try WebhookVerifier(secrets: ["whsec_!!" + String(WebhookFixture.secretA.dropFirst(6))]) } catch { results.append(error) }
        XCTAssertEqual(results.count, 4)
        for error in results {
            for text in [error.description, error.debugDescription, String(describing: error), String(reflecting: error), "\(error)"] {
                for secret in forbidden { XCTAssertFalse(text.contains(secret), "\(text) leaks") }
            }
        }
    }
}
