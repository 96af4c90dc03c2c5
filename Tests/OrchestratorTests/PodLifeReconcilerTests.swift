import AnthropicEmulator
import APIClient
import Foundation
import Logging
import Synchronization
import TestSupport
import WorkQueue
import XCTest

/// The reconciler against the Anthropic emulator (its real `GET …/work`), with several
/// replicas at once (rule 1). The runner check is the seam the app fills with the
/// janitor's probe; here each test says what a probe would find.
final class PodLifeReconcilerTests: XCTestCase {
    struct Answers: RunnerCheck {
        let bySession: [String: RunnerPresence]
        let asked = Locked<[String]>([])
        func presence(sessionID: String) async -> RunnerPresence {
            asked.withLock { $0.append(sessionID) }
            return bySession[sessionID] ?? .unknown("no answer")
        }
    }

    static let key = "sk-ant-oat01-TEST"
    let emulator = AnthropicEmulator(configuration: {
        var c = AnthropicEmulatorConfiguration()
        c.environmentID = "env_test"
        c.environmentKey = PodLifeReconcilerTests.key
        return c
    }(), logger: Logger(label: "emulator") { _ in SwiftLogNoOpLogHandler() })

    func client() -> WorkClient {
        WorkClient(configuration: AnthropicAPIConfiguration(baseURL: URL(string: "http://127.0.0.1:9")!,
                                                            environmentID: "env_test", environmentKey: Self.key),
                   transport: RouterTransport(router: emulator.router), random: { 0 })
    }

    /// One replica: its own client and drainer on the shared emulator.
    func replica(_ client: WorkClient? = nil, handler: any WorkHandler = ClosureWorkHandler { _ in .handedOff }) -> Drainer {
        Drainer(client: client ?? self.client(), handler: handler, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
    }

    func reconciler(_ drainer: Drainer, _ answers: Answers, now: @escaping @Sendable () -> Date) -> Reconciler {
        var configuration = Reconciler.Configuration()
        configuration.minimumAge = .seconds(210)
        configuration.pageSize = 2   // several pages
        return Reconciler(drainer: drainer, runnerCheck: answers, configuration: configuration,
                          logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }, now: now)
    }

    /// Three items were acked by a replica that died (the poll-and-ack of a claim, then
    /// nothing). Two other replicas reconcile at the same moment, later than any launch
    /// budget: the orphan is stopped (once for real, the other stop is a 409 = done),
    /// the item whose runner started but has not heartbeated yet is left to it (rule 9),
    /// and an item whose check failed is left for a later pass.
    func testTwoReplicasReconcilingAtOnceStopTheOrphanAndLeaveTheRunnersItem() async throws {
        let orphan = try emulator.createSession()
        let held = try emulator.createSession()
        let unclear = try emulator.createSession()
        let dead = client()
        for _ in 0..<3 {
            let item = try await dead.poll(blockMs: nil, reclaimOlderThanMs: 2000)
            try await dead.ack(workID: try XCTUnwrap(item).id)
        }
        let answers = Answers(bySession: [
            orphan.sessionID: .notRunning(why: "no sandbox"),
            held.sessionID: .running(workID: held.workID),
            unclear.sessionID: .unknown("superserve 503"),
        ])
        let later: @Sendable () -> Date = { Date().addingTimeInterval(3600) }
        let b = reconciler(replica(), answers, now: later)
        let c = reconciler(replica(), answers, now: later)
        async let first = b.pass()
        async let second = c.pass()
        let reports = await [first, second]

        let items = emulator.snapshot.items
        XCTAssertEqual(items[orphan.workID]?.state, .stopped)
        XCTAssertEqual(items[held.workID]?.state, .starting, "a runner's item is never stopped")
        XCTAssertEqual(items[unclear.workID]?.state, .starting, "a failed check stops nothing")
        let stops = items[orphan.workID]?.calls.filter { $0.kind == "stop" }.map(\.status) ?? []
        XCTAssertEqual(stops.filter { $0 == 200 }.count, 1, "\(stops)")
        XCTAssertTrue(stops.allSatisfy { $0 == 200 || $0 == 409 }, "\(stops)")
        // A replica whose list came after the other's stop sees the orphan stopped and
        // leaves it out; one whose list came before stops it too (a 409, done). Either
        // way at least one replica stopped it, and neither touched the other two.
        var stoppedBy = 0
        for report in reports {
            XCTAssertEqual(report.listed, 3)
            if let verdict = report.verdicts[orphan.workID] {
                XCTAssertEqual(verdict, .orphanStopped)
                XCTAssertEqual(report.candidates, 3)
                stoppedBy += 1
            } else {
                XCTAssertEqual(report.candidates, 2, "only an orphan already stopped is left out")
            }
            XCTAssertEqual(report.verdicts[held.workID], .runnerRunning)
            XCTAssertEqual(report.verdicts[unclear.workID], .unknown)
        }
        XCTAssertGreaterThanOrEqual(stoppedBy, 1)
        XCTAssertEqual(b.lastPass.orphansStopped + c.lastPass.orphansStopped, stoppedBy)
    }

