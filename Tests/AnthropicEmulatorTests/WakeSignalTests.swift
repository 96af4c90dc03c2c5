import AnthropicEmulator
import XCTest

/// The keyed wake-ups behind long polls and event streams.
final class WakeSignalTests: XCTestCase {
    func testSignalWakesOnNotifyTimeoutCancelAndClose() async {
        let signal = WakeSignal()
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
}
