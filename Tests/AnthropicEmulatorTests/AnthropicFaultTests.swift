import APIClient
import AnthropicEmulator
import Foundation
import TestSupport
import XCTest

/// A lost answer on the Anthropic emulator: the call acts in full, its answer never
/// arrives (what a broken connection after the server acted looks like).
final class AnthropicFaultTests: XCTestCase {
    func testAnAckWhoseAnswerIsLostStillAcks() async throws {
        let emulator = AnthropicEmulator(configuration: AnthropicTestKeys.configuration(), logger: LogRecorder().logger(),
                                         transport: ScriptedTransport())
        addTeardownBlock { await emulator.shutdown() }
        let client = InProcessClient(router: emulator.router)
        let created = try emulator.createSession()
        let set = await client.send(.POST, "/_emulator/faults", body: #"{"lose_rate":1,"routes":["ack"],"remaining":1}"#)
        XCTAssertEqual(set.status, 200, set.text)
        let request = OutboundRequest(method: "POST", url: URL(string: "http://anthropic.test/v1/environments/env_test/work/\(created.workID)/ack")!,
                                      headers: [("Authorization", "Bearer \(AnthropicTestKeys.environmentKey)")], body: Data(),
                                      timeout: .seconds(30))
        do {
            let answer = try await client.transport.send(request)
            XCTFail("the answer arrived: \(answer.status)")
        } catch {}
        XCTAssertEqual(emulator.faults.counts.losses, 1)
        XCTAssertNotEqual(emulator.snapshot.items[created.workID]?.state, .queued, "the ack acted")
    }
}
