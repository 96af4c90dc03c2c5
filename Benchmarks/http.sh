#!/usr/bin/env bash
# HTTP serving cost of cma-orchestrator against nginx, on the same machine in the same run.
#
# Measures GET /healthz on `cma-orchestrator serve` as deployed (configured against the
# Anthropic and Superserve emulators, which run as their own processes on the load CPU)
# and on nginx (`return 200 "ok"`, one process, access log off):
#   - wrk -t1 -d10s --latency, keep-alive at 1, 16 and 256 connections and
#     `Connection: close` at 16: requests/s, p50, p99, server CPU µs per request
#     (utime+stime from /proc/<pid>/stat over the run / requests);
#   - private memory (RssAnon) and PSS after the 256-connection run, with RSS (VmRSS
#     idle, VmHWM peak) beside them;
#   - cold start: spawn to first 200 on /healthz, best of 5;
#   - with the defaults: ours as shipped (access log at info, probes left out) against
#     nginx with its access log on, c16 on /healthz and on a 404 that both log;
#   - 10,000 idle keep-alive connections: server private memory and RSS growth per
#     connection, and p99 of
#     200 fresh-connection requests while they are held.
# The server runs on CPU 0 and the load generator on CPU 1 (taskset).
# Targets: c16 req/s ≥ 0.6× nginx, p99@256 ≤ 2× nginx, private memory@256 ≤ 8 MB,
# cold start < 50 ms, idle < 8 KiB private/conn, fresh p99 < 5 ms.
#
# Run from anywhere:
#   Benchmarks/http.sh                        # builds the release binary first
#   Benchmarks/http.sh --binary PATH          # an existing build
#   Benchmarks/http.sh --only-nginx           # the baseline alone, no Swift build
#   Benchmarks/http.sh --duration 5 --strict  # shorter runs; exit 1 on a missed target
# Writes Benchmarks/results/http.json; child logs go to Benchmarks/results/http-*.log.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need wrk wrk
need nginx nginx
need taskset util-linux
need python3 python3

run_driver httpbench.py "$@"
