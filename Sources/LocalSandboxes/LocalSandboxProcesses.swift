import Glibc
import Foundation

/// Finds and signals a sandbox's processes (superserve.md §10.8). Every exec'd
/// process carries `CMA_EMULATOR_SANDBOX=<id>` in its environment; descendants
/// inherit it, including ones that left the exec's process group with `setsid`, so
/// scanning `/proc/*/environ` (Linux) finds them all. A process that rebuilds its
/// environment from scratch (`env -i`) escapes the scan; the runner does not.
public enum LocalSandboxProcesses {
    public static let markerName = "CMA_EMULATOR_SANDBOX"
    /// Scan rounds per signal: a round that finds no new process ends the loop, and
    /// this bounds it while processes keep forking.
    static let maxRounds = 50

    /// Live (non-zombie) processes tagged with `sandboxID`.
    public static func pids(sandboxID: String) -> [pid_t] {
        let marker = Array("\(markerName)=\(sandboxID)".utf8)
        let own = getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != own else { continue }
            guard let environ = readProcFile("/proc/\(pid)/environ"), !environ.isEmpty else { continue }
            if environ.split(separator: 0, omittingEmptySubsequences: true).contains(where: { $0.elementsEqual(marker) }) {
                if state(of: pid) != "Z" { found.append(pid) }
            }
        }
        return found
    }

    /// Sends `signal` to every tagged process, rescanning until a round finds no
    /// process it has not signalled yet (children forked meanwhile get it too).
    /// SIGKILL rounds continue until no tagged process is left. Returns the number
    /// of distinct processes signalled.
    @discardableResult
    public static func signalAll(sandboxID: String, signal: Int32) -> Int {
        var signalled = Set<pid_t>()
        for _ in 0..<maxRounds {
            let current = pids(sandboxID: sandboxID)
            let fresh = current.filter { !signalled.contains($0) }
            if signal == SIGKILL {
                if current.isEmpty { break }
                for pid in current { kill(pid, SIGKILL) }
                signalled.formUnion(current)
                if fresh.isEmpty { usleep(2_000) }   // give the kernel a moment to tear them down
            } else {
                if fresh.isEmpty { break }
                for pid in fresh { kill(pid, signal) }
                signalled.formUnion(fresh)
            }
        }
        if signal == SIGSTOP { awaitStopped(signalled) }
        return signalled.count
    }

    /// Bound on waiting for SIGSTOP to take effect.
    static let stopSettleLimit: Duration = .seconds(1)

    /// SIGSTOP is delivered asynchronously; a pause answers 204 only once every
    /// process is really stopped (state `T`), or gone.
    private static func awaitStopped(_ pids: Set<pid_t>) {
        let deadline = ContinuousClock.now.advanced(by: stopSettleLimit)
        var pending = pids
        while !pending.isEmpty && ContinuousClock.now < deadline {
            pending = pending.filter { pid in
                guard let state = state(of: pid) else { return false }
                return state != "T" && state != "t" && state != "Z" && state != "X"
            }
            if !pending.isEmpty { usleep(1_000) }
        }
    }

    /// The state letter of `/proc/<pid>/stat` (`R`, `S`, `T`, `Z`, …), nil when the
    /// process is gone.
    public static func state(of pid: pid_t) -> Character? {
        guard let stat = readProcFile("/proc/\(pid)/stat") else { return nil }
        // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows
        // the last ')'.
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count else { return nil }
        return Character(Unicode.Scalar(stat[close + 2]))
    }

    static func readProcFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return out.isEmpty ? nil : out }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
        }
    }
}
