import Foundation
@testable import Orchestrator
import Synchronization
import XCTest

final class StatusSeriesTests: XCTestCase {
    func testEventsLandInTheirMinuteAndOldMinutesLeaveTheWindow() {
        let clock = SessionBoardTests.Clock()
        clock.advance(-1_000_000 + 60 * 1_000)  // a minute boundary
        let series = StatusSeries(minutes: 60, now: clock.now)
        series.launch("launched", duration: .seconds(1))
        series.launch("failed", duration: .seconds(3))
        series.webhook("queued")
        clock.advance(60)
        series.webhook("rejected")
        series.webhook("not-an-outcome")
        var window = series.window
        XCTAssertEqual(window.count, 60)
        XCTAssertEqual(window[58].launches, [1, 1])
        XCTAssertEqual(window[58].webhooks[StatusSeries.webhookOutcomes.firstIndex(of: "queued")!], 1)
        XCTAssertEqual(window[59].webhooks.reduce(0, +), 1)
        XCTAssertEqual(window[59].launches, [0, 0])
        XCTAssertNil(window[59].p50)
        // 59 minutes later the first minute has left the window; its slot is reused.
        clock.advance(59 * 60)
        series.launch("launched", duration: .seconds(5))
        window = series.window
        XCTAssertEqual(window.map { $0.launches.reduce(0, +) }.reduce(0, +), 1)
        XCTAssertEqual(window[59].p99, 5)
    }

    func testPercentilesAreNearestRank() {
        let samples = (1...100).map(Double.init)
        XCTAssertEqual(StatusSeries.percentile(samples, 0.5), 50)
        XCTAssertEqual(StatusSeries.percentile(samples, 0.9), 90)
        XCTAssertEqual(StatusSeries.percentile(samples, 0.99), 99)
        XCTAssertEqual(StatusSeries.percentile([7], 0.99), 7)
        XCTAssertNil(StatusSeries.percentile([], 0.5))
    }

    func testABurstKeepsAtMostTheSampleCapPerMinute() {
        let series = StatusSeries(minutes: 2, maxSamplesPerMinute: 10)
        for i in 0..<1_000 { series.launch("launched", duration: .milliseconds(i)) }
        let last = series.window.last!
        XCTAssertEqual(last.launches[0] + series.window.first!.launches[0], 1_000)
        XCTAssertNotNil(last.p50)
    }
}
