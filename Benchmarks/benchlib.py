"""Shared helpers of the benchmark drivers (standard library only).

Child processes, /proc readings, wrk runs and result files. Every wait has a deadline
and fails with a message naming what it waited for; every child's output goes to
Benchmarks/results/<name>.log, whose tail is printed when something fails.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Server on the first usable CPU, load generator on the second, so that neither steals
# the other's core; read before this process pins itself.
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU = _CPUS[0]
LOAD_CPU = _CPUS[1] if len(_CPUS) > 1 else None


class BenchError(Exception):
    """A benchmark step that cannot go on; the message says which and why."""


# What a driver reports as a failed run (with the children's log tails) rather than a
# traceback: its own errors, transport errors (URLError is an OSError), bad JSON.
FAILURES = (BenchError, OSError, ValueError)


def log(message):
    print(message, file=sys.stderr, flush=True)


def install_signal_handlers():
    """SIGTERM unwinds like Ctrl-C, so that `finally` blocks stop the children."""
    def on_term(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)


def pin_self_to_load_cpu():
    """The Python side generates load too (cold start, idle connections)."""
    if LOAD_CPU is not None:
        os.sched_setaffinity(0, {LOAD_CPU})


def taskset(cpu):
    """Command prefix pinning a child to `cpu`; empty when pinning is impossible."""
    if cpu is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def raise_fd_limit(wanted):
    """Soft RLIMIT_NOFILE up to `wanted` (children inherit it); returns the new soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port():
    """A port the kernel just handed out for port 0. Another process could take it
    before the child binds it; the child then fails fast and the run says so."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def results_path(name):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    return os.path.join(RESULTS_DIR, name)


def write_results(name, data):
    path = results_path(name + ".json")
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    log(f"results written to {os.path.relpath(path, REPO_ROOT)}")


def host_info():
    return {
        "cpus_usable": len(_CPUS),
        "server_cpu": SERVER_CPU,
        "load_cpu": LOAD_CPU,
        "kernel": os.uname().release,
        "machine": os.uname().machine,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_driver():
    """Runs in the child before exec: if the driver itself is killed (kill -9) and its
    cleanup never runs, the kernel still ends the child."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# Inherited variables with these prefixes never reach a child: a benchmark must not
# pick up the operator's real credentials or settings, and runs stay reproducible.
SCRUBBED_PREFIXES = ("ANTHROPIC_", "SUPERSERVE_", "CMA_")


class Child:
    """A child process in its own process group, output appended to a log file."""

    def __init__(self, name, argv, env=None, cwd=None, cpu=None, log_name=None, port=None, stop_grace=15.0):
        self.name = name
        self.port = port
        self.stop_grace = stop_grace
        self.log_path = results_path(log_name or f"{name}.log")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
        full_env.update(env or {})
        self._log = open(self.log_path, "ab")
        self._log.write(f"=== {time.strftime('%H:%M:%S')} {' '.join(redacted(argv))}\n".encode())
        self._log.flush()
        self.started = time.perf_counter()
        # taskset execs the command in place, so the pid is the server's own.
        self.proc = subprocess.Popen(taskset(cpu) + argv, env=full_env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_driver)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            raise BenchError(f"{self.name} exited with status {self.proc.returncode} (log: {self.log_path})")

    def stop(self, grace=None):
        """SIGTERM, then SIGKILL to the whole group after `grace` seconds."""
        grace = self.stop_grace if grace is None else grace
        if self.alive():
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {grace:.0f} s; killing its process group")
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self._log.close()

    def tail(self, lines=30):
        return tail(self.log_path, lines)


# Flags whose value is a credential: shown as *** in the logs' command lines.
SECRET_FLAGS = {"--signing-key", "--api-key", "--environment-key"}


def redacted(argv):
    return ["***" if i > 0 and argv[i - 1] in SECRET_FLAGS else a for i, a in enumerate(argv)]


def reset_logs(prefix):
    """Removes the logs of an earlier run, so that failure tails show this run only."""
    if os.path.isdir(RESULTS_DIR):
        for name in os.listdir(RESULTS_DIR):
            if name.startswith(prefix + "-") and name.endswith(".log"):
                os.remove(os.path.join(RESULTS_DIR, name))


def tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError as e:
        return f"(cannot read {path}: {e})"


def print_tails(children):
    for child in children:
        if child is not None:
            log(f"--- last lines of {os.path.relpath(child.log_path, REPO_ROOT)} ---\n{child.tail()}")


