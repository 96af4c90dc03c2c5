import JSON
import XCTest

/// The ordered JSON value: strict reading (RFC 8259), writing in stored order.
final class JSONValueTests: XCTestCase {
    func testJSONRoundTripsKeepingOrderAndNumberText() throws {
        let table = [
            #"{"b":1,"a":[true,false,null],"c":{"x":"y"},"n":-1.5e3}"#,
            #"[]"#, #"{}"#, #""\u00e9\n\"""#, #"0"#, #"[1,2.25,-0]"#,
        ]
        for text in table {
            XCTAssertEqual(try JSONValue.parse(text).serialized,
                           text.replacingOccurrences(of: #"\u00e9"#, with: "é"), text)
        }
        let v = try JSONValue.parse(" {\"k\" : [ 1 , {\"t\":true} ] } ")
        XCTAssertEqual(v.serialized, #"{"k":[1,{"t":true}]}"#)
        XCTAssertEqual(try JSONValue.parse(#""\ud83d\ude00""#).stringValue, "😀")
        XCTAssertEqual(JSONValue.string("line\u{2028}\u{01}").serialized, #""line\u2028\u0001""#, "never a raw line break in SSE data")
    }

    func testJSONRejectsMalformedInput() {
        let bad = ["", "{", "{\"a\"}", "[1,]", "01", "1.", "tru", "\"\u{01}\"", #""\ud800""#, "{} {}", "[\"a\" \"b\"]", "-",
                   String(repeating: "[", count: 100) + String(repeating: "]", count: 100)]
        for text in bad {
            XCTAssertThrowsError(try JSONValue.parse(text), text)
        }
    }

    func testJSONAccessors() throws {
        let v = try JSONValue.parse(#"{"i":3,"f":3.5,"e":3e0,"s":"x","b":false}"#)
        XCTAssertEqual(v["i"]?.intValue, 3)
        XCTAssertNil(v["f"]?.intValue)
        XCTAssertEqual(v["e"]?.intValue, 3)
        XCTAssertEqual(v["f"]?.doubleValue, 3.5)
        XCTAssertNil(v["s"]?.intValue)
        XCTAssertEqual(v["b"]?.boolValue, false)
        XCTAssertNil(v["b"]?.intValue, "booleans are not numbers")
    }
}
