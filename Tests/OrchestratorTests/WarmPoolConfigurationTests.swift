import Foundation
import Orchestrator
import XCTest

/// The warm pool's settings: `CMA_WARM_POOL`, `CMA_WARM_POOL_MAX_AGE_SECONDS`,
/// `CMA_WARM_POOL_INTERVAL_SECONDS`, and a file's `warm_pool` over them.
final class WarmPoolConfigurationTests: XCTestCase {
    func load(_ extra: [String: String]) throws(Configuration.Error) -> Configuration {
        try Configuration.load(mode: .webhook, environment: ConfigurationTests.valid.merging(extra) { _, new in new },
                               overrides: CommandLineOverrides(), workingDirectory: Harness.packageRoot)
    }

    func testThePoolIsOffByDefaultAndTheVariablesSetIt() throws {
        let defaults = try load([:])
        XCTAssertEqual(defaults.warmPoolSize, 0)
        XCTAssertEqual(defaults.warmPoolMaxAge, .seconds(3600))
        XCTAssertEqual(defaults.warmPoolInterval, .seconds(10))
        let set = try load(["CMA_WARM_POOL": "4", "CMA_WARM_POOL_MAX_AGE_SECONDS": "900", "CMA_WARM_POOL_INTERVAL_SECONDS": "2.5"])
        XCTAssertEqual(set.warmPoolSize, 4)
        XCTAssertEqual(set.warmPoolMaxAge, .seconds(900))
        XCTAssertEqual(set.warmPoolInterval, .milliseconds(2500))
    }

    func testOutOfRangeValuesNameTheVariable() {
        for (name, value) in [("CMA_WARM_POOL", "101"), ("CMA_WARM_POOL", "-1"), ("CMA_WARM_POOL_MAX_AGE_SECONDS", "59"),
                              ("CMA_WARM_POOL_INTERVAL_SECONDS", "0")] {
            do throws(Configuration.Error) {
                _ = try load([name: value])
                XCTFail("\(name)=\(value) was accepted")
            } catch {
                XCTAssertEqual(error.variable, name)
            }
        }
    }

    /// The file's `warm_pool` wins over the variables (the documented precedence).
    func testTheFilesWarmPoolWinsOverTheVariables() throws {
        let text = """
            superserve:
              api_key: {env: SS_KEY}
            environments:
              - id: env_pooled
                key: {env: ENV_KEY}
                warm_pool: {size: 3, max_age_seconds: 600}
            """
        let file = try ConfigFile.parse(text, path: "pool.yaml", environment: ConfigFileTests.secrets,
                                        directory: FileManager.default.temporaryDirectory)
        var env = ConfigFileTests.secrets
        env["CMA_WARM_POOL"] = "9"
        env["CMA_WARM_POOL_MAX_AGE_SECONDS"] = "7200"
        let (c, _) = try Configuration.load(mode: .poll, file: file, environmentID: nil, environment: env,
                                            overrides: CommandLineOverrides(port: 0), workingDirectory: Harness.packageRoot)
        XCTAssertEqual(c.warmPoolSize, 3)
        XCTAssertEqual(c.warmPoolMaxAge, .seconds(600))
    }
}