def failed(error, children):
    """Logs a run's failure with its children's last log lines; the driver's exit status."""
    log(f"error: {error}")
    print_tails(children)
    return 1


def stop_all(children):
    """Stops children in reverse start order; one failure does not skip the rest."""
    for child in reversed([c for c in children if c is not None]):
        try:
            child.stop()
        except Exception as e:  # noqa: BLE001 - cleanup must reach every child
            log(f"stopping {child.name}: {e}")


# /proc readings -------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # Fields after "pid (comm)": comm may contain spaces, so split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid, field):
    """VmRSS, VmHWM, … from /proc/<pid>/status, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {field}")


def pss_kib(pid):
    """Proportional set size from /proc/<pid>/smaps_rollup, in KiB: private pages in
    full plus this process's share of the pages it shares (code in the page cache)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/smaps_rollup has no Pss")


# HTTP -----------------------------------------------------------------------

def http(method, url, body=None, headers=None, timeout=5.0):
    """(status, body bytes) of one request; HTTP errors are answers, not exceptions."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None and "Content-Type" not in request.headers:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for_status(url, children, timeout, what, expect=200):
    """Polls `url` until it answers `expect`; fails early when a child exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        for child in children:
            child.check_alive()
        try:
            status, body = http("GET", url, timeout=2.0)
            if status == expect:
                return body
            last = f"HTTP {status}: {body[:200].decode(errors='replace')}"
        except (OSError, urllib.error.URLError) as e:
            last = str(e)
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what} ({url}); last: {last}")
        time.sleep(0.05)


def read_response(sock):
    """Reads one HTTP/1.1 response with a Content-Length body (or up to EOF);
    returns the status code."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            raise BenchError("connection closed before the response head")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        while sock.recv(4096):
            pass
    else:
        while len(rest) < length:
            chunk = sock.recv(4096)
            if not chunk:
                raise BenchError("connection closed inside the response body")
            rest += chunk
    return status


# wrk ------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        raise BenchError(f"cannot read wrk duration {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(output):
    """Requests/s, total requests, p50/p99 (ms) and error counts from `wrk --latency`."""
    result = {"rps": None, "requests": None, "p50_ms": None, "p99_ms": None, "non_2xx": 0, "socket_errors": 0}
    for line in output.splitlines():
        line = line.strip()
        if m := re.match(r"Requests/sec:\s+([0-9.]+)", line):
            result["rps"] = float(m.group(1))
        elif m := re.match(r"(\d+) requests in ", line):
            result["requests"] = int(m.group(1))
        elif m := re.match(r"(50|99)(?:\.0+)?%\s+(\S+)$", line):
            result[f"p{m.group(1)}_ms"] = _duration_ms(m.group(2))
        elif m := re.match(r"Non-2xx or 3xx responses:\s+(\d+)", line):
            result["non_2xx"] = int(m.group(1))
        elif m := re.match(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", line):
            result["socket_errors"] = sum(int(g) for g in m.groups())
    if result["rps"] is None or result["requests"] is None or result["p99_ms"] is None:
        raise BenchError("unexpected wrk output:\n" + output)
    return result


def run_wrk(url, connections, duration, headers=(), script=None, server=None):
    """One `wrk -t1` run pinned to the load CPU. With `server` (a Child), also the
    server's CPU time per request over the run."""
    argv = taskset(LOAD_CPU) + ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        argv += ["-H", header]
    if script:
        argv += ["-s", script]
    argv.append(url)
    before = cpu_seconds(server.pid) if server else None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {duration + 60} s: {' '.join(argv)}") from None
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    result = parse_wrk(done.stdout)
    if server:
        server.check_alive()
        spent = cpu_seconds(server.pid) - before
        result["server_cpu_s"] = spent
        result["cpu_us_per_req"] = spent * 1e6 / result["requests"] if result["requests"] else None
    return result


# Output ---------------------------------------------------------------------

def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(ours, baseline):
    if ours is None or baseline in (None, 0):
        return None
    return ours / baseline


def print_table(headers, rows):
    widths = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    sys.stdout.flush()


