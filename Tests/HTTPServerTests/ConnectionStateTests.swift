@testable import HTTPServer
import XCTest

/// The connection's phases and deadlines on a manual clock: each case accepts a
/// connection at instant 100, applies events at explicit instants, then checks the phase,
/// the armed deadline, and what the deadline asks for one instant before and when it
/// runs out. `DeadlineTests` checks the same deadlines against real sockets.
final class ConnectionStateTests: XCTestCase {
    private static let timeouts = ConnectionState.Timeouts(header: 10, body: 30, idle: 60, write: 20, linger: 2)

    private enum Event {
        case requestStarted(at: UInt64)
        case bodyStarted(at: UInt64)
        case handlerStarted
        case streamStarted
        case refused
        case answered(close: Bool, inputBuffered: Bool, at: UInt64)
        case writeStalled(at: UInt64)
        case drained(at: UInt64)
    }

    private struct Case {
        let name: String
        let events: [Event]
        let phase: ConnectionState.Phase
        let deadline: ConnectionState.Deadline
        /// 0 when no deadline applies.
        let expiresAt: UInt64
        let expiry: ConnectionState.Expiry
        var inputBuffered = false
    }

    private static func run(_ events: [Event]) -> ConnectionState {
        var s = ConnectionState(timeouts: timeouts, acceptedAt: 100)
        for e in events {
            switch e {
            case .requestStarted(let t): s.requestStarted(now: t)
            case .bodyStarted(let t): s.bodyStarted(now: t)
            case .handlerStarted: s.handlerStarted()
            case .streamStarted: s.streamStarted()
            case .refused: s.refused()
            case .answered(let close, let buffered, let t): s.answered(close: close, inputBuffered: buffered, now: t)
            case .writeStalled(let t): s.writeStalled(now: t)
            case .drained(let t): _ = s.outputDrained(now: t)
            }
        }
        return s
    }

    /// One keep-alive exchange: request from 101, answered at 105 (idle until 165).
    private static let oneAnswered: [Event] = [.requestStarted(at: 101), .answered(close: false, inputBuffered: false, at: 105)]

