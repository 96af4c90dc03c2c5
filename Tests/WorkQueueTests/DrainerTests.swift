import XCTest
import Foundation
import APIClient
import TestSupport
@testable import WorkQueue

final class DrainerTests: XCTestCase {
    private func drainer(_ transport: ScriptedTransport, handler: RecordingHandler, sleeper: ManualSleeper = ManualSleeper(),
                         configure: (inout DrainerConfiguration) -> Void = { _ in }, random: @escaping @Sendable () -> Double = { 0 },
                         mayClaim: (@Sendable () -> Bool)? = nil) -> (Drainer, CapturingLogHandler.Store) {
        var configuration = DrainerConfiguration()
        configure(&configuration)
        let (logger, store) = CapturingLogHandler.logger()
        let drainer = Drainer(client: Q.client(transport, sleeper: sleeper), handler: handler, configuration: configuration,
                              logger: logger, sleeper: sleeper, random: random, mayClaim: mayClaim)
        return (drainer, store)
    }

    private let ackOK: ScriptedTransport.Answer = .json(200, "{}")
    private let stopOK: ScriptedTransport.Answer = .json(200, "{}")

    // rules 2, 5, 9: drain shape acks, hands off, never stops, ends at the first empty poll
    func testDrainAcksAndHandsOffEachSessionItemThenEndsAtFirstEmptyPoll() async throws {
        let transport = ScriptedTransport()
        transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w1")), .json(200, Q.itemJSON("w2")), .json(200, "null")])
        transport.script("POST", Q.ackPath("w1"), [ackOK])
        transport.script("POST", Q.ackPath("w2"), [ackOK])
        let ackedBeforeHandle = Locked<[Bool]>([])
        let handler = RecordingHandler(onEntry: { item in
            let acked = transport.requests("POST", Q.ackPath(item.id)).count == 1
            ackedBeforeHandle.withLock { $0.append(acked) }
        })
        let (drainer, logs) = drainer(transport, handler: handler)
        await drainer.drain()
        await drainer.waitForLaunches()
        XCTAssertEqual(handler.handled.sorted(), ["w1", "w2"])
        XCTAssertEqual(ackedBeforeHandle.value, [true, true])   // rule 5
        XCTAssertEqual(transport.unscripted, [])
        let polls = transport.requests("GET", Q.pollPath)
        XCTAssertEqual(polls.count, 3)
        for poll in polls { XCTAssertEqual(Q.query(poll), ["reclaim_older_than_ms": "2000"]) }   // no block_ms
        // rule 9: a handed-off item is never stopped nor heartbeated
        XCTAssertFalse(transport.requests.contains { $0.url.path.hasSuffix("/stop") || $0.url.path.hasSuffix("/heartbeat") })
        XCTAssertEqual(drainer.health.launchesInFlight, 0)
        XCTAssertNotNil(drainer.health.lastSuccess)
        XCTAssertFalse(logs.text.contains("sk-ant"))
    }