    /// Why several replicas are safe without a lock: an item acked less than the
    /// minimum age ago (above every launch budget) may still be launching on the replica
    /// that claimed it, so no other replica considers it, whatever a probe would say.
    /// The claimer itself knows its launch and leaves it too.
    func testAnItemStillLaunchingOnItsClaimerIsLeftByEveryReplica() async throws {
        let created = try emulator.createSession()
        let gate = Gate()
        let claimer = replica(handler: ClosureWorkHandler { _ in
            await gate.wait()
            return .handedOff
        })
        await claimer.drain()
        XCTAssertTrue(claimer.isLaunching(workID: created.workID))
        // A probe would find no runner yet: the launch is under way.
        let answers = Answers(bySession: [created.sessionID: .notRunning(why: "sandbox has no runner bundle")])
        let other = reconciler(replica(), answers, now: { Date() })
        let report = await other.pass()
        XCTAssertEqual(report.candidates, 0, "younger than the minimum age")
        XCTAssertTrue(answers.asked.withLock { $0 }.isEmpty)
        // The claimer, even past the age, skips its own launch.
        let own = await reconciler(claimer, answers, now: { Date().addingTimeInterval(3600) }).pass()
        XCTAssertEqual(own.verdicts[created.workID], .busy)
        XCTAssertEqual(emulator.snapshot.items[created.workID]?.state, .starting)
        gate.open()
        await claimer.waitForLaunches()
    }

    /// A stop that keeps failing is ended once the list shows the item stopped.
    func testAPendingStopEndsWhenTheListShowsTheItemStopped() async throws {
        let created = try emulator.createSession()
        let client = client()
        let drainer = replica(client)
        let item = try await client.poll(blockMs: nil, reclaimOlderThanMs: 2000)
        try await client.ack(workID: try XCTUnwrap(item).id)
        // Stops fail for now (the work client's three attempts): the stop goes to the pending stops.
        let control = RouterTransport(router: emulator.router)
        let set = try await control.send(OutboundRequest(
            method: "POST", url: URL(string: "http://emulator/_emulator/faults")!,
            body: Data(#"{"error_rate":1.0,"statuses":[503],"routes":["stop"],"remaining":3}"#.utf8), timeout: .seconds(5)))
        XCTAssertEqual(set.status, 200)
        await drainer.forceStop(workID: created.workID, sessionID: created.sessionID, .launchFailed, reason: "test")
        XCTAssertEqual(drainer.pendingStops.count, 1)
        // Someone else stopped it (another replica, the runner); the list shows it.
        _ = try await client.stop(workID: created.workID, force: true)
        await reconciler(drainer, Answers(bySession: [:]), now: { Date() }).pass()
        XCTAssertEqual(drainer.pendingStops.count, 0)
    }
}