def percentile(samples, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


# The orchestrator against both emulators --------------------------------------

ENVIRONMENT_ID = "env_bench"
ENVIRONMENT_KEY = "sk-ant-oat01-bench"
SUPERSERVE_KEY = "ss_bench"


def new_signing_key():
    """A Standard Webhooks key, `whsec_` + base64 of 32 random bytes."""
    import base64
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Stack:
    """`cma-orchestrator serve` wired to the Anthropic and Superserve emulators, each
    its own process on a free loopback port. The orchestrator runs on the server CPU;
    the emulators count as load generators and share the load CPU."""

    def __init__(self, binary, prefix, sandboxes, serve_env=None, deliver_webhooks=False):
        self.binary = binary
        self.prefix = prefix
        self.sandboxes = sandboxes
        self.serve_env = dict(serve_env or {})
        self.deliver_webhooks = deliver_webhooks
        self.signing_key = new_signing_key()
        self.anthropic_port, self.superserve_port, self.serve_port = free_port(), free_port(), free_port()
        self.anthropic_url = f"http://127.0.0.1:{self.anthropic_port}"
        self.superserve_url = f"http://127.0.0.1:{self.superserve_port}"
        self.serve_url = f"http://127.0.0.1:{self.serve_port}"
        self.superserve = self.anthropic = self.serve = None

    @property
    def children(self):
        return [c for c in (self.superserve, self.anthropic, self.serve) if c is not None]

    def start(self, timeout=60.0):
        self.start_emulators(timeout)
        self.serve = self.serve_child(self.serve_port)
        # /readyz turns 200 once the template check passed (rule 47).
        wait_for_status(f"{self.serve_url}/readyz", self.children, timeout, "the orchestrator's /readyz")

    def start_emulators(self, timeout=60.0):
        quiet = {"CMA_LOG_LEVEL": "error"}
        os.makedirs(self.sandboxes, exist_ok=True)
        self.superserve = Child(
            "superserve-emulator",
            [self.binary, "emulate", "superserve", "--port", str(self.superserve_port),
             "--api-key", SUPERSERVE_KEY, "--sandboxes", self.sandboxes],
            env=quiet, cwd=REPO_ROOT, cpu=LOAD_CPU, log_name=f"{self.prefix}-superserve-emulator.log",
            port=self.superserve_port,
            # Its shutdown kills every sandbox's processes, one /proc scan per sandbox.
            stop_grace=120.0)
        wait_for_status(f"{self.superserve_url}/_emulator/superserve/calls", self.children, timeout,
                        "the Superserve emulator")

        argv = [self.binary, "emulate", "anthropic", "--port", str(self.anthropic_port),
                "--environment-id", ENVIRONMENT_ID, "--environment-key", ENVIRONMENT_KEY,
                "--signing-key", self.signing_key]
        if self.deliver_webhooks:
            argv += ["--webhook-url", f"{self.serve_url}/webhooks"]
        self.anthropic = Child("anthropic-emulator", argv, env=quiet, cwd=REPO_ROOT, cpu=LOAD_CPU,
                               log_name=f"{self.prefix}-anthropic-emulator.log", port=self.anthropic_port)
        wait_for_status(f"{self.anthropic_url}/_emulator/sessions", self.children, timeout, "the Anthropic emulator")

    def serve_child(self, port, extra_env=None, wrapper=(), binary=None):
        """`cma-orchestrator serve` on `port`, configured against the emulators as a
        deployment is against the real services; started, not waited for. `wrapper`
        is a command that runs it (a profiler), `binary` another build of it."""
        env = {
            "ANTHROPIC_BASE_URL": self.anthropic_url,
            "ANTHROPIC_ENVIRONMENT_ID": ENVIRONMENT_ID,
            "ANTHROPIC_ENVIRONMENT_KEY": ENVIRONMENT_KEY,
            "ANTHROPIC_WEBHOOK_SIGNING_KEY": self.signing_key,
            "SUPERSERVE_API_KEY": SUPERSERVE_KEY,
            "SUPERSERVE_BASE_URL": self.superserve_url,
            "SUPERSERVE_SANDBOX_URL": self.superserve_url,
            "CMA_LOG_LEVEL": "error",
        }
        env.update(self.serve_env)
        env.update(extra_env or {})
        return Child("cma-orchestrator",
                     [*wrapper, binary or self.binary, "serve", "--host", "127.0.0.1", "--port", str(port)],
                     env=env, cwd=REPO_ROOT, cpu=SERVER_CPU, log_name=f"{self.prefix}-cma-orchestrator.log",
                     port=port, stop_grace=30.0)

    def check_alive(self):
        for child in self.children:
            child.check_alive()

    def stop(self):
        stop_all(self.children)