    // rule 4: every no-work shape ends the drain without an ack
    func testEveryNoWorkShapeEndsTheDrain() async {
        let answers: [ScriptedTransport.Answer] = [.json(200, "null"), .status(204), .response(status: 200, body: ""),
                                                   .json(200, "{}"), .json(200, #"{"type":"work"}"#)]
        for answer in answers {
            let transport = ScriptedTransport()
            transport.script("GET", Q.pollPath, [answer])
            let handler = RecordingHandler()
            let (drainer, _) = drainer(transport, handler: handler)
            await drainer.drain()
            XCTAssertEqual(transport.requests.count, 1, "\(answer)")
            XCTAssertEqual(handler.handled, [])
        }
    }

    // rule 7: ack failure → do not launch, back off (hint honoured), keep polling; the
    // drain does not end at the next empty poll but polls again once the reclaim
    // window (2 s + 250 ms margin) has passed, and takes the item then.
    func testTransientAckFailureDoesNotLaunchBacksOffAndTakesTheItemAfterTheReclaimWindow() async throws {
        let cases: [(ScriptedTransport.Answer, [Duration])] = [
            (.json(409, "{}", headers: ["x-should-retry": "false"]), [.milliseconds(500), .milliseconds(1750)]),
            (.json(500, "{}"), [.milliseconds(500), .milliseconds(1750)]),
            (.error(.timedOut), [.milliseconds(500), .milliseconds(1750)]),
            (.json(429, "{}", headers: ["retry-after": "7"]), [.seconds(7)]),   // the window passed during the hint
        ]
        for (answer, expectedSleeps) in cases {
            let transport = ScriptedTransport()
            let sleeper = ManualSleeper()
            transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w1")), .json(200, "null"), .json(200, Q.itemJSON("w1")),
                                                 .json(200, "null")])
            transport.script("POST", Q.ackPath("w1"), [answer, ackOK])
            let handler = RecordingHandler()
            let (drainer, _) = drainer(transport, handler: handler, sleeper: sleeper)
            let task = Task { await drainer.drain() }
            for _ in expectedSleeps {
                do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok, "\(answer)") }
                XCTAssertEqual(handler.handled, [], "\(answer): not launched after the failed ack")
                sleeper.advanceToNextDeadline()
            }
            let end = await task.value
            await drainer.waitForLaunches()
            XCTAssertEqual(end, .finished, "\(answer)")
            XCTAssertEqual(sleeper.requestedSleeps, expectedSleeps, "\(answer)")
            XCTAssertEqual(handler.handled, ["w1"], "\(answer)")
            XCTAssertEqual(transport.requests("GET", Q.pollPath).count, 4, "\(answer)")   // kept polling
            XCTAssertTrue(transport.requests("POST", Q.stopPath("w1")).isEmpty, "\(answer)")
        }
    }

    // A poll that failed may have claimed an item whose answer was lost: the empty
    // poll after it is not the end; one more poll after the reclaim window is, when
    // it follows a success.
    func testAnEmptyPollAfterAFailedPollIsCheckedAgainAfterTheReclaimWindow() async {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        transport.script("GET", Q.pollPath, [.json(503, "{}"), .json(200, "null"), .json(200, Q.itemJSON("w1")), .json(200, "null")])
        transport.script("POST", Q.ackPath("w1"), [ackOK])
        let handler = RecordingHandler()
        let (drainer, logs) = drainer(transport, handler: handler, sleeper: sleeper)
        let task = Task { await drainer.drain() }
        for _ in 0..<2 {
            do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
            sleeper.advanceToNextDeadline()
        }
        let end = await task.value
        await drainer.waitForLaunches()
        XCTAssertEqual(end, .finished)
        XCTAssertEqual(sleeper.requestedSleeps, [.milliseconds(500), .milliseconds(1750)])
        XCTAssertEqual(handler.handled, ["w1"])
        XCTAssertEqual(transport.requests("GET", Q.pollPath).count, 4)
        XCTAssertTrue(logs.all.contains { $0.message == "queue.drain.recheck" })
    }

    // The drain keeps going through failures in a row below `drainMaxFailures` (10 by
    // default), with the poll loop's backoff, and takes the work once polls succeed.
    func testADrainKeepsGoingThroughFailuresInARowWithBackoff() async {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        let failures: [ScriptedTransport.Answer] = Array(repeating: .json(500, "{}"), count: 6)
        transport.script("GET", Q.pollPath, failures + [.json(200, Q.itemJSON("w1")), .json(200, "null"), .json(200, "null")])
        transport.script("POST", Q.ackPath("w1"), [ackOK])
        let handler = RecordingHandler()
        let (drainer, _) = drainer(transport, handler: handler, sleeper: sleeper)
        XCTAssertEqual(DrainerConfiguration().drainMaxFailures, 10)
        let task = Task { await drainer.drain() }
        // Six backoffs; the reclaim window of the last failure has passed by the empty
        // poll, which is checked once more at once and ends the drain.
        for _ in 0..<6 {
            do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
            sleeper.advanceToNextDeadline()
        }
        let end = await task.value
        await drainer.waitForLaunches()
        XCTAssertEqual(end, .finished)
        XCTAssertEqual(sleeper.requestedSleeps, [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16)])
        XCTAssertEqual(handler.handled, ["w1"])
        XCTAssertEqual(transport.requests("GET", Q.pollPath).count, 9)
    }

    // rule 7: fatal ack → force-stop, 409 on that stop = done
    func testFatalAckForceStopsTheItemWithoutLaunching() async throws {
        for stopAnswer in [stopOK, .json(409, "{}", headers: ["x-should-retry": "false"])] {
            let transport = ScriptedTransport()
            transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w1")), .json(200, "null")])
            transport.script("POST", Q.ackPath("w1"), [.json(404, #"{"type":"error","error":{"type":"not_found_error","message":"x"}}"#)])
            transport.script("POST", Q.stopPath("w1"), [stopAnswer])
            let handler = RecordingHandler()
            let (drainer, logs) = drainer(transport, handler: handler)
            await drainer.drain()
            XCTAssertEqual(handler.handled, [])
            XCTAssertEqual(transport.requests("POST", Q.stopPath("w1")).map { Q.bodyText($0) }, [#"{"force":true}"#])
            XCTAssertEqual(transport.unscripted, [])
            XCTAssertTrue(logs.all.contains { $0.message == "queue.item.stopped" && $0.metadata["work.id"] == "w1" })
        }
    }

    // rule 8: non-session items are force-stopped right after the ack
    func testNonSessionItemsAreForceStoppedAfterAck() async {
        let transport = ScriptedTransport()
        transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("h1", dataType: "healthcheck")), .json(200, "null")])
        transport.script("POST", Q.ackPath("h1"), [ackOK])
        transport.script("POST", Q.stopPath("h1"), [stopOK])
        let handler = RecordingHandler()
        let (drainer, _) = drainer(transport, handler: handler)
        await drainer.drain()
        XCTAssertEqual(handler.handled, [])
        XCTAssertEqual(transport.requests.map { "\($0.method) \($0.url.path)" },
                       ["GET \(Q.pollPath)", "POST \(Q.ackPath("h1"))", "POST \(Q.stopPath("h1"))", "GET \(Q.pollPath)"])
        XCTAssertEqual(Q.bodyText(transport.requests[2]), #"{"force":true}"#)
        XCTAssertEqual(drainer.slots.available, 16)   // slot given back
    }

    // rule 26: operator switch refuses items without a usable sessions token
    func testRefuseSecretlessDecisionTable() async {
        let cases: [(refuse: Bool, secret: String??, launched: Bool)] = [
            (false, .some(Q.secret), true),
            (false, .some(nil), true),
            (false, .some("garbage!"), true),
            (true, .some(Q.secret), true),
            (true, .some(nil), false),
            (true, .some("garbage!"), false),
            (true, .some(Q.base64URL(#"{"sessions_token":""}"#)), false),
        ]
        for c in cases {
            let transport = ScriptedTransport()
            transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w1", secret: c.secret)), .json(200, "null")])
            transport.script("POST", Q.ackPath("w1"), [ackOK])
            transport.script("POST", Q.stopPath("w1"), [stopOK])
            let handler = RecordingHandler()
            let (drainer, _) = drainer(transport, handler: handler, configure: { $0.refuseSecretless = c.refuse })
            await drainer.drain()
            await drainer.waitForLaunches()
            XCTAssertEqual(handler.handled == ["w1"], c.launched, "\(c)")
            XCTAssertEqual(transport.requests("POST", Q.stopPath("w1")).count, c.launched ? 0 : 1, "\(c)")
        }
    }

    // rule 37: a failed launch is force-stopped and logged with work id, session id, reason
    func testFailedLaunchIsForceStoppedAndLogged() async {
        let transport = ScriptedTransport()
        transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w1")), .json(200, "null")])
        transport.script("POST", Q.ackPath("w1"), [ackOK])
        transport.script("POST", Q.stopPath("w1"), [stopOK])
        let handler = RecordingHandler(outcome: { _ in .failed(reason: "launch budget exhausted") })
        let (drainer, logs) = drainer(transport, handler: handler)
        await drainer.drain()
        await drainer.waitForLaunches()
        XCTAssertEqual(transport.requests("POST", Q.stopPath("w1")).map { Q.bodyText($0) }, [#"{"force":true}"#])
        let record = logs.all.first { $0.message == "queue.item.force_stop" }
        XCTAssertEqual(record?.metadata["work.id"], "w1")
        XCTAssertEqual(record?.metadata["session.id"], "sesn_w1")
        XCTAssertEqual(record?.metadata["stop.reason"], "launch budget exhausted")
        XCTAssertFalse(logs.text.contains("sk-ant"))
        XCTAssertFalse(logs.text.contains(Q.secret))
    }

    // rule 6: slots bound concurrent handlers; no poll while every slot is busy
    func testSlotsBoundConcurrentHandlersAndPollingWaitsForAFreeSlot() async throws {
        let transport = ScriptedTransport()
        let counter = Locked(0)
        transport.script("GET", Q.pollPath, [.dynamic { _ in
            let n = counter.withLock { $0 += 1; return $0 }
            let body = n <= 3 ? Q.itemJSON("w\(n)") : "null"
            return InboundResponse(status: 200, headers: [:], body: Data(body.utf8))
        }], repeatLast: true)
        for n in 1...3 { transport.script("POST", Q.ackPath("w\(n)"), [ackOK]) }
        let handler = RecordingHandler(gated: true)
        let (drainer, _) = drainer(transport, handler: handler, configure: { $0.launchSlots = 2 })
        let drain = Task { await drainer.drain() }
        do { let ok = await ManualSleeper.waitUntil { handler.running == 2 && drainer.slots.waiting == 1 }; XCTAssertTrue(ok) }
        XCTAssertEqual(transport.requests("GET", Q.pollPath).count, 2)   // third poll waits for a slot
        XCTAssertEqual(drainer.health.launchesInFlight, 2)
        handler.gate?.signal()
        do { let ok = await ManualSleeper.waitUntil { handler.handled.count == 3 }; XCTAssertTrue(ok) }
        XCTAssertLessThanOrEqual(handler.running, 2)
        handler.gate?.signal()
        _ = await drain.value                       // 4th poll is empty; the drain ends
        XCTAssertEqual(transport.requests("GET", Q.pollPath).count, 4)
        handler.gate?.signal()
        await drainer.waitForLaunches()        // launches finish on their own after the drain
        XCTAssertEqual(drainer.slots.available, 2)
    }

    // drain shape: transient poll errors retried with backoff a bounded number of times
    func testDrainRetriesTransientPollErrorsThenGivesUp() async {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        transport.script("GET", Q.pollPath, [.json(500, "{}")], repeatLast: true)
        let handler = RecordingHandler()
        let (drainer, _) = drainer(transport, handler: handler, sleeper: sleeper, configure: { $0.drainMaxFailures = 3 })
        let task = Task { await drainer.drain() }
        for _ in 0..<2 {
            do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
            sleeper.advanceToNextDeadline()
        }
        let end = await task.value
        XCTAssertEqual(end, .gaveUp, "the scheduler owes its triggers another drain")
        XCTAssertEqual(transport.requests.count, 3)
        XCTAssertEqual(sleeper.requestedSleeps, [.milliseconds(500), .seconds(1)])
        XCTAssertEqual(drainer.health.lastError, "anthropic HTTP 500")
        XCTAssertNil(drainer.health.configurationError)
    }

    // always-on shape: block_ms 999, U(1,3) s after empty polls, fatal poll stops the loop
    /// Rule 33 as amended: a fatal poll answer is reported (health, log) and the loop
    /// waits `fatalPollRetryInterval` and polls again, so a fixed key recovers alone.
    func testRunForeverPollsBlockingSleepsAfterEmptyPollsAndRetriesSlowlyAfterFatal() async {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        transport.script("GET", Q.pollPath, [.json(200, "null"), .json(429, "{}", headers: ["retry-after": "5"]), .json(500, "{}"),
                                             .json(200, Q.itemJSON("w1")),
                                             .json(401, #"{"type":"error","error":{"type":"authentication_error","message":"x"}}"#),
                                             .json(200, Q.itemJSON("w2")), .json(200, "null")])
        transport.script("POST", Q.ackPath("w1"), [ackOK])
        transport.script("POST", Q.ackPath("w2"), [ackOK])
        let handler = RecordingHandler()
        let (drainer, logs) = drainer(transport, handler: handler, sleeper: sleeper,
                                      configure: { $0.fatalPollRetryInterval = .seconds(60) }, random: { 0.5 })
        let task = Task { await drainer.runForever() }
        for _ in 0..<3 {
            do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
            sleeper.advanceToNextDeadline()
        }
        // The fourth sleep follows the 401: the loop is alive, the error reported.
        do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
        XCTAssertEqual(drainer.health.configurationError, "anthropic HTTP 401 authentication_error")
        XCTAssertTrue(logs.all.contains { $0.message == "queue.poll.fatal" })
        sleeper.advanceToNextDeadline()
        // The key works again: the next poll takes w2 and clears the error.
        do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
        XCTAssertNil(drainer.health.configurationError)
        task.cancel()
        await task.value
        // empty: 1 + 2×0.5 = 2 s; 429: hint 5 s beats 0.5 s × 0.75; 500: attempt 1 → 1 s × 0.75;
        // 401: the slow fatal retry; then an empty poll again.
        XCTAssertEqual(sleeper.requestedSleeps, [.seconds(2), .seconds(5), .milliseconds(750), .seconds(60), .seconds(2)])
        for poll in transport.requests("GET", Q.pollPath) {
            XCTAssertEqual(Q.query(poll), ["block_ms": "999", "reclaim_older_than_ms": "2000"])
            XCTAssertEqual(poll.timeout, .milliseconds(10_999))
        }
        XCTAssertEqual(transport.requests("GET", Q.pollPath).count, 7)
        XCTAssertEqual(handler.handled.sorted(), ["w1", "w2"])
    }

    // anthropic.md §4: poll and ack keep separate backoff counters
    func testPollAndAckKeepSeparateBackoffCounters() async {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        transport.script("GET", Q.pollPath, [.json(503, "{}"), .json(503, "{}"), .json(200, Q.itemJSON("w1")), .json(200, Q.itemJSON("w2")),
                                             .json(200, "null"), .json(200, "null")])
        transport.script("POST", Q.ackPath("w1"), [.json(500, "{}")])
        transport.script("POST", Q.ackPath("w2"), [.json(409, "{}")])
        let handler = RecordingHandler()
        let (drainer, _) = drainer(transport, handler: handler, sleeper: sleeper, configure: { $0.drainMaxFailures = 5 })
        let task = Task { await drainer.drain() }
        for _ in 0..<5 {
            do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
            sleeper.advanceToNextDeadline()
        }
        _ = await task.value
        // poll: attempts 0, 1; ack: its own attempts 0, 1 (not continuing the poll count);
        // then the recheck 2.25 s after the last failed ack (at 2 s), 1 s of it spent.
        XCTAssertEqual(sleeper.requestedSleeps, [.milliseconds(500), .seconds(1), .milliseconds(500), .seconds(1), .milliseconds(1250)])
        XCTAssertEqual(handler.handled, [])
    }

    // rule 47: nothing is claimed until the gate opens
    func testNoWorkIsClaimedUntilTheGateOpens() async {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        transport.script("GET", Q.pollPath, [.json(200, "null")], repeatLast: true)
        let open = Locked(false)
        let handler = RecordingHandler()
        let (drainer, _) = drainer(transport, handler: handler, sleeper: sleeper, mayClaim: { open.value })
        await drainer.drain()
        XCTAssertEqual(transport.requests.count, 0)
        let task = Task { await drainer.runForever() }
        do { let ok = await sleeper.waitForSleepers(1); XCTAssertTrue(ok) }
        XCTAssertEqual(sleeper.requestedSleeps, [.seconds(1)])
        XCTAssertEqual(transport.requests.count, 0)
        open.withLock { $0 = true }
        sleeper.advanceToNextDeadline()
        do { let ok = await transport.waitUntil { $0.count == 1 }; XCTAssertTrue(ok) }
        task.cancel()
        await task.value
    }

    // rule 47: a gate that closes while the drainer waits for a slot stops the next poll
    func testGateClosingWhileWaitingForASlotPreventsThePoll() async {
        let transport = ScriptedTransport()
        transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w1")), .json(200, Q.itemJSON("w2"))])
        transport.script("POST", Q.ackPath("w1"), [ackOK])
        let open = Locked(true)
        let handler = RecordingHandler(gated: true)
        let (drainer, _) = drainer(transport, handler: handler, configure: { $0.launchSlots = 1 }, mayClaim: { open.value })
        let drain = Task { await drainer.drain() }
        do { let ok = await ManualSleeper.waitUntil { handler.running == 1 && drainer.slots.waiting == 1 }; XCTAssertTrue(ok) }
        open.withLock { $0 = false }
        handler.gate?.signal()
        _ = await drain.value
        XCTAssertEqual(transport.requests("GET", Q.pollPath).count, 1)
        await drainer.waitForLaunches()
        XCTAssertEqual(drainer.slots.available, 1)
    }

    // graceful end of the always-on loop: cancellation stops polling, launches finish
    /// Cancelling the loop ends polling at once; launches go on (the shutdown bounds
    /// them with `stopLaunches`, not the loop).
    func testCancellingRunForeverStopsPollingAndLeavesLaunchesRunning() async {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w1")), .hang])
        transport.script("POST", Q.ackPath("w1"), [ackOK])
        let handler = RecordingHandler(gated: true)
        let (drainer, _) = drainer(transport, handler: handler, sleeper: sleeper)
        let task = Task { await drainer.runForever() }
        do { let ok = await ManualSleeper.waitUntil { handler.running == 1 && transport.inFlight == 1 }; XCTAssertTrue(ok) }
        task.cancel()
        await task.value
        XCTAssertEqual(transport.inFlight, 0)
        XCTAssertEqual(handler.running, 1)                  // the launch is still going
        XCTAssertTrue(drainer.isLaunching(workID: "w1"))
        handler.gate?.signal()
        await drainer.waitForLaunches()
        XCTAssertEqual(handler.running, 0)
        XCTAssertFalse(drainer.isLaunching(workID: "w1"))
        XCTAssertEqual(transport.requests("GET", Q.pollPath).count, 2)
        XCTAssertTrue(transport.requests("POST", Q.stopPath("w1")).isEmpty)
    }

    /// The bounded end of launches at shutdown: the quick one finishes and is left alone
    /// (rule 9); the one still running at the deadline is cancelled (it is a child task
    /// of the launch group) and its item force-stopped with a reason naming the shutdown.
    func testStopLaunchesCancelsWhatIsStillRunningAtTheDeadlineAndStopsItsItem() async {
        let transport = ScriptedTransport()
        transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("fast")), .json(200, Q.itemJSON("slow")), .json(200, "null")])
        transport.script("POST", Q.ackPath("fast"), [ackOK])
        transport.script("POST", Q.ackPath("slow"), [ackOK])
        transport.script("POST", Q.stopPath("slow"), [stopOK])
        let started = Locked(0)
        let handler = ClosureWorkHandler { item in
            started.withLock { $0 += 1 }
            if item.id == "fast" { return .handedOff }
            do { try await Task.sleep(for: .seconds(3600)) } catch { return .failed(reason: "launch cancelled") }
            return .handedOff
        }
        let (logger, logs) = CapturingLogHandler.logger()
        let drainer = Drainer(client: Q.client(transport, sleeper: ManualSleeper()), handler: handler, logger: logger)
        await drainer.drain()
        do { let ok = await ManualSleeper.waitUntil { started.withLock { $0 } == 2 && !drainer.isLaunching(workID: "fast") }; XCTAssertTrue(ok) }
        XCTAssertTrue(drainer.isLaunching(workID: "slow"))
        let now = ContinuousClock.now
        let cancelled = await drainer.stopLaunches(finishBy: now + .milliseconds(200), giveUpAt: now + .seconds(10))
        XCTAssertEqual(cancelled, 1)
        XCTAssertLessThan(ContinuousClock.now - now, .seconds(5), "ended well before the give-up time")
        XCTAssertFalse(drainer.isLaunching(workID: "slow"))
        XCTAssertEqual(transport.requests("POST", Q.stopPath("slow")).count, 1)
        XCTAssertTrue(transport.requests("POST", Q.stopPath("fast")).isEmpty)
        let stop = logs.all.first { $0.message == "queue.item.force_stop" }
        XCTAssertTrue(stop?.metadata["stop.reason"]?.description.hasPrefix(Drainer.shutdownReason) ?? false, "\(String(describing: stop))")
    }

    /// Rule 37: a force-stop that fails is not given up after the work client's three
    /// quick attempts; it is retried with backoff until it gets through.
    func testAFailedForceStopIsRetriedUntilItSucceeds() async {
        let transport = ScriptedTransport()
        let sleeper = ManualSleeper()
        transport.script("GET", Q.pollPath, [.json(200, Q.itemJSON("w1")), .json(200, "null")])
        transport.script("POST", Q.ackPath("w1"), [ackOK])
        // Three 503s per round (perCallAttempts), four rounds, then a success.
        transport.script("POST", Q.stopPath("w1"), Array(repeating: .json(503, "{}"), count: 12) + [stopOK])
        let handler = ClosureWorkHandler { _ in .failed(reason: "no sandbox") }
        let (logger, logs) = CapturingLogHandler.logger()
        let drainer = Drainer(client: Q.client(transport, sleeper: sleeper), handler: handler, logger: logger,
                              sleeper: sleeper, random: { 0.5 })
        await drainer.drain()
        var rounds = 0
        var sawPending = false
        while transport.requests("POST", Q.stopPath("w1")).count < 13 || drainer.pendingStops.count > 0, rounds < 200 {
            sawPending = sawPending || drainer.pendingStops.count == 1
            guard await sleeper.waitForSleepers(1, timeout: .seconds(5)) else { break }
            sleeper.advanceToNextDeadline()
            rounds += 1
        }
        XCTAssertTrue(sawPending, "the stop waited in the pending stops")
        XCTAssertEqual(drainer.pendingStops.count, 0)
        XCTAssertEqual(transport.requests("POST", Q.stopPath("w1")).count, 13)
        XCTAssertTrue(logs.all.contains { $0.message == "queue.item.stopped" && $0.metadata["retry.attempt"] != nil })
    }
}
