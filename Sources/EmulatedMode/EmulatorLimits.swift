import Foundation
import Logging
import SuperserveEmulator

/// The Superserve emulator's team limits as the operator sets them (superserve.md §7):
/// by default the service code's 20 req/s with a burst of 40 and 50 active
/// sandboxes, so that what runs on the emulators meets the limits it meets in
/// production. Load tests raise or lift them, and say so (`emulator.limits` is
/// logged at start).
public struct EmulatorLimits: Sendable, Equatable {
    /// Team requests per second; nil keeps the default.
    public var rate: Double?
    /// Team burst; nil keeps the default.
    public var burst: Int?
    /// Active sandboxes per team; nil keeps the default, 0 lifts the quota.
    public var maxActive: Int?
    /// Lifts the rate limit and the quota at once (load tests of the orchestrator alone).
    public var unlimited = false

    public init(rate: Double? = nil, burst: Int? = nil, maxActive: Int? = nil, unlimited: Bool = false) {
        self.rate = rate
        self.burst = burst
        self.maxActive = maxActive
        self.unlimited = unlimited
    }

    public enum Problem: Error, CustomStringConvertible, Equatable {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let text): text }
        }
    }

    /// Reads `CMA_EMULATOR_RATE`, `CMA_EMULATOR_BURST`, `CMA_EMULATOR_MAX_ACTIVE`
    /// and `CMA_EMULATOR_UNLIMITED` (`serve --emulated`, and defaults for `emulate superserve`).
    public static func from(environment env: [String: String]) throws(Problem) -> EmulatorLimits {
        var limits = EmulatorLimits()
        if let raw = env["CMA_EMULATOR_RATE"] { limits.rate = try rate(raw, name: "CMA_EMULATOR_RATE") }
        if let raw = env["CMA_EMULATOR_BURST"] { limits.burst = try count(raw, name: "CMA_EMULATOR_BURST", least: 1) }
        if let raw = env["CMA_EMULATOR_MAX_ACTIVE"] { limits.maxActive = try count(raw, name: "CMA_EMULATOR_MAX_ACTIVE", least: 0) }
        if let raw = env["CMA_EMULATOR_UNLIMITED"] {
            switch raw.lowercased() {
            case "1", "true", "yes": limits.unlimited = true
            case "0", "false", "no", "": limits.unlimited = false
            default: throw .invalid("CMA_EMULATOR_UNLIMITED must be true or false")
            }
        }
        return limits
    }

    public static func rate(_ raw: String, name: String) throws(Problem) -> Double {
        guard let value = Double(raw), value.isFinite, value > 0, value <= 1_000_000 else {
            throw .invalid("\(name) must be a number of requests per second above 0")
        }
        return value
    }

    public static func count(_ raw: String, name: String, least: Int) throws(Problem) -> Int {
        guard let value = Int(raw), value >= least, value <= 10_000_000 else {
            throw .invalid("\(name) must be an integer ≥ \(least)")
        }
        return value
    }

    /// Flags win over the environment, field by field.
    public func overridden(by flags: EmulatorLimits) -> EmulatorLimits {
        EmulatorLimits(rate: flags.rate ?? rate, burst: flags.burst ?? burst, maxActive: flags.maxActive ?? maxActive,
                       unlimited: flags.unlimited || unlimited)
    }

    public func apply(to configuration: inout SuperserveEmulatorConfiguration) {
        if unlimited {
            configuration.teamRateLimit = nil
            configuration.maxActiveSandboxes = nil
            return
        }
        let base = configuration.teamRateLimit ?? SuperserveEmulatorConfiguration.serviceRateLimit
        configuration.teamRateLimit = SuperserveRateLimit(requestsPerSecond: rate ?? base.requestsPerSecond,
                                                          burst: burst ?? base.burst)
        if let maxActive { configuration.maxActiveSandboxes = maxActive == 0 ? nil : maxActive }
    }

    func metadata(_ configuration: SuperserveEmulatorConfiguration) -> Logger.Metadata {
        [
            "limits.rate": "\(configuration.teamRateLimit.map { String($0.requestsPerSecond) } ?? "unlimited")",
            "limits.burst": "\(configuration.teamRateLimit.map { String($0.burst) } ?? "unlimited")",
            "limits.max_active": "\(configuration.maxActiveSandboxes.map(String.init) ?? "unlimited")",
        ]
    }
}
