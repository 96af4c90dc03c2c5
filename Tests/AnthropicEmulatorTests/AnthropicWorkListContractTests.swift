import AnthropicEmulator
import Foundation
import JSON
import XCTest

/// `GET …/work` (anthropic.md §2, list), the reconciler's read, through the official
/// SDK's `work.list` and its cursor paging.
extension AnthropicSDKContractTests {
    func testWorkListPagesThroughEveryItemWithTheStatesTheReconcilerReads() async throws {
        let ids = try (0..<5).map { _ in try emulator.createSession().workID }
        let lines = try await runSDK("""
            async def main():
                work = AsyncAnthropic(base_url=BASE, api_key=None, auth_token=KEY).beta.environments.work
                item = await work.poll(ENV)
                await work.ack(item.id, environment_id=ENV)
                first = await work.list(ENV, limit=2)
                seen = []
                async for w in work.list(ENV, limit=2):
                    seen.append([w.id, w.state, w.acknowledged_at is not None, w.latest_heartbeat_at is None,
                                 w.secret is None, w.data.type])
                out(acked=item.id, first=[w.id for w in first.data], next=first.next_page, seen=seen)
            asyncio.run(main())
            """)
        let last = try XCTUnwrap(lines.last)
        XCTAssertEqual(last["first"], .array(ids.prefix(2).map { .string($0) }), "pages of two, in creation order")
        XCTAssertNotNil(last["next"]?.stringValue, "a cursor for the next page")
        let seen = last["seen"]?.arrayValue ?? []
        XCTAssertEqual(seen.compactMap { $0.arrayValue?.first?.stringValue }, ids, "the SDK's paging reached every item")
        let acked = try XCTUnwrap(last["acked"]?.stringValue)
        for row in seen {
            let fields = row.arrayValue ?? []
            let isAcked = fields.first?.stringValue == acked
            XCTAssertEqual(fields[1].stringValue, isAcked ? "starting" : "queued")
            XCTAssertEqual(fields[2].boolValue, isAcked, "acknowledged_at is set by the ack")
            XCTAssertEqual(fields[3].boolValue, true, "no heartbeat yet")
            XCTAssertEqual(fields[4].boolValue, true, "the list never carries a secret")
            XCTAssertEqual(fields[5].stringValue, "session")
        }
    }
}
