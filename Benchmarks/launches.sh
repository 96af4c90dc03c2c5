#!/usr/bin/env bash
# Launch throughput: 500 sessions created at once, until a runner runs for each.
#
# Starts the Superserve emulator (local process sandboxes in a temporary folder), the
# Anthropic emulator (delivering a signed webhook per session to the orchestrator) and
# `cma-orchestrator serve` against both with CMA_LAUNCH_SLOTS=64 and a fake runner
# (CMA_RUNNER_PYTHON=sh, CMA_RUNNER_ENTRY=<generated script running `sleep 600`>, so
# no Python SDK is needed). Once /readyz is 200 it creates 500 sessions concurrently
# through POST /_emulator/sessions and polls /metrics until
# cma_sandbox_launches_total{outcome="launched"} reaches 500 (outcome="failed" is
# watched too). Reports the time from the first create to 500 launched, launches/s,
# Superserve calls per launch by endpoint (critical path target: ≤ 4 Superserve calls,
# list, create, file write, exec, plus the Anthropic session GET = 5; metadata
# GET/PATCH and the probe exec come after the hand-off), the orchestrator's CPU time
# per launch and its peak RSS. No latency is injected, so the figures are the
# orchestrator's own cost, bounded by its Superserve token bucket (15 req/s by
# default, rule 35); pass e.g. --serve-env CMA_SUPERSERVE_RATE=1000 to lift it.
# Every process is stopped (SIGTERM, then SIGKILL) and the sandbox folder removed at
# the end, also on failure or Ctrl-C.
#
# Run from anywhere:
#   Benchmarks/launches.sh                       # builds the release binary first
#   Benchmarks/launches.sh --binary PATH         # an existing build
#   Benchmarks/launches.sh --sessions 100 --slots 16 --serve-env NAME=VALUE --strict
# Writes Benchmarks/results/launches.json; child logs go to Benchmarks/results/launches-*.log.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need taskset util-linux
need python3 python3

run_driver launchbench.py "$@"
