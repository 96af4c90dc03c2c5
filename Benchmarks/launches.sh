#!/usr/bin/env bash
# Launches at the physical limit: the emulators at Superserve's real team limits
# (superserve.md §7: 20 req/s, burst 40, 50 active sandboxes; --rate, --burst,
# --max-active change them) with an injected latency on every upstream call
# (--latency-ms, default 50, a cross-region round trip).
#
# Each scenario gets a fresh stack: the Superserve emulator (local process sandboxes in
# a temporary folder), the Anthropic emulator (a signed webhook per session) and
# `cma-orchestrator serve` against both (CMA_LAUNCH_SLOTS=64). The runner is a shell
# script (CMA_RUNNER_PYTHON=sh, CMA_RUNNER_ENTRY) that records when it started and
# ends after --runner-seconds (default 2), as an idle runner does, so its sandbox can
# be paused to make room under the quota.
#
# - single: --runs (20) sessions one after another: webhook → runner start p50, and
#   the Superserve calls made before the runner started (target 3: list, create, exec),
#   then a new run of each with its sandbox active (2: list, exec) and paused (3: list,
#   activate, exec);
# - bursts (--bursts, default 100,500) created at once: all launched after, per-session
#   p50/p99, calls per launch (critical path and after the hand-off), sandboxes paused
#   to make room, 429s met, orchestrator CPU and peak RSS, and launches/s against the
#   ceiling team rate ÷ calls per launch.
#
# Every process is stopped (SIGTERM, then SIGKILL) and the sandbox folders removed at
# the end, also on failure or Ctrl-C.
#
# Run from anywhere:
#   Benchmarks/launches.sh                        # builds the release binary first
#   Benchmarks/launches.sh --binary PATH --label after
#   Benchmarks/launches.sh --runs 0 --bursts 100 --max-active 0 --serve-env NAME=VALUE --strict
# Writes Benchmarks/results/launches[-LABEL].json; child logs go to Benchmarks/results/launches-*.log.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need taskset util-linux
need python3 python3

run_driver launchbench.py "$@"
