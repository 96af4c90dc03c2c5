#!/usr/bin/env bash
# Memory of cma-orchestrator under clients that hold request bytes, with its defaults.
#
# Starts `cma-orchestrator emulate superserve`, `emulate anthropic` and `serve` wired to
# both, every other setting at its default (the buffer budget, the webhook body cap,
# the connection cap of 10,000), and reads the server's VmRSS from /proc:
#   - at start;
#   - while 200 connections each hold a POST /webhooks body one byte short of its
#     declared 1 MiB, and after they close;
#   - while 5,000 connections each hold an unfinished 16 KiB request head, and after
#     they close.
# Prints the figures against the targets, the answers sent on the held connections
# (503 over the buffer budget) and the /healthz probes answered meanwhile.
# Targets: VmRSS ≤ 96 MiB while each set is held; after each close, within 10 MiB of
# its start. The orchestrator runs on CPU 0, the driver and emulators on CPU 1.
#
# Run from anywhere:
#   Benchmarks/memory.sh                  # builds the release binary first
#   Benchmarks/memory.sh --binary PATH    # an existing build
#   Benchmarks/memory.sh --bodies 100 --heads 2000 --strict
# Writes Benchmarks/results/memory.json; child logs go to Benchmarks/results/memory-*.log.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need taskset util-linux
need python3 python3

# 5,000 held connections on both ends: the driver raises its soft limit up to the hard one.
run_driver memorybench.py "$@"
