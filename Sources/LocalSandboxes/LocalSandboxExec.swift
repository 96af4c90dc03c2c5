import Glibc
import Foundation
import Synchronization

/// One exec request, already mapped to host paths.
public struct LocalExecRequest: Sendable {
    public var command: String
    public var workingDirectory: String
    /// The complete environment of `/bin/sh` (nothing is inherited from the emulator).
    public var environment: [String: String]
    public var timeout: Duration
    public var outputCap: Int
    public var drainGrace: Duration

    public init(command: String, workingDirectory: String, environment: [String: String], timeout: Duration,
                outputCap: Int, drainGrace: Duration) {
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.timeout = timeout
        self.outputCap = outputCap
        self.drainGrace = drainGrace
    }
}

public struct LocalExecResult: Sendable {
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var exitCode: Int32
    public var truncated: Bool
    public var timedOut: Bool
}

/// Runs `/bin/sh -c <command>` with the semantics of superserve.md §8.2: its own
/// process group, stdin `/dev/null`, the answer only once both stdout and stderr
/// reach EOF, SIGKILL to the whole group and exit 124 on timeout, 128+n on death by
/// signal n, output capped with `truncated`. The wait runs on a dedicated thread,
/// never on a server connection queue or the cooperative pool.
public enum LocalSandboxExec {
    /// Output callback for the streaming form: `(isStdout, bytes)`, called on the
    /// exec thread in arrival order, only for bytes kept under the cap.
    public typealias OutputHandler = @Sendable (Bool, [UInt8]) -> Void

