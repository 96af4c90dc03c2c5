import Foundation

/// Where and how the Superserve client talks (rules 21, 35, 46). Suggested
/// environment variables are named per field.
public struct SuperserveConfiguration: Sendable {
    /// `SUPERSERVE_BASE_URL`: control plane, default `https://api.superserve.ai`.
    public var controlPlaneURL: URL
    /// `SUPERSERVE_DATA_PLANE_URL`: data plane, default `https://sandbox.superserve.ai`
    /// (rule 46: the SDKs cannot redirect it, this client must).
    public var dataPlaneURL: URL
    /// `SUPERSERVE_API_KEY`: sent as `X-API-Key` on the control plane only. Never logged.
    public var apiKey: String
    /// `CMA_SUPERSERVE_TIMEOUT_SECONDS`: deadline of ordinary calls (GET, PATCH, DELETE, file writes).
    public var requestTimeout: Duration = .seconds(30)
    /// Rule 21: create, activate, resume and pause get at least 75 s.
    public var lifecycleTimeout: Duration = .seconds(75)
    /// Rule 35: `CMA_SUPERSERVE_RATE` / `CMA_SUPERSERVE_BURST` / `CMA_SUPERSERVE_MAX_IN_FLIGHT`.
    /// The rate is the starting one, kept until Superserve reports its limit.
    public var ratePerSecond = 15.0
    public var burst = 20
    /// `CMA_SUPERSERVE_RATE_SHARE`: part of the team limit Superserve reports
    /// (`RateLimit-Limit`) that this process uses; the rest is left to the team's
    /// other clients (`TokenBucket`).
    public var rateShare = 0.9
    public var maxInFlight = 8
    /// Pause of the shared bucket after a 429 without `Retry-After`.
    public var defaultRateLimitPause: Duration = .seconds(1)
    /// Rule 47: template builds are polled every 2 s, for at most this long.
    public var buildPollInterval: Duration = .seconds(2)
    public var buildTimeout: Duration = .seconds(1800)
    public var userAgent = "cma-orchestrator"

    public static let defaultControlPlaneURL = URL(string: "https://api.superserve.ai")!
    public static let defaultDataPlaneURL = URL(string: "https://sandbox.superserve.ai")!

    /// superserve.md §1: the SDKs derive the data-plane host from the control-plane
    /// host (`api` → `sandbox`, `api-usw` → `usw-sandbox`, `api-staging` →
    /// `staging-sandbox`) and fall back to `sandbox.superserve.ai` for any other host.
    /// The default follows the same rule, so tokens go where the control plane's cell is.
    public static func derivedDataPlaneURL(controlPlane: URL) -> URL {
        let cells = ["api.superserve.ai": "sandbox.superserve.ai",
                     "api-usw.superserve.ai": "usw-sandbox.superserve.ai",
                     "api-staging.superserve.ai": "staging-sandbox.superserve.ai"]
        guard let host = controlPlane.host?.lowercased(), let sandbox = cells[host] else { return defaultDataPlaneURL }
        return URL(string: "https://" + sandbox)!
    }

    public init(controlPlaneURL: URL = SuperserveConfiguration.defaultControlPlaneURL,
                dataPlaneURL: URL = SuperserveConfiguration.defaultDataPlaneURL,
                apiKey: String) {
        self.controlPlaneURL = controlPlaneURL
        self.dataPlaneURL = dataPlaneURL
        self.apiKey = apiKey
    }
}
