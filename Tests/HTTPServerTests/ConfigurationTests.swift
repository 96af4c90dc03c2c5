import HTTPServer
import XCTest

final class ConfigurationTests: XCTestCase {
    func testOutOfRangeSettingsFailStartNamingTheSetting() {
        let cases: [(String, (inout HTTPServerConfiguration) -> Void)] = [
            ("headerReadTimeout", { $0.headerReadTimeout = .zero }),
            ("idleTimeout", { $0.idleTimeout = .seconds(-1) }),
            ("maxConnections", { $0.maxConnections = 0 }),
            ("port", { $0.port = 70000 }),
        ]
        for (name, change) in cases {
            var config = HTTPServerConfiguration()
            config.port = 0
            change(&config)
            let s = HTTPServer(configuration: config, router: Router(), logger: .init(label: "t"))
            XCTAssertThrowsError(try s.start(), name) { error in
                guard case .invalidConfiguration(let why) = error as? HTTPServerError else { return XCTFail("\(error)") }
                XCTAssertTrue(why.hasPrefix(name), why)
            }
        }
    }
}
