import APIClient
import Foundation
import Logging
import SandboxLifecycle
import TestSupport
import WorkQueue
import XCTest
@testable import Orchestrator

/// The work pipeline's metric families, driven through the real janitor, drainer,
/// template check, token bucket and metered transport over scripted upstreams.
final class PipelineMetricsTests: XCTestCase {
    let logger = Logger(label: "test.metrics") { _ in SwiftLogNoOpLogHandler() }
    static let base = URL(string: "http://127.0.0.1:9/prefix")!

    func text(_ metrics: OrchestratorMetrics) -> String { String(decoding: metrics.exposition(), as: UTF8.self) }

    /// The value of one exposed sample line (`name{labels}`), as Prometheus reads it.
    func sample(_ metrics: OrchestratorMetrics, _ series: String) -> Double? {
        text(metrics).split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    /// Sample lines of `family`, so that a test can see the label set stay bounded.
    func seriesCount(_ metrics: OrchestratorMetrics, _ family: String) -> Int {
        text(metrics).split(separator: "\n").filter { $0.hasPrefix(family + "{") || $0.hasPrefix(family + " ") }.count
    }

    func superserve(_ transport: ScriptedTransport, _ metrics: OrchestratorMetrics) -> SuperserveClient {
        var configuration = SuperserveConfiguration(controlPlaneURL: Self.base, dataPlaneURL: Self.base, apiKey: "ss_TEST")
        configuration.ratePerSecond = 1_000_000
        configuration.burst = 1_000
        return SuperserveClient(configuration: configuration,
                                transport: MeteredTransport(transport, upstream: .superserve, baseURLs: [Self.base], metrics: metrics),
                                logger: logger, bucketObserver: metrics)
    }

    func testEveryPipelineFamilyIsExposedAtZeroBeforeAnythingHappens() {
        let metrics = OrchestratorMetrics()
        for series in [
            #"cma_janitor_sweeps_total{outcome="failed"}"#,
            #"cma_janitor_pauses_total{trigger="max_idle",outcome="paused"}"#,
            #"cma_work_force_stops_total{reason="runner_died",outcome="stopped"}"#,
            #"cma_work_queue_errors_total{call="poll",class="fatal"}"#,
            #"cma_upstream_requests_total{upstream="superserve",method="POST",endpoint="/exec",status="5xx"}"#,
            #"cma_upstream_request_duration_seconds_count{upstream="anthropic",method="GET",endpoint="/v1/environments/{id}/work/poll"}"#,
            "cma_superserve_bucket_wait_seconds_total", "cma_superserve_bucket_waiters", "cma_ready",
        ] {
            XCTAssertEqual(sample(metrics, series), 0, series)
        }
    }

    /// Route patterns replace ids, match after the base URL's path prefix, and need the
    /// right method; anything else is `other`.
    func testUpstreamRoutesReplaceIdsAndFoldUnknownPathsIntoOther() {
        let cases: [(UpstreamRoute.Upstream, String, String, String)] = [
            (.anthropic, "GET", "/prefix/v1/environments/env_1/work/poll", "/v1/environments/{id}/work/poll"),
            (.anthropic, "POST", "/prefix/v1/environments/env_1/work/wrk_9/ack", "/v1/environments/{id}/work/{id}/ack"),
            (.anthropic, "GET", "/prefix/v1/sessions/sesn_1", "/v1/sessions/{id}"),
            (.anthropic, "GET", "/elsewhere/v1/sessions/sesn_1", "other"),
            (.anthropic, "DELETE", "/prefix/v1/sessions/sesn_1", "other"),
            (.superserve, "PATCH", "/prefix/sandboxes/sbx_1", "/sandboxes/{id}"),
            (.superserve, "GET", "/prefix/templates/t_1/builds/b_1", "/templates/{id}/builds/{id}"),
            (.superserve, "POST", "/prefix/exec", "/exec"),
            (.superserve, "POST", "/prefix/sandboxes/sbx_1/exec", "other"),
            (.superserve, "GET", "/prefix/v1/sessions/sesn_1", "other"),
        ]
        for (upstream, method, path, endpoint) in cases {
            let route = UpstreamRoute.classify(upstream, method: method, path: path, basePaths: ["/prefix"])
            XCTAssertEqual(route.endpoint, endpoint, "\(method) \(path)")
            XCTAssertEqual(route.method, endpoint == "other" ? "other" : method, "\(method) \(path)")
        }
        XCTAssertEqual([99, 200, 301, 404, 503, 600].map(UpstreamRoute.statusClass), ["other", "2xx", "3xx", "4xx", "5xx", "other"])
    }

    /// Hundreds of session ids through the metered transport: counts land on the route
    /// pattern and status class, transport errors are counted, and no id becomes a label.
    func testUpstreamCallsAreCountedByRoutePatternAndTheLabelSetStaysBounded() async throws {
        let metrics = OrchestratorMetrics()
        let seriesBefore = seriesCount(metrics, "cma_upstream_requests_total")
        let transport = ScriptedTransport()
        let metered = MeteredTransport(transport, upstream: .anthropic, baseURLs: [Self.base], metrics: metrics)
        let ids = (0..<300).map { "sesn_\($0)x\(UUID().uuidString.prefix(8))" }
        for id in ids { transport.script("GET", "/prefix/v1/sessions/\(id)", [.json(200, "{}")]) }
        transport.script("GET", "/prefix/v1/environments/env_1/work/poll", [.error(.timedOut)])
        for id in ids {
            _ = try await metered.send(OutboundRequest(method: "GET", url: URL(string: "\(Self.base)/v1/sessions/\(id)")!, timeout: .seconds(1)))
            _ = try await metered.send(OutboundRequest(method: "GET", url: URL(string: "\(Self.base)/v9/things/\(id)")!, timeout: .seconds(1)))
        }
        do {
            _ = try await metered.send(OutboundRequest(method: "GET", url: URL(string: "\(Self.base)/v1/environments/env_1/work/poll")!,
                                                       timeout: .seconds(1)))
            XCTFail("the scripted transport error did not come through")
        } catch TransportError.timedOut {}

        func requests(_ method: String, _ endpoint: String, _ status: String) -> Int {
            metrics.tally("cma_upstream_requests_total", [("upstream", "anthropic"), ("method", method), ("endpoint", endpoint), ("status", status)])
        }
        XCTAssertEqual(requests("GET", "/v1/sessions/{id}", "2xx"), 300)
        XCTAssertEqual(requests("other", "other", "4xx"), 300)   // unscripted: 418
        XCTAssertEqual(requests("GET", "/v1/environments/{id}/work/poll", "transport_error"), 1)
        XCTAssertEqual(sample(metrics, #"cma_upstream_request_duration_seconds_count{upstream="anthropic",method="GET",endpoint="/v1/sessions/{id}"}"#), 300)
        let exposed = text(metrics)
        XCTAssertFalse(exposed.contains("sesn_"), "an id became a label value")
        XCTAssertFalse(exposed.contains("env_1"), "an id became a label value")
        // Only the one `other` series is new: every known route was made up front.
        XCTAssertEqual(seriesCount(metrics, "cma_upstream_requests_total"), seriesBefore + 1)
    }

    /// A sweep whose list fails counts as failed; a sweep over hundreds of idle sandboxes
    /// whose re-read fails counts as ok with one failed pause each, under bounded labels.
    func testJanitorSweepsAndPausesAreCountedWithoutSandboxIds() async {
        let metrics = OrchestratorMetrics()
        let transport = ScriptedTransport()
        let ids = (0..<300).map { "sbx_\($0)x\(UUID().uuidString.prefix(8))" }
        let list = "[" + ids.map { #"{"id":"\#($0)","status":"active","metadata":{"cma.session_id":"sesn_\#($0)"}}"# }
            .joined(separator: ",") + "]"
        transport.script("GET", "/prefix/sandboxes", [.status(503), .json(200, list)])
        let janitor = Janitor(client: superserve(transport, metrics), configuration: Janitor.Configuration(environmentID: "env_1"),
                              locks: SessionLocks(), activity: SandboxActivity(), logger: logger, observer: metrics)
        await janitor.sweep()
        XCTAssertEqual(metrics.tally("cma_janitor_sweeps_total", [("outcome", "failed")]), 1)
        XCTAssertEqual(metrics.tally("cma_janitor_sweeps_total", [("outcome", "ok")]), 0)

        let report = await janitor.sweep()
        XCTAssertEqual(report.errors.count, 300)
        XCTAssertEqual(metrics.tally("cma_janitor_sweeps_total", [("outcome", "ok")]), 1)
        XCTAssertEqual(metrics.tally("cma_janitor_pauses_total", [("trigger", "idle"), ("outcome", "failed")]), 300)
        metrics.janitorPause(.maxIdle, paused: true)
        XCTAssertEqual(metrics.tally("cma_janitor_pauses_total", [("trigger", "max_idle"), ("outcome", "paused")]), 1)
        XCTAssertEqual(metrics.tally("cma_upstream_requests_total",
                                     [("upstream", "superserve"), ("method", "GET"), ("endpoint", "/sandboxes/{id}"), ("status", "4xx")]), 300)
        let exposed = text(metrics)
        XCTAssertFalse(exposed.contains("sbx_") || exposed.contains("sesn_"), "an id became a label value")
        XCTAssertEqual(seriesCount(metrics, "cma_janitor_pauses_total"), 4)
        XCTAssertEqual(seriesCount(metrics, "cma_janitor_sweeps_total"), 2)
    }

    /// A drain over hundreds of healthcheck items force-stops each (stopped, already
    /// stopped, or a failed stop), and a fatal poll ends it: each counted by class only,
    /// and `cma_ready` drops with no `/readyz` request.
    func testForceStopsAndWorkQueueErrorsAreCountedByClassAndReadinessFollows() async throws {
        let metrics = OrchestratorMetrics()
        let transport = ScriptedTransport()
        let client = WorkClient(
            configuration: AnthropicAPIConfiguration(baseURL: Self.base, environmentID: "env_1", environmentKey: "sk-ant-TEST",
                                                     perCallAttempts: 1),
            transport: MeteredTransport(transport, upstream: .anthropic, baseURLs: [Self.base], metrics: metrics),
            sleeper: ManualSleeper(), random: { 0 })
        let work = "/prefix/v1/environments/env_1/work"
        let ids = (0..<200).map { "wrk_\($0)x\(UUID().uuidString.prefix(8))" }
        var polls: [ScriptedTransport.Answer] = []
        for (k, id) in ids.enumerated() {
            polls.append(.json(200, """
                {"type":"work","id":"\(id)","environment_id":"env_1","state":"queued","created_at":"2026-11-01T12:00:00Z",
                 "metadata":{},"secret":null,"data":{"type":"healthcheck","id":"sesn_\(id)"}}
                """))
            transport.script("POST", "\(work)/\(id)/ack", [.json(200, "{}")])
            transport.script("POST", "\(work)/\(id)/stop", [k % 4 == 0 ? .status(409) : k % 4 == 1 ? .status(400) : .json(200, "{}")])
        }
        transport.script("GET", "\(work)/poll", polls + [.json(401, #"{"type":"error","error":{"type":"authentication_error"}}"#)])

        let templates = ScriptedTransport()
        templates.script("GET", "/prefix/templates", [.json(200, #"[{"id":"tpl_1","name":"cma-runner","status":"ready"}]"#)])
        let check = TemplateCheck(client: superserve(templates, metrics), templateName: "cma-runner", logger: logger,
                                  observer: metrics)
        let stop = StopFlag()
        let drainer = Drainer(client: client, handler: ClosureWorkHandler { _ in .handedOff }, logger: logger,
                              sleeper: ManualSleeper(), observer: metrics)
        metrics.trackReadiness { WorkPipeline.notReadyReasons(templateCheck: check, stop: stop).isEmpty }
        metrics.trackQueueHealth { drainer.health }
        XCTAssertEqual(sample(metrics, "cma_ready"), 0, "template check not done yet")
        await check.check()
        XCTAssertEqual(sample(metrics, "cma_ready"), 1, "the template check passing alone makes the gauge 1")

        await drainer.drain()
        func stops(_ outcome: String) -> Int {
            metrics.tally("cma_work_force_stops_total", [("reason", "not_session"), ("outcome", outcome)])
        }
        // The 400s are not given up: they wait in the pending stops, retried with backoff (rule 37).
        XCTAssertEqual([stops("already_stopped"), stops("failed"), stops("stopped")], [50, 0, 100])
        XCTAssertEqual(drainer.pendingStops.count, 50)
        XCTAssertEqual(sample(metrics, "cma_work_pending_stops"), 50)
        XCTAssertEqual(metrics.tally("cma_work_queue_errors_total", [("call", "stop"), ("class", "fatal")]), 50)
        XCTAssertEqual(metrics.tally("cma_work_queue_errors_total", [("call", "poll"), ("class", "fatal")]), 1)
        XCTAssertNotNil(drainer.health.configurationError)
        // Readiness is "takes webhooks and work" (rule 47 as amended): a fatal poll answer
        // shows in its own gauge and on /status, never in cma_ready.
        XCTAssertEqual(sample(metrics, "cma_ready"), 1, "a fatal poll error leaves readiness alone")
        XCTAssertEqual(sample(metrics, "cma_work_queue_configuration_error"), 1)
        let exposed = text(metrics)
        XCTAssertFalse(exposed.contains("wrk_") || exposed.contains("sesn_"), "an id became a label value")
        XCTAssertEqual(seriesCount(metrics, "cma_work_force_stops_total"), ForceStopReason.allCases.count * 3)
        XCTAssertEqual(seriesCount(metrics, "cma_work_queue_errors_total"), 6)
    }

    /// Waiting for the Superserve bucket shows as a waiter while it lasts and as
    /// seconds once the token came; a token taken at once costs nothing.
    func testBucketWaitsAreCountedInSecondsAndWaitersWhileTheyWait() async throws {
        let metrics = OrchestratorMetrics()
        let clock = ManualSleeper()
        let bucket = TokenBucket(ratePerSecond: 2, burst: 1, sleeper: clock, observer: metrics)
        try await bucket.acquire()
        XCTAssertEqual(sample(metrics, "cma_superserve_bucket_waiters"), 0)
        let waiter = Task { try await bucket.acquire() }
        let parked = await clock.waitForSleepers(1)
        XCTAssertTrue(parked)
        XCTAssertEqual(sample(metrics, "cma_superserve_bucket_waiters"), 1)
        clock.advance(by: .milliseconds(500))
        try await waiter.value
        XCTAssertEqual(sample(metrics, "cma_superserve_bucket_waiters"), 0)
        XCTAssertEqual(sample(metrics, "cma_superserve_bucket_wait_seconds_total"), 0.5)
    }
}
