#!/usr/bin/env python3
"""Driver of Benchmarks/warmpool.sh: time to runner start without and with the warm
pool, on the emulators with an injected per-call Superserve latency.

    python3 Benchmarks/warmpoolbench.py --binary .build/release/cma-orchestrator

Each round starts both emulators and `cma-orchestrator serve` (webhook mode, a fake
runner that sleeps, so no Python SDK is needed), sets the Superserve emulator's
`latency_ms` fault on every route, then creates sessions one at a time and waits for
each launch. Standard library only.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

import benchlib as b
import launchbench as lb


# `all` is every control-plane route; the data plane is reached by its labels only.
DATA_AND_CONTROL = ["all", "files.write", "files.read", "exec"]


def launch_ms_lines(path):
    """`launch.ms` of every `runner.launched` JSON log line, in order."""
    values = []
    with open(path, "rb") as f:
        for raw in f:
            if b'"runner.launched"' not in raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("msg") == "runner.launched" and "launch.ms" in line:
                values.append(float(line["launch.ms"]))
    return values


def pool_ready(stack):
    status, body = b.http("GET", f"{stack.serve_url}/status", timeout=5)
    if status != 200:
        raise b.BenchError(f"/status answered {status}")
    pool = json.loads(body).get("warm_pool")
    return (pool or {}).get("ready", 0), (pool or {}).get("size", 0)


def wait_pool_full(stack, size, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        ready, _ = pool_ready(stack)
        if ready >= size:
            return
        time.sleep(0.05)
    raise b.BenchError(f"the warm pool did not reach {size} within {timeout:.0f} s")


def one_round(binary, name, sessions, latency_ms, pool, tmp):
    entry = os.path.join(tmp, "fake-runner.sh")
    with open(entry, "w") as f:
        f.write(lb.FAKE_RUNNER)
    os.chmod(entry, 0o755)
    serve_env = {"CMA_RUNNER_PYTHON": "sh", "CMA_RUNNER_ENTRY": entry, "CMA_LOG_LEVEL": "info",
                 "CMA_LOG_FORMAT": "json", "CMA_WARM_POOL": str(pool), "CMA_WARM_POOL_INTERVAL_SECONDS": "1"}
    stack = b.Stack(binary, f"warmpool-{name}", os.path.join(tmp, f"sandboxes-{name}"), serve_env=serve_env,
                    deliver_webhooks=True)
    end_to_end = []
    try:
        stack.start()
        status, body = b.http("POST", f"{stack.superserve_url}/_emulator/superserve/faults",
                              body={"latency_ms": latency_ms, "routes": DATA_AND_CONTROL})
        if status != 200:
            raise b.BenchError(f"POST /_emulator/superserve/faults answered {status}: {body[:200]!r}")
        launched = 0
        for i in range(sessions):
            if pool:
                wait_pool_full(stack, pool)
            created = lb.create_session(stack.anthropic_url)
            outcome = lb.wait_for_launches(stack, launched + 1, created, 120)
            if outcome["failed"]:
                raise b.BenchError(f"{outcome['failed']} launches failed in the {name} round")
            launched = outcome["launched"]
            end_to_end.append((time.perf_counter() - created) * 1000)
        claims = None
        if pool:
            _, text = b.http("GET", f"{stack.serve_url}/metrics", timeout=5)
            claims = {m.group(1): int(float(m.group(2))) for m in re.finditer(
                r'cma_warm_pool_claims_total\{[^}]*outcome="([a-z]+)"[^}]*\}\s+([0-9.eE+-]+)', text.decode())}
        _, calls = lb.superserve_calls(stack)
    finally:
        stack.stop()
        lb.kill_leftover_sandbox_processes(tmp)
    launch = launch_ms_lines(stack.serve.log_path)
    if len(launch) != sessions:
        raise b.BenchError(f"{name}: {len(launch)} runner.launched lines for {sessions} sessions")
    return {"launch_ms": launch, "end_to_end_ms": end_to_end, "claims": claims, "superserve_calls": calls}


def summary(samples):
    return {"p50": b.percentile(samples, 50), "p90": b.percentile(samples, 90), "n": len(samples)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the cma-orchestrator executable")
    parser.add_argument("--sessions", type=int, default=20, help="sessions per round (default 20)")
    parser.add_argument("--latency-ms", type=int, default=50, help="latency added to every Superserve call (default 50)")
    parser.add_argument("--pool", type=int, default=2, help="CMA_WARM_POOL of the pool round (default 2)")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        parser.error(f"--binary {args.binary} is not an executable file")

    b.install_signal_handlers()
    b.reset_logs("warmpool")
    b.pin_self_to_load_cpu()
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="cma-warmpool-"))
    binary = os.path.abspath(args.binary)
    rounds = {}
    try:
        for name, pool in (("baseline", 0), ("pool", args.pool)):
            b.log(f"{name} round: {args.sessions} sessions, {args.latency_ms} ms per Superserve call, pool {pool}")
            rounds[name] = one_round(binary, name, args.sessions, args.latency_ms, pool, tmp)
    except b.FAILURES as e:
        return b.failed(e, [])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    result = {"benchmark": "warmpool", "host": b.host_info(),
              "settings": {"sessions": args.sessions, "latency_ms": args.latency_ms, "pool": args.pool}}
    for name, data in rounds.items():
        launch, e2e = summary(data["launch_ms"]), summary(data["end_to_end_ms"])
        result[name] = {"launch_ms": launch, "end_to_end_ms": e2e, "claims": data["claims"],
                        "superserve_calls": data["superserve_calls"]}
        rows.append([name, b.fmt(launch["p50"], 0), b.fmt(launch["p90"], 0), b.fmt(e2e["p50"], 0), b.fmt(e2e["p90"], 0)])
    base, pooled = result["baseline"], result["pool"]
    result["ratio_launch_p50"] = pooled["launch_ms"]["p50"] / base["launch_ms"]["p50"]
    result["ratio_end_to_end_p50"] = pooled["end_to_end_ms"]["p50"] / base["end_to_end_ms"]["p50"]
    b.print_table(["round", "launch p50 ms", "launch p90 ms", "create→launch p50 ms", "create→launch p90 ms"], rows)
    print(f"pool / baseline, p50: launch {result['ratio_launch_p50']:.2f}, "
          f"create→launch {result['ratio_end_to_end_p50']:.2f}; pool claims {pooled['claims']}")
    b.write_results("warmpool", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