    func testEachPhaseArmsItsNamedDeadlineAndSaysWhatItsExpiryDoes() {
        let cases: [Case] = [
            Case(name: "a fresh connection that never sends a byte is closed silently, counted from accept",
                 events: [], phase: .idle, deadline: .header, expiresAt: 110, expiry: .close),
            Case(name: "a fresh connection with unparsed bytes held at the header deadline gets 408",
                 events: [], phase: .idle, deadline: .header, expiresAt: 110,
                 expiry: .refuse(status: 408, reason: "header_timeout"), inputBuffered: true),
            Case(name: "a fresh connection's first byte does not restart the header deadline",
                 events: [.requestStarted(at: 108)], phase: .readingHead, deadline: .header, expiresAt: 110,
                 expiry: .refuse(status: 408, reason: "header_timeout")),
            Case(name: "a keep-alive connection waits idle from the answer and closes silently",
                 events: Self.oneAnswered, phase: .idle, deadline: .idle, expiresAt: 165, expiry: .close),
            Case(name: "a keep-alive request's header deadline counts from its first byte",
                 events: Self.oneAnswered + [.requestStarted(at: 150)], phase: .readingHead, deadline: .header,
                 expiresAt: 160, expiry: .refuse(status: 408, reason: "header_timeout")),
            Case(name: "after an async answer, pipelined bytes already buffered get no idle deadline",
                 events: [.requestStarted(at: 101), .handlerStarted, .answered(close: false, inputBuffered: true, at: 105)],
                 phase: .idle, deadline: .none, expiresAt: 0, expiry: .none, inputBuffered: true),
            Case(name: "the body deadline counts from the end of the head",
                 events: [.requestStarted(at: 101), .bodyStarted(at: 104)], phase: .readingBody, deadline: .body,
                 expiresAt: 134, expiry: .refuse(status: 408, reason: "body_timeout")),
            Case(name: "an async handler runs without a deadline",
                 events: [.requestStarted(at: 101), .handlerStarted], phase: .handling, deadline: .none,
                 expiresAt: 0, expiry: .none),
            Case(name: "a stream runs without a deadline between chunks",
                 events: [.requestStarted(at: 101), .handlerStarted, .streamStarted], phase: .streaming,
                 deadline: .none, expiresAt: 0, expiry: .none),
            Case(name: "an answer the socket refuses gets the write deadline",
                 events: Self.oneAnswered + [.writeStalled(at: 106)], phase: .idle, deadline: .write, expiresAt: 126,
                 expiry: .writeTimedOut),
            Case(name: "progress on a stalled write renews the write deadline",
                 events: Self.oneAnswered + [.writeStalled(at: 106), .writeStalled(at: 120)], phase: .idle, deadline: .write,
                 expiresAt: 140, expiry: .writeTimedOut),
            Case(name: "once a stalled answer is out, keep-alive waits idle from then",
                 events: Self.oneAnswered + [.writeStalled(at: 106), .drained(at: 125)], phase: .idle, deadline: .idle,
                 expiresAt: 185, expiry: .close),
            Case(name: "a stalled 100-continue gives the body its own deadline back, from then",
                 events: [.requestStarted(at: 101), .bodyStarted(at: 104), .writeStalled(at: 104), .drained(at: 115)],
                 phase: .readingBody, deadline: .body, expiresAt: 145, expiry: .refuse(status: 408, reason: "body_timeout")),
            Case(name: "a stalled stream chunk gets the write deadline, and none once written",
                 events: [.requestStarted(at: 101), .streamStarted, .writeStalled(at: 110), .drained(at: 115)],
                 phase: .streaming, deadline: .none, expiresAt: 0, expiry: .none),
            Case(name: "a refused request writes its answer without a deadline of its own",
                 events: [.requestStarted(at: 101), .refused], phase: .closing, deadline: .none, expiresAt: 0, expiry: .none),
            Case(name: "a closing connection lingers once its last answer is out",
                 events: [.requestStarted(at: 101), .answered(close: true, inputBuffered: false, at: 105), .drained(at: 106)],
                 phase: .lingering, deadline: .linger, expiresAt: 108, expiry: .close),
        ]
        for c in cases {
            let s = Self.run(c.events)
            XCTAssertEqual(s.phase, c.phase, c.name)
            XCTAssertEqual(s.deadline, c.deadline, c.name)
            XCTAssertEqual(s.expiresAt, c.expiresAt, c.name)
            if c.expiresAt > 0 {
                XCTAssertFalse(s.hasExpired(at: c.expiresAt - 1), c.name)
                XCTAssertEqual(s.expiry(at: c.expiresAt - 1, inputBuffered: c.inputBuffered), .none, c.name)
            }
            XCTAssertEqual(s.expiry(at: max(c.expiresAt, 100_000), inputBuffered: c.inputBuffered), c.expiry, c.name)
        }
    }

    func testDrainingSaysWhatComesNextInEachPhase() {
        let cases: [(name: String, events: [Event], next: ConnectionState.AfterDrain)] = [
            ("keep-alive parses what arrived meanwhile", Self.oneAnswered, .readInput),
            ("a partial head parses what arrived meanwhile", [.requestStarted(at: 101)], .readInput),
            ("a body keeps reading", [.requestStarted(at: 101), .bodyStarted(at: 102)], .none),
            ("a stream waits for its next chunk", [.requestStarted(at: 101), .streamStarted], .none),
            ("the last answer out starts the linger", [.requestStarted(at: 101), .refused], .linger),
        ]
        for c in cases {
            var s = Self.run(c.events)
            XCTAssertEqual(s.outputDrained(now: 200), c.next, c.name)
        }
    }

    func testAPeerThatGoesAwayIsClosedOnceNothingIsLeftToSend() {
        let cases: [(name: String, events: [Event], outputPending: Bool, closeNow: Bool, phase: ConnectionState.Phase)] = [
            ("idle with nothing queued closes", Self.oneAnswered, false, true, .idle),
            ("answers still queued go out first", Self.oneAnswered, true, false, .closing),
            ("a partial body is abandoned", [.requestStarted(at: 101), .bodyStarted(at: 102)], false, true, .readingBody),
            ("a running handler still answers a half-closed peer", [.requestStarted(at: 101), .handlerStarted], false, false, .handling),
        ]
        for c in cases {
            var s = Self.run(c.events)
            XCTAssertEqual(s.peerClosed(outputPending: c.outputPending), c.closeNow, c.name)
            XCTAssertEqual(s.phase, c.phase, c.name)
        }
    }

