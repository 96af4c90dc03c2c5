#!/usr/bin/env python3
"""Driver of Benchmarks/instructions.sh: instructions per request of GET /healthz and
a signed POST /webhooks in `cma-orchestrator serve`, counted by callgrind.

    python3 Benchmarks/instructionsbench.py --binary .build/release/cma-orchestrator

Standard library only (plus valgrind, callgrind_annotate, strip and wrk).
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

import benchlib as b
import webhookbench as wb

# The connection loop's handler of ready sockets: everything from reading a request
# to queueing its answer runs below it.
CONNECTION_PATH = "ConnectionLoopC9pollReady"
# libcrypto's SHA-256 block function has no symbol; it is the one libcrypto entry that
# callgrind_annotate lists by address with this much cost.
SHA_BLOCK = re.compile(r"\?\?\?:0x[0-9a-f]+ \[.*libcrypto")


def annotate(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)", line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(2)))
    return rows


def measure(pid, out_prefix, name, url, script, duration):
    before = set(glob.glob(out_prefix + "*"))
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    run = b.run_wrk(url, 4, duration, script=script)
    if run["non_2xx"] or run["socket_errors"]:
        raise b.BenchError(f"{name}: {run['non_2xx']} non-2xx answers, {run['socket_errors']} socket errors")
    subprocess.run(["callgrind_control", "-d", name, str(pid)], check=True, capture_output=True)
    deadline = time.monotonic() + 30
    while True:
        dumps = sorted(set(glob.glob(out_prefix + "*")) - before, key=os.path.getmtime)
        if dumps:
            break
        if time.monotonic() > deadline:
            raise b.BenchError(f"{name}: callgrind wrote no dump")
        time.sleep(0.2)
    time.sleep(0.5)
    dump = dumps[-1]
    requests = run["requests"]
    own = annotate(dump, False)
    total = next(c for c, what in own if what.startswith("PROGRAM TOTALS"))
    connection = max((c for c, what in annotate(dump, True) if CONNECTION_PATH in what), default=0)
    sha = max((c for c, what in own if SHA_BLOCK.search(what)), default=0)
    return {
        "requests": requests,
        "process_per_request": total / requests,
        "connection_path_per_request": connection / requests,
        "sha256_block_per_request": sha / requests,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the cma-orchestrator executable (release build)")
    parser.add_argument("--duration", type=int, default=4, help="seconds of wrk per path (default 4)")
    parser.add_argument("--quiet-logs", action="store_true",
                        help="CMA_LOG_LEVEL=error (no access lines) instead of the default level, info")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        parser.error(f"--binary {args.binary} is not an executable file")

    b.install_signal_handlers()
    b.reset_logs("instructions")
    b.pin_self_to_load_cpu()
    tmp = tempfile.mkdtemp(prefix="cma-instructions-")
    stripped = os.path.join(tmp, "cma-orchestrator")
    subprocess.run(["strip", "--strip-debug", "-o", stripped, os.path.abspath(args.binary)], check=True)
    out_prefix = os.path.join(tmp, "callgrind.out")
    stack = b.Stack(os.path.abspath(args.binary), "instructions", os.path.join(tmp, "sandboxes"),
                    serve_env={"CMA_WEBHOOK_DEDUPE_SECONDS": "0",
                               # The default configuration unless asked otherwise: access lines on.
                               "CMA_LOG_LEVEL": "error" if args.quiet_logs else "info"})
    results = {}
    try:
        stack.start_emulators()
        stack.serve = stack.serve_child(stack.serve_port, binary=stripped, wrapper=(
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out_prefix}", "--dump-instr=no"))
        b.wait_for_status(f"{stack.serve_url}/readyz", stack.children, 180, "the orchestrator's /readyz under callgrind")
        wb.check_first_webhook(stack)
        script = os.path.join(tmp, "webhook.lua")
        wb.write_wrk_script(script, stack.signing_key)
        b.run_wrk(f"{stack.serve_url}/healthz", 4, 2)
        b.run_wrk(f"{stack.serve_url}/webhooks", 4, 2, script=script)
        pid = stack.serve.proc.pid
        results["healthz"] = measure(pid, out_prefix, "healthz", f"{stack.serve_url}/healthz", None, args.duration)
        wb.write_wrk_script(script, stack.signing_key)
        results["webhooks"] = measure(pid, out_prefix, "webhooks", f"{stack.serve_url}/webhooks", script,
                                      args.duration)
        stack.check_alive()
    except b.FAILURES as e:
        return b.failed(e, stack.children)
    finally:
        stack.stop()

    h, w = results["healthz"], results["webhooks"]
    webhook_path = w["connection_path_per_request"] - w["sha256_block_per_request"]
    print()
    print("User-space instructions per request in serve (callgrind; wrk -t1 -c4)")
    b.print_table(["", "healthz", "webhooks", "webhooks − healthz"], [
        ["whole process", f"{h['process_per_request']:,.0f}", f"{w['process_per_request']:,.0f}",
         f"{w['process_per_request'] - h['process_per_request']:,.0f}"],
        ["connection path", f"{h['connection_path_per_request']:,.0f}", f"{w['connection_path_per_request']:,.0f}",
         f"{w['connection_path_per_request'] - h['connection_path_per_request']:,.0f}"],
        ["connection path without the SHA-256 blocks", f"{h['connection_path_per_request']:,.0f}",
         f"{webhook_path:,.0f}", f"{webhook_path - h['connection_path_per_request']:,.0f}"],
    ])
    print(f"\n(the SHA-256 block function, {w['sha256_block_per_request']:,.0f} per webhook here, runs on the CPU's "
          "SHA extensions outside valgrind)")
    b.write_results("instructions", {"host": b.host_info(), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
