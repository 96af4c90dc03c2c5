import APIClient
import Foundation

/// Wraps the transport handed to one upstream's client and counts each call by
/// route pattern and status class, with its duration (`cma_upstream_*`). Retries
/// and the Superserve token bucket sit above the transport, so each attempt is
/// counted once and bucket waits are not part of the duration.
struct MeteredTransport: HTTPTransport {
    let base: any HTTPTransport
    let upstream: UpstreamRoute.Upstream
    let basePaths: [String]
    let metrics: OrchestratorMetrics

    init(_ base: any HTTPTransport, upstream: UpstreamRoute.Upstream, baseURLs: [URL], metrics: OrchestratorMetrics) {
        self.base = base
        self.upstream = upstream
        self.basePaths = baseURLs.map(\.path)
        self.metrics = metrics
    }

    func send(_ request: OutboundRequest) async throws -> InboundResponse {
        let route = UpstreamRoute.classify(upstream, method: request.method,
                                           path: request.url.path(percentEncoded: true), basePaths: basePaths)
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let response = try await base.send(request)
            metrics.upstreamCall(route, status: UpstreamRoute.statusClass(response.status), duration: clock.now - start)
            return response
        } catch {
            metrics.upstreamCall(route, status: "transport_error", duration: clock.now - start)
            throw error
        }
    }
}