    func testShutdownClosesIdleConnectionsAtOnceAndMarksTheRestToCloseAfterTheirAnswer() {
        let cases: [(name: String, events: [Event], inputBuffered: Bool, closeNow: Bool)] = [
            ("idle keep-alive", Self.oneAnswered, false, true),
            ("idle with a pipelined request buffered", Self.oneAnswered, true, false),
            ("reading a head", [.requestStarted(at: 101)], false, false),
            ("handling", [.requestStarted(at: 101), .handlerStarted], false, false),
        ]
        for c in cases {
            var s = Self.run(c.events)
            XCTAssertTrue(s.answerCloses(keepAlive: false, serverStopping: false), c.name)
            XCTAssertFalse(s.answerCloses(keepAlive: true, serverStopping: false), c.name)
            XCTAssertEqual(s.shutdownRequested(inputBuffered: c.inputBuffered, outputPending: false), c.closeNow, c.name)
            XCTAssertTrue(s.answerCloses(keepAlive: true, serverStopping: false), c.name)
        }
        var lingering = Self.run([.requestStarted(at: 101), .refused, .drained(at: 102)])
        XCTAssertTrue(lingering.shutdownRequested(inputBuffered: false, outputPending: false), "lingering")
    }

    func testOnlyConnectionsDoingNothingAreEvictableAtTheCap() {
        let cases: [(String, [Event], inputBuffered: Bool, outputPending: Bool, ConnectionState.Evictable?)] = [
            ("fresh, silent", [], false, false, .awaitingFirstHead),
            ("fresh, part of its first head", [.requestStarted(at: 101)], true, false, .awaitingFirstHead),
            ("keep-alive between requests", Self.oneAnswered, false, false, .idle),
            ("keep-alive, next request buffered", Self.oneAnswered, true, false, nil),
            ("keep-alive, answer still being written", Self.oneAnswered, false, true, nil),
            ("keep-alive, part of its next head", Self.oneAnswered + [.requestStarted(at: 106)], true, false, nil),
            ("reading a body", [.requestStarted(at: 101), .bodyStarted(at: 102)], false, false, nil),
            ("handling", [.requestStarted(at: 101), .handlerStarted], false, false, nil),
            ("streaming", [.requestStarted(at: 101), .streamStarted], false, false, nil),
            ("closing", [.requestStarted(at: 101), .refused], false, true, nil),
            ("lingering", [.requestStarted(at: 101), .refused, .drained(at: 102)], false, false, nil),
        ]
        for (name, events, inputBuffered, outputPending, want) in cases {
            let s = Self.run(events)
            XCTAssertEqual(s.evictable(inputBuffered: inputBuffered, outputPending: outputPending), want, name)
        }
    }

    func testClosingTwiceIsAnOutcomeNotAnError() {
        var s = Self.run(Self.oneAnswered)
        XCTAssertTrue(s.close())
        XCTAssertFalse(s.close())
        XCTAssertEqual(s.phase, .closed)
        XCTAssertEqual(s.deadline, .none)
        XCTAssertEqual(s.expiry(at: 1_000_000, inputBuffered: false), .none)
    }

    /// Input dropped over the buffer budget while a handler or stream ran: that answer,
    /// even a stream whose head already promised keep-alive, ends the connection.
    func testAnAnswerAfterDroppedInputEndsTheConnection() {
        for start in [Event.handlerStarted, .streamStarted] {
            var s = Self.run([.requestStarted(at: 101), start])
            s.closeAfterAnswer()
            XCTAssertTrue(s.answerCloses(keepAlive: true, serverStopping: false))
            s.answered(close: false, inputBuffered: false, now: 110)
            XCTAssertEqual(s.phase, .closing, "\(start)")
            XCTAssertEqual(s.deadline, .none)
        }
    }

    func testTheRequestDurationRunsFromItsFirstByte() {
        var s = Self.run([.requestStarted(at: 150)])
        XCTAssertEqual(s.elapsed(at: 175), 25)
        s.answered(close: false, inputBuffered: false, now: 175)
        XCTAssertEqual(s.elapsed(at: 200), 0, "between requests")
        XCTAssertEqual(s.served, 1)
    }
}
