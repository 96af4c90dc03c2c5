#!/usr/bin/env python3
"""Driver of Benchmarks/memory.sh: what clients holding request bytes cost the
orchestrator's memory with its default configuration, and whether it is given back.

    python3 Benchmarks/memorybench.py --binary .build/release/cma-orchestrator

`cma-orchestrator serve` runs against the Anthropic and Superserve emulators (their own
processes, on the load CPU) with every default except the upstream URLs and keys. Its
VmRSS (/proc/<pid>/status) is read:

  1. at start (ready, a few requests served);
  2. while 200 connections each hold a `POST /webhooks` body one byte short of its
     declared 1 MiB (the webhook route's default cap);
  3. after they are closed;
  4. while 5,000 connections each hold a 16 KiB request head, unfinished (within the
     header deadline, 10 s by default);
  5. after they are closed.

While each set is held, fresh `GET /healthz` probes must answer 200. Answers the server
sent on the held connections (503 over the buffer budget, anything else) are counted.
Targets: each held phase leaves VmRSS ≤ 96 MiB; after each close VmRSS is within
10 MiB of its start. Standard library only.
"""

import argparse
import os
import select
import shutil
import socket
import struct
import sys
import tempfile
import time

import benchlib as b

MIB = 1024 * 1024
HEALTHZ_CLOSE = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
HELD_LIMIT_KIB = 96 * 1024
RETURN_LIMIT_KIB = 10 * 1024


