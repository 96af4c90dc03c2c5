import Faults
import JSON
import XCTest

/// The fault plan both emulators take, and the per-request decision.
final class FaultInjectorTests: XCTestCase {
    func testFaultPlanDecisionsFollowRatesRoutesAndRemaining() {
        let injector = FaultInjector()
        XCTAssertEqual(injector.decide(groups: ["all", "work", "poll"]), .pass(latency: .zero))
        var plan = FaultPlan()
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

    func testAllMatchesOnlyTheRoutesAnEmulatorPutsInIt() {
        let injector = FaultInjector()
        var plan = FaultPlan()
        plan.errorRate = 1
        injector.set(plan)
        XCTAssertEqual(injector.decide(groups: ["all", "control", "sandboxes.create"]), .error(status: 500, retryAfterSeconds: nil, latency: .zero))
        XCTAssertEqual(injector.decide(groups: ["exec"]), .pass(latency: .zero), "a route without `all` in its groups")
        plan.routes = ["data"]
        injector.set(plan)
        XCTAssertEqual(injector.decide(groups: ["all", "control", "sandboxes.list"]), .pass(latency: .zero))
        XCTAssertEqual(injector.decide(groups: ["all", "data", "exec"]), .error(status: 500, retryAfterSeconds: nil, latency: .zero))
    }

    /// A lost answer is its own decision, drawn after drops and errors, and counted.
    func testLostAnswersAreDecidedAndCountedApartFromErrorsAndDrops() {
        let injector = FaultInjector()
        var plan = FaultPlan()
        plan.loseRate = 1
        plan.latencyMilliseconds = 3
        injector.set(plan)
        XCTAssertEqual(injector.decide(groups: ["all", "control", "sandboxes.create"]), .lose(latency: .milliseconds(3)))
        XCTAssertEqual(injector.counts.lossesByRoute, ["sandboxes.create": 1])
        plan.loseRate = 0.5
        plan.errorRate = 0.5
        plan.statuses = [503]
        plan.latencyMilliseconds = 0
        injector.set(plan)
        var decisions: [FaultDecision] = []
        for _ in 0..<200 { decisions.append(injector.decide(groups: ["all"])) }
        XCTAssertFalse(decisions.contains(.pass(latency: .zero)), "the rates sum to 1")
        XCTAssertTrue(decisions.contains(.lose(latency: .zero)))
        XCTAssertTrue(decisions.contains(.error(status: 503, retryAfterSeconds: nil, latency: .zero)))
        let counts = injector.counts
        XCTAssertEqual(counts.losses + counts.errors, 201)
        XCTAssertEqual(counts.drops, 0)
        injector.resetCounts()
        XCTAssertEqual(injector.counts, FaultCounts())
    }

    /// The status is drawn among those the request may get, so the error rate holds
    /// for a request that may get only some of the plan's statuses.
    func testTheStatusIsDrawnAmongTheEligibleOnes() {
        let injector = FaultInjector()
        var plan = FaultPlan()
        plan.errorRate = 1
        plan.statuses = [500, 503, 429]
        injector.set(plan)
        for _ in 0..<50 {
            guard case .error(let status, _, _) = injector.decide(groups: ["all"], eligible: { $0 != 500 }) else {
                return XCTFail("every request may get 503 or 429")
            }
            XCTAssertNotEqual(status, 500)
        }
    }

    func testStatusesAnEmulatorCannotInjectPassAndSpendNothing() {
        let injector = FaultInjector()
        var plan = FaultPlan()
        plan.errorRate = 1
        plan.statuses = [503]
        plan.remaining = 1
        injector.set(plan)
        // Superserve injects 503 only on GET and DELETE (superserve.md §10.10).
        XCTAssertEqual(injector.decide(groups: ["all"], eligible: { $0 != 503 }), .pass(latency: .zero))
        XCTAssertEqual(injector.current?.remaining, 1)
        XCTAssertEqual(injector.decide(groups: ["all"]), .error(status: 503, retryAfterSeconds: nil, latency: .zero))
        XCTAssertEqual(injector.current?.remaining, 0)
    }

    func testPlansDecodeFromTheOneJSONShapeAndRoundTrip() throws {
        let text = #"{"error_rate":0.5,"statuses":[429,503],"latency_ms":20,"drop_rate":0.25,"lose_rate":0.125,"routes":["poll"],"remaining":3,"retry_after_seconds":2}"#
        let plan = try FaultPlan.decode(JSONValue.parse(text)).get()
        XCTAssertEqual(plan.errorRate, 0.5)
        XCTAssertEqual(plan.statuses, [429, 503])
        XCTAssertEqual(plan.latencyMilliseconds, 20)
        XCTAssertEqual(plan.dropRate, 0.25)
        XCTAssertEqual(plan.loseRate, 0.125)
        XCTAssertEqual(plan.routes, ["poll"])
        XCTAssertEqual(plan.remaining, 3)
        XCTAssertEqual(plan.retryAfterSeconds, 2)
        XCTAssertEqual(plan.json.serialized, text)
        XCTAssertEqual(try FaultPlan.decode(JSONValue.parse(#"{"routes":"work"}"#)).get().routes, ["work"])
    }

    func testPlansThatAreWrongAreRefusedNamingTheKey() throws {
        let table: [(String, Set<Int>, String)] = [
            (#"{"error_rate":2}"#, Set(400...599), "error_rate"),
            (#"{"error_rate":0.6,"drop_rate":0.6}"#, Set(400...599), "sum"),
            (#"{"error_rate":0.6,"lose_rate":0.6}"#, Set(400...599), "sum"),
            (#"{"lose_rate":-0.1}"#, Set(400...599), "lose_rate"),
            (#"{"statuses":[200]}"#, Set(400...599), "statuses"),
            (#"{"statuses":[418]}"#, [429, 500, 502, 503, 504], "statuses"),
            (#"{"routes":5}"#, Set(400...599), "routes"),
            (#"{"latency_ms":-1}"#, Set(400...599), "latency_ms"),
            (#"{"remaining":-1}"#, Set(400...599), "remaining"),
            (#"{"retry_after_seconds":3601}"#, Set(400...599), "retry_after_seconds"),
            (#"{"error_rates":{"500":1}}"#, Set(400...599), "error_rates"),
            ("[]", Set(400...599), "object"),
        ]
        for (text, allowed, named) in table {
            switch FaultPlan.decode(try JSONValue.parse(text), allowedStatuses: allowed) {
            case .success: XCTFail("accepted \(text)")
            case .failure(let e): XCTAssertTrue(e.message.contains(named), "\(text): \(e.message)")
            }
        }
    }
}
