#!/usr/bin/env bash
# Cost of a verified webhook compared with a bare health check, on one orchestrator.
#
# Starts `cma-orchestrator emulate superserve`, `cma-orchestrator emulate anthropic`
# (environment env_bench, a fresh random whsec_ signing key) and `cma-orchestrator serve`
# wired to both (CMA_WEBHOOK_DEDUPE_SECONDS=0, CMA_LOG_LEVEL=error), waits for /readyz,
# checks that one signed delivery is answered 200 {"status":"queued"} (aborts
# otherwise), then, at 16 and 256 connections, runs wrk -t1 -d3s --latency seven times
# in turn against GET /healthz and against POST /webhooks (a fixed, validly signed
# session.status_run_started delivery from a generated Lua script: every request is
# verified and schedules a coalesced drain). Alternating short runs keep each ratio to
# the machine's speed of the moment. Prints median req/s, p99, server CPU µs per
# request and the median of the per-round ratios webhooks/healthz, with their range,
# and the ratio of the best run of each kind.
# Target: webhooks ≥ 0.7× healthz req/s.
# The orchestrator runs on CPU 0; wrk and the emulators on CPU 1 (taskset).
#
# Run from anywhere:
#   Benchmarks/webhooks.sh                 # builds the release binary first
#   Benchmarks/webhooks.sh --binary PATH   # an existing build
#   Benchmarks/webhooks.sh --duration 5 --rounds 3 --connections 16 --strict
# Writes Benchmarks/results/webhooks.json; child logs go to Benchmarks/results/webhooks-*.log.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need wrk wrk
need taskset util-linux
need python3 python3

run_driver webhookbench.py "$@"
