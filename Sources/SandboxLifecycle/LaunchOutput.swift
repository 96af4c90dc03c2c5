import Foundation

/// The one JSON line launch.sh prints: `{"pid":N}` or `{"pid":N,"already_running":true}`
/// (rules 29–31), with `"unpacked":true` when the exec had to unpack the bundle it
/// carried (`RunnerVersions` learns from it). The last line that parses wins, so stray
/// output before it is harmless.
public struct LaunchOutput: Sendable, Equatable {
    public var pid: Int
    public var alreadyRunning: Bool
    public var unpacked: Bool = false

    public init(pid: Int, alreadyRunning: Bool, unpacked: Bool = false) {
        self.pid = pid
        self.alreadyRunning = alreadyRunning
        self.unpacked = unpacked
    }

    private struct Wire: Decodable {
        var pid: Int
        var already_running: Bool?
        var unpacked: Bool?
    }

    public static func parse(_ stdout: String) -> LaunchOutput? {
        for line in stdout.split(whereSeparator: \.isNewline).reversed() {
            // JSONDecoder refuses strings, booleans and fractions for an Int.
            guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(line.utf8)), wire.pid > 0 else { continue }
            return LaunchOutput(pid: wire.pid, alreadyRunning: wire.already_running ?? false, unpacked: wire.unpacked ?? false)
        }
        return nil
    }
}

/// What probe.sh prints (rule 30): `{"state":…,"pid":N|null,"exit_code":N|null}`.
public struct ProbeResult: Sendable, Equatable {
    public enum State: String, Sendable { case running, exited, dead, noPidfile = "no_pidfile" }
    public var state: State
    public var pid: Int?
    public var exitCode: Int?

    public init(state: State, pid: Int?, exitCode: Int?) {
        self.state = state
        self.pid = pid
        self.exitCode = exitCode
    }

    /// Rule 30: success is `running`, or `exited` with code 0.
    public var isHealthy: Bool {
        state == .running || (state == .exited && exitCode == 0)
    }

    private struct Wire: Decodable {
        var state: String
        var pid: Int?
        var exit_code: Int?
    }

    public static func parse(_ stdout: String) -> ProbeResult? {
        for line in stdout.split(whereSeparator: \.isNewline).reversed() {
            guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(line.utf8)),
                  let state = State(rawValue: wire.state) else { continue }
            return ProbeResult(state: state, pid: wire.pid, exitCode: wire.exit_code)
        }
        return nil
    }
}