def close_with_reset(sock):
    # SO_LINGER 0: RST, so that thousands of closes leave no TIME_WAIT behind.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def probe(port, timeout=5.0):
    """Status of one fresh-connection GET /healthz, or None when it got no answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(HEALTHZ_CLOSE)
            return b.read_response(s)
    except (OSError, b.BenchError, ValueError, IndexError):
        return None


def probes_ok(port, count):
    return sum(1 for _ in range(count) if probe(port) == 200)


def rss(pid):
    return b.memory_kib(pid, "VmRSS")


def settle(pid, quiet_seconds=1.0, timeout=15.0):
    """VmRSS once it has stopped moving (within 256 KiB) for `quiet_seconds`."""
    deadline = time.monotonic() + timeout
    last = rss(pid)
    steady_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = rss(pid)
        if abs(now - last) > 256:
            last = now
            steady_since = time.monotonic()
        elif time.monotonic() - steady_since >= quiet_seconds:
            return now
    return rss(pid)


def answers(socks):
    """Counts, by status, the answers the server wrote on `socks` (nothing is read
    from a socket that has none); 'closed' for sockets closed without an answer."""
    counts = {}
    poller = select.poll()
    by_fd = {}
    for s in socks:
        poller.register(s.fileno(), select.POLLIN)
        by_fd[s.fileno()] = s
    for fd, _ in poller.poll(0):
        try:
            data = by_fd[fd].recv(64, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        key = data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.1 ") else "closed"
        counts[key] = counts.get(key, 0) + 1
    return counts


def metric(port, name):
    """A gauge or counter sum from /metrics, or None (absent, or no answer)."""
    try:
        status, body = b.http("GET", f"http://127.0.0.1:{port}/metrics", timeout=5)
    except OSError:
        return None
    if status != 200:
        return None
    total, seen = 0.0, False
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


def hold_bodies(port, count, socks):
    """`count` connections, each sending a POST /webhooks head declaring 1 MiB and all
    of the body but its last byte."""
    head = (b"POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % MIB)
    body = b"x" * (MIB - 1)
    failed_sends = 0
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
        try:
            s.sendall(head)
            s.sendall(body)
        except OSError:
            failed_sends += 1   # refused and closed while sending
    return failed_sends


def hold_heads(port, count, socks, head_bytes=16 * 1024):
    """`count` connections, each sending an unfinished request head of `head_bytes`
    (within the 16 KiB header-section limit, so the parser waits for more)."""
    start = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    # Fields of 1000 bytes each, up to head_bytes in all, the last one unfinished.
    fields = b""
    n = 0
    while len(start) + len(fields) + 1024 < head_bytes:
        fields += b"X-Pad-%03d: " % n + b"a" * (1000 - 13) + b"\r\n"
        n += 1
    rest = head_bytes - len(start) - len(fields)
    head = start + fields + b"X-Last: " + b"a" * (rest - 8)
    assert len(head) == head_bytes
    failed_sends = 0
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
        try:
            s.sendall(head)
        except OSError:
            failed_sends += 1
    return failed_sends


def phase(name, child, hold, count, probes):
    """Holds `count` connections with `hold`, reads VmRSS and the answers, probes
    /healthz, closes them all and reads VmRSS again."""
    pid, port = child.pid, child.port
    socks = []
    result = {"connections": count}
    try:
        t = time.monotonic()
        result["failed_sends"] = hold(port, count, socks)
        result["open_seconds"] = time.monotonic() - t
        result["held_rss_kib"] = settle(pid, quiet_seconds=0.5, timeout=5.0)
        result["held_hwm_kib"] = b.memory_kib(pid, "VmHWM")
        result["buffered_bytes"] = metric(port, "cma_http_buffered_bytes")
        result["probes"] = probes
        result["probes_200"] = probes_ok(port, probes)
        result["answers"] = answers(socks)
        child.check_alive()
    finally:
        for s in socks:
            close_with_reset(s)
    time.sleep(0.5)
    result["closed_rss_kib"] = settle(pid)
    result["buffered_after_close"] = metric(port, "cma_http_buffered_bytes")
    b.log(f"  {name}: held VmRSS {result['held_rss_kib'] / 1024:.1f} MiB, closed {result['closed_rss_kib'] / 1024:.1f} MiB, "
          f"answers {result['answers']}, probes {result['probes_200']}/{probes} 200")
    return result


def report(result):
    start = result["start_rss_kib"]
    rows, targets = [], []

    def row(metric_name, kib, target=None, met=None):
        rows.append([metric_name, f"{kib / 1024:.1f}", target or "", "" if met is None else ("ok" if met else "MISS")])
        if target:
            targets.append({"metric": metric_name, "mib": kib / 1024, "target": target, "met": met})

    row("VmRSS at start", start)
    for key, label in (("bodies", "200 × 1 MiB bodies (one byte short)"), ("heads", "5,000 × 16 KiB heads")):
        p = result[key]
        row(f"{label}: held", p["held_rss_kib"], "≤ 96 MiB", p["held_rss_kib"] <= HELD_LIMIT_KIB)
        row(f"{label}: after close", p["closed_rss_kib"], "≤ start + 10 MiB",
            p["closed_rss_kib"] - start <= RETURN_LIMIT_KIB)
    row("VmHWM (peak) at the end", result["final_hwm_kib"])

    print()
    print("Memory of `serve` with its default configuration (VmRSS, MiB)")
    print()
    b.print_table(["metric", "MiB", "target", ""], rows)
    print()
    for key, label in (("bodies", "bodies"), ("heads", "heads")):
        p = result[key]
        refused = p["answers"].get("503", 0)
        buffered = p["buffered_bytes"]
        print(f"{label}: {p['connections']} connections, {refused} answered 503 (budget), answers {p['answers']}, "
              f"{p['failed_sends']} sends cut short, /healthz {p['probes_200']}/{p['probes']} 200"
              + ("" if buffered is None else f", cma_http_buffered_bytes {buffered / MIB:.1f} MiB while held"))
    return targets


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the cma-orchestrator executable (release build)")
    parser.add_argument("--bodies", type=int, default=200, help="connections holding a 1 MiB body (default 200)")
    parser.add_argument("--heads", type=int, default=5000, help="connections holding a 16 KiB head (default 5000)")
    parser.add_argument("--probes", type=int, default=20, help="/healthz probes while each set is held (default 20)")
    parser.add_argument("--label", default="", help="a name for this build in the results file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        parser.error(f"--binary {args.binary} is not an executable file")

    b.install_signal_handlers()
    b.reset_logs("memory")
    need = max(args.bodies, args.heads) + 1024
    limit = b.raise_fd_limit(need)
    if limit < need:
        b.log(f"error: the open-file limit is {limit} and the run needs {need}: raise `ulimit -Hn`")
        return 1
    b.pin_self_to_load_cpu()

    tmp = tempfile.mkdtemp(prefix="cma-memorybench-")
    stack = b.Stack(os.path.abspath(args.binary), "memory", os.path.join(tmp, "sandboxes"))
    result = {}
    try:
        stack.start_emulators()
        # Every default of `serve`: CMA_LOG_LEVEL is info, as when unset (the Stack sets
        # error for its other users).
        stack.serve = stack.serve_child(stack.serve_port, {"CMA_LOG_LEVEL": "info"})
        child = stack.serve
        b.wait_for_status(f"{stack.serve_url}/readyz", stack.children, 60, "the orchestrator's /readyz")
        for _ in range(20):
            probe(child.port)
        time.sleep(0.5)
        result["start_rss_kib"] = settle(child.pid)
        result["max_connections_default"] = 10_000
        b.log(f"== memory: VmRSS at start {result['start_rss_kib'] / 1024:.1f} MiB")
        result["bodies"] = phase("bodies", child, hold_bodies, args.bodies, args.probes)
        result["heads"] = phase("heads", child, hold_heads, args.heads, args.probes)
        result["final_hwm_kib"] = b.memory_kib(child.pid, "VmHWM")
        result["rejected_budget_total"] = metric(child.port, 'cma_http_rejected_requests_total{reason="budget"}')
    except b.FAILURES as e:
        return b.failed(e, stack.children)
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    targets = report(result)
    b.write_results("memory" + (f"-{args.label}" if args.label else ""), {
        "benchmark": "memory",
        "host": b.host_info(),
        "binary": os.path.abspath(args.binary),
        "settings": {"bodies": args.bodies, "heads": args.heads, "probes": args.probes},
        "result": result,
        "targets": targets,
    })
    missed = [t["metric"] for t in targets if t["met"] is False]
    if missed:
        print(f"\nmissed targets: {', '.join(missed)}")
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
