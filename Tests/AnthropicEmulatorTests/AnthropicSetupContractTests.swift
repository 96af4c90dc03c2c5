import AnthropicEmulator
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPServer
import JSON
import TestSupport
import XCTest

/// Contract tests of the setup calls (`setup environment`, `setup agent`): the
/// emulator on a real `HTTPServer` driven by anthropic 2.10.0's
/// `beta.environments.create` and `beta.agents.create`.
final class AnthropicSetupContractTests: XCTestCase {
    var emulator: AnthropicEmulator!
    var harness: ServerHarness!
    var base: String { "http://127.0.0.1:\(harness.port)" }

    override func setUp() async throws {
        signal(SIGPIPE, SIG_IGN)
        emulator = AnthropicEmulator(configuration: AnthropicTestKeys.configuration(), logger: LogRecorder().logger())
        harness = try ServerHarness(router: emulator.router)
    }

    override func tearDown() async throws {
        await emulator.shutdown()
        await harness.stop()
    }

    func runSDK(_ script: String, file: StaticString = #filePath, line: UInt = #line) async throws -> [String: JSONValue] {
        let env = ["BASE": base, "APIKEY": AnthropicTestKeys.apiKey, "KEY": AnthropicTestKeys.environmentKey]
        let result: SDKPython.Result = try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async {
                do { c.resume(returning: try SDKPython.run(script: Self.prelude + script, environment: env, timeout: 120)) }
                catch { c.resume(throwing: error) }
            }
        }
        XCTAssertEqual(result.status, 0, "SDK script failed:\n\(result.stderr.suffix(4000))", file: file, line: line)
        var steps: [String: JSONValue] = [:]
        for text in result.stdout.split(separator: "\n") {
            if let json = try? JSONValue.parse(String(text)), let step = json["step"]?.stringValue { steps[step] = json }
        }
        return steps
    }

    static let prelude = """
        import json, os, urllib.request
        import anthropic
        BASE, APIKEY, KEY = os.environ["BASE"], os.environ["APIKEY"], os.environ["KEY"]
        def out(**kw): print(json.dumps(kw), flush=True)

        """

    func testTheSDKCreatesASelfHostedEnvironmentAndAnAgentWithTheAPIKey() async throws {
        let steps = try await runSDK("""
            client = anthropic.Anthropic(api_key=APIKEY, base_url=BASE)
            env = client.beta.environments.create(name="ops", config={"type": "self_hosted"}, description="built by setup")
            out(step="env", id=env.id, type=env.type, config=env.config.type, name=env.name, description=env.description)
            agent = client.beta.agents.create(name="coder", model="claude-sonnet-5-5", system="Be brief.",
                                              tools=[{"type": "agent_toolset_20260401"}])
            out(step="agent", id=agent.id, type=agent.type, model=agent.model.id, system=agent.system,
                version=agent.version, tools=[t.type for t in agent.tools])
            # The new environment has a work queue: its key (the Console's part) polls it.
            listed = json.load(urllib.request.urlopen(BASE + "/_emulator/environments"))
            key = [e["environment_key"] for e in listed["environments"] if e["id"] == env.id][0]
            worker = anthropic.Anthropic(api_key=key, base_url=BASE)
            item = worker.beta.environments.work.poll(env.id, block_ms=1)
            out(step="poll", empty=item is None)
            """)
        let env = try XCTUnwrap(steps["env"])
        XCTAssertTrue(env["id"]?.stringValue?.hasPrefix("env_") == true)
        XCTAssertEqual(env["type"]?.stringValue, "environment")
        XCTAssertEqual(env["config"]?.stringValue, "self_hosted")
        XCTAssertEqual(env["name"]?.stringValue, "ops")
        XCTAssertEqual(env["description"]?.stringValue, "built by setup")
        let agent = try XCTUnwrap(steps["agent"])
        XCTAssertEqual(agent["type"]?.stringValue, "agent")
        XCTAssertEqual(agent["model"]?.stringValue, "claude-sonnet-5-5")
        XCTAssertEqual(agent["system"]?.stringValue, "Be brief.")
        XCTAssertEqual(agent["version"]?.intValue, 1)
        XCTAssertEqual(agent["tools"], .array([.string("agent_toolset_20260401")]))
        XCTAssertEqual(steps["poll"]?["empty"]?.boolValue, true)
    }

    func testAnEnvironmentKeyCannotCreateAndBadBodiesAreRefusedAsTheSDKSeesThem() async throws {
        let steps = try await runSDK("""
            env_client = anthropic.Anthropic(api_key=KEY, base_url=BASE, max_retries=0)
            try:
                env_client.beta.environments.create(name="nope", config={"type": "self_hosted"})
                out(step="env_key", error=None)
            except anthropic.PermissionDeniedError as e:
                out(step="env_key", error="permission")
            client = anthropic.Anthropic(api_key=APIKEY, base_url=BASE, max_retries=0)
            try:
                client.beta.environments.create(name="", config={"type": "self_hosted"})
                out(step="empty_name", error=None)
            except anthropic.BadRequestError as e:
                out(step="empty_name", error="bad_request")
            try:
                client.beta.agents.create(name="a", model="claude-sonnet-5-5", extra_body={"unknown_field": 1})
                out(step="unknown", error=None)
            except anthropic.BadRequestError as e:
                out(step="unknown", error="bad_request")
            """)
        XCTAssertEqual(steps["env_key"]?["error"]?.stringValue, "permission")
        XCTAssertEqual(steps["empty_name"]?["error"]?.stringValue, "bad_request")
        XCTAssertEqual(steps["unknown"]?["error"]?.stringValue, "bad_request")
    }

    /// The fault plan reaches the setup calls (group `setup`): the SDK's own retries
    /// get through two injected 503s.
    func testInjectedSetupFaultsAreRetriedByTheSDK() async throws {
        let plan = try await RawHTTP.post(base + "/_emulator/faults",
                                          body: #"{"error_rate":1,"statuses":[503],"routes":["setup"],"remaining":2}"#)
        XCTAssertEqual(plan, 200)
        let steps = try await runSDK("""
            client = anthropic.Anthropic(api_key=APIKEY, base_url=BASE, max_retries=3)
            env = client.beta.environments.create(name="after-faults", config={"type": "self_hosted"})
            out(step="env", id=env.id)
            """)
        XCTAssertTrue(steps["env"]?["id"]?.stringValue?.hasPrefix("env_") == true)
    }
}

/// A POST with URLSession, for control routes.
enum RawHTTP {
    static func post(_ url: String, body: String) async throws -> Int {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }
}
