import Emulators
import XCTest

/// The `EmulatorShared*` helpers the Anthropic emulator is built on.
final class AnthropicSharedHelpersTests: XCTestCase {
    func testJSONRoundTripsKeepingOrderAndNumberText() throws {
        let table = [
            #"{"b":1,"a":[true,false,null],"c":{"x":"y"},"n":-1.5e3}"#,
            #"[]"#, #"{}"#, #""\u00e9\n\"""#, #"0"#, #"[1,2.25,-0]"#,
        ]
        for text in table {
            XCTAssertEqual(try EmulatorSharedJSON.parse(text).serialized,
                           text.replacingOccurrences(of: #"\u00e9"#, with: "é"), text)
        }
        let v = try EmulatorSharedJSON.parse(" {\"k\" : [ 1 , {\"t\":true} ] } ")
        XCTAssertEqual(v.serialized, #"{"k":[1,{"t":true}]}"#)
        XCTAssertEqual(try EmulatorSharedJSON.parse(#""\ud83d\ude00""#).stringValue, "😀")
        XCTAssertEqual(EmulatorSharedJSON.string("line\u{2028}\u{01}").serialized, #""line\u2028\u0001""#, "never a raw line break in SSE data")
    }

    func testJSONRejectsMalformedInput() {
        let bad = ["", "{", "{\"a\"}", "[1,]", "01", "1.", "tru", "\"\u{01}\"", #""\ud800""#, "{} {}", "[\"a\" \"b\"]", "-",
                   String(repeating: "[", count: 100) + String(repeating: "]", count: 100)]
        for text in bad {
            XCTAssertThrowsError(try EmulatorSharedJSON.parse(text), text)
        }
    }

    func testJSONAccessors() throws {
        let v = try EmulatorSharedJSON.parse(#"{"i":3,"f":3.5,"e":3e0,"s":"x","b":false}"#)
        XCTAssertEqual(v["i"]?.intValue, 3)
        XCTAssertNil(v["f"]?.intValue)
        XCTAssertEqual(v["e"]?.intValue, 3)
        XCTAssertEqual(v["f"]?.doubleValue, 3.5)
        XCTAssertNil(v["s"]?.intValue)
        XCTAssertEqual(v["b"]?.boolValue, false)
        XCTAssertNil(v["b"]?.intValue, "booleans are not numbers")
    }

    func testSignalWakesOnNotifyTimeoutCancelAndClose() async {
        let signal = EmulatorSharedSignal()
        // Generation already moved: no wait at all.
        let g = signal.generation("k")
        signal.notify("k")
        let immediate = await signal.wait("k", ifGenerationIs: g, timeout: .seconds(30))
        XCTAssertEqual(immediate, .notified)

        let timedOut = await signal.wait("k", ifGenerationIs: signal.generation("k"), timeout: .milliseconds(20))
        XCTAssertEqual(timedOut, .timedOut)

        let g2 = signal.generation("k")
        let waiter = Task { await signal.wait("k", ifGenerationIs: g2, timeout: .seconds(30)) }
        await assertEventually { signal.waiterCount("k") == 1 }
        signal.notify("other")
        XCTAssertEqual(signal.waiterCount("k"), 1, "other keys do not wake it")
        signal.notify("k")
        let notified = await waiter.value
        XCTAssertEqual(notified, .notified)

        let g3 = signal.generation("k")
        let cancelled = Task { await signal.wait("k", ifGenerationIs: g3, timeout: .seconds(30)) }
        await assertEventually { signal.waiterCount("k") == 1 }
        cancelled.cancel()
        let cancelReason = await cancelled.value
        XCTAssertEqual(cancelReason, .cancelled)

        let g4 = signal.generation("k")
        let closed = Task { await signal.wait("k", ifGenerationIs: g4, timeout: .seconds(30)) }
        await assertEventually { signal.waiterCount("k") == 1 }
        signal.close()
        let closedReason = await closed.value
        XCTAssertEqual(closedReason, .closed)
        let afterClose = await signal.wait("k", ifGenerationIs: signal.generation("k"), timeout: .seconds(30))
        XCTAssertEqual(afterClose, .closed)
        XCTAssertEqual(signal.waiterCount("k"), 0)
    }

    func testFaultPlanDecisionsFollowRatesRoutesAndRemaining() {
        let injector = EmulatorSharedFaultInjector()
        XCTAssertEqual(injector.decide(groups: ["all", "work", "poll"]), .pass(latency: .zero))
        var plan = EmulatorSharedFaultPlan()
        plan.errorRate = 1
        plan.statuses = [429]
        plan.routes = ["heartbeat"]
        plan.remaining = 2
        plan.latencyMilliseconds = 5
        injector.set(plan)
        XCTAssertEqual(injector.decide(groups: ["all", "work", "poll"]), .pass(latency: .zero))
        XCTAssertEqual(injector.decide(groups: ["all", "work", "heartbeat"]),
                       .error(status: 429, retryAfterSeconds: 1, latency: .milliseconds(5)))
        XCTAssertEqual(injector.decide(groups: ["all", "work", "heartbeat"]),
                       .error(status: 429, retryAfterSeconds: 1, latency: .milliseconds(5)))
        XCTAssertEqual(injector.decide(groups: ["all", "work", "heartbeat"]), .pass(latency: .milliseconds(5)), "plan spent")
        XCTAssertEqual(injector.current?.remaining, 0)
        plan.errorRate = 0
        plan.dropRate = 1
        plan.routes = ["all"]
        plan.remaining = nil
        injector.set(plan)
        XCTAssertEqual(injector.decide(groups: ["all", "sessions", "stream"]), .drop(latency: .milliseconds(5)))
        injector.clear()
        XCTAssertNil(injector.current)
    }
}
