#!/usr/bin/env bash
# Time to runner start with and without the warm pool, on the emulators with an
# injected per-call Superserve latency (default 50 ms), in one command.
#
# Two rounds against fresh emulators: the baseline (CMA_WARM_POOL=0: lookup, create,
# bundle write, exec) and the pool (CMA_WARM_POOL=N: lookup, claim-and-launch exec).
# Sessions are created one at a time; before each, the pool round waits until the
# pool is full again, so every session meets a ready pool (the steady state the pool
# is sized for). Reports, per round, the p50 and p90 of the orchestrator's own launch
# time (`launch.ms` of its `runner.launched` log line: claimed item → runner started)
# and of the time from the session's creation to that launch (webhook, drain, poll,
# ack and session GET included), and the pool's ratio against the baseline.
#
# Run from anywhere:
#   Benchmarks/warmpool.sh                         # builds the release binary first
#   Benchmarks/warmpool.sh --binary PATH --sessions 20 --latency-ms 50 --pool 2
# Writes Benchmarks/results/warmpool.json; child logs go to Benchmarks/results/warmpool-*.log.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need taskset util-linux
need python3 python3

run_driver warmpoolbench.py "$@"