    /// Cancelling the calling task (the server cancels handler tasks of connections
    /// it closes, e.g. on shutdown) kills the command's process group, as a client
    /// disconnect does on the real data plane (§8.2).
    public static func run(_ request: LocalExecRequest, onOutput: OutputHandler? = nil) async throws -> LocalExecResult {
        let group = ProcessGroupHandle()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let thread = Thread {
                    continuation.resume(with: Result { try runBlocking(request, group: group, onOutput: onOutput) })
                }
                thread.name = "superserve-exec"
                thread.start()
            }
        } onCancel: {
            group.cancel()
        }
    }

    /// The spawned group's id, shared between the exec thread and a cancellation.
    final class ProcessGroupHandle: Sendable {
        private let state = Mutex<(pgid: pid_t?, cancelled: Bool)>((nil, false))

        func cancel() {
            let pgid = state.withLock { s -> pid_t? in s.cancelled = true; return s.pgid }
            if let pgid { kill(-pgid, SIGKILL) }
        }

        /// Records the group; kills it at once when the request was already cancelled.
        func started(_ pgid: pid_t) {
            let cancelled = state.withLock { s -> Bool in s.pgid = pgid; return s.cancelled }
            if cancelled { kill(-pgid, SIGKILL) }
        }
    }

    static func runBlocking(_ request: LocalExecRequest, group: ProcessGroupHandle = ProcessGroupHandle(),
                            onOutput: OutputHandler? = nil) throws -> LocalExecResult {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        // Close-on-exec so that no other child inherits them (the spawn's dup2
        // gives the command its own copies without the flag).
        guard pipe(&outPipe) == 0 else { throw LocalExecError.pipeFailed(errno: errno) }
        guard pipe(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw LocalExecError.pipeFailed(errno: errno)
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let pid: pid_t
        do {
            pid = try spawn(request, stdout: outPipe[1], stderr: errPipe[1])
        } catch {
            for fd in outPipe + errPipe { close(fd) }
            throw error
        }
        close(outPipe[1]); close(errPipe[1])
        group.started(pid)
        return collect(pid: pid, stdout: outPipe[0], stderr: errPipe[0], request: request, onOutput: onOutput)
    }

    // MARK: spawning

    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc's `_np` file actions are declared under `__USE_GNU`, which the Swift
    /// Glibc module does not enable; look them up at run time (glibc ≥ 2.34 has both).
    private static func glibcSymbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }

    private static func spawn(_ request: LocalExecRequest, stdout: Int32, stderr: Int32) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (pgid = pid) so that a timeout kills the command and its
        // children at once; default signal dispositions and an empty mask, whatever
        // the server process ignores (SIGPIPE) or blocks.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // The server's sockets must not leak into sandbox processes (a detached
        // runner would keep them open); close everything above stderr.
        if let closeFrom = glibcSymbol("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self) {
            _ = closeFrom(&actions, 3)
        }
        if let chdir = glibcSymbol("posix_spawn_file_actions_addchdir_np", as: AddChdir.self) {
            _ = request.workingDirectory.withCString { chdir(&actions, $0) }
        }

        let argv = ["/bin/sh", "-c", request.command]
        let envp = request.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cArgv in
            withCStrings(envp) { cEnvp in
                posix_spawn(&pid, "/bin/sh", &actions, &attributes, cArgv, cEnvp)
            }
        }
        guard rc == 0 else { throw LocalExecError.spawnFailed(code: rc) }
        return pid
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    // MARK: collecting

    private static func collect(pid: pid_t, stdout: Int32, stderr: Int32, request: LocalExecRequest,
                                onOutput: OutputHandler?) -> LocalExecResult {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: request.timeout)
        var graceDeadline: ContinuousClock.Instant?
        var result = LocalExecResult(stdout: [], stderr: [], exitCode: 0, truncated: false, timedOut: false)
        var kept = 0
        var open: [Int32] = [stdout, stderr]
        var buffer = [UInt8](repeating: 0, count: 65536)

        func killGroup() {
            kill(-pid, SIGKILL)
            result.timedOut = true
            graceDeadline = clock.now.advanced(by: request.drainGrace)
        }

        while !open.isEmpty {
            let limit = graceDeadline ?? deadline
            let remaining = clock.now.duration(to: limit)
            if remaining <= .zero {
                if graceDeadline == nil { killGroup(); continue }
                break   // a process outside the group still holds a pipe: stop waiting
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ms = Int32(min(max(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000, 1), 60_000))
            let ready = poll(&fds, nfds_t(fds.count), ms)
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 { continue }
            for entry in fds where entry.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 {
                    close(entry.fd)
                    open.removeAll { $0 == entry.fd }
                    continue
                }
                // §8.2: keep a prefix of at most `outputCap` bytes of stdout+stderr,
                // keep draining so the command is not blocked on a full pipe.
                let room = max(0, request.outputCap - kept)
                let take = min(room, n)
                if take < n { result.truncated = true }
                if take > 0 {
                    if entry.fd == stdout { result.stdout.append(contentsOf: buffer[0..<take]) }
                    else { result.stderr.append(contentsOf: buffer[0..<take]) }
                    kept += take
                    onOutput?(entry.fd == stdout, Array(buffer[0..<take]))
                }
            }
        }
        for fd in open { close(fd) }

        // Both pipes are closed; the shell may still run (it closed its outputs).
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { status = 0; break }
            if graceDeadline == nil && clock.now >= deadline { killGroup() }
            if graceDeadline != nil {
                // SIGKILL was sent: the shell dies promptly; wait for it.
                _ = waitpid(pid, &status, 0)
                break
            }
            usleep(5_000)
        }
        if result.timedOut {
            result.exitCode = 124
        } else if status & 0x7f == 0 {
            result.exitCode = (status >> 8) & 0xff
        } else {
            result.exitCode = 128 + (status & 0x7f)
        }
        if result.truncated {
            let line = Array("[superserve] output truncated\n".utf8)
            let separator: [UInt8] = result.stderr.isEmpty || result.stderr.last == 0x0A ? [] : [0x0A]
            result.stderr.append(contentsOf: separator + line)
            onOutput?(false, separator + line)
        }
        return result
    }
}
