#!/usr/bin/env bash
# Instructions per request: GET /healthz and a signed POST /webhooks, counted by
# valgrind's callgrind in `cma-orchestrator serve`'s user space. Unlike req/s and CPU
# time, the count hardly moves with other load on the machine, so it shows what a code
# change did to the request path when the timed benchmarks are too noisy to tell.
#
# Starts both emulators, then `serve` under callgrind (a copy of the binary without its
# DWARF, which valgrind 3.19 cannot read), warms up, and for each path zeroes the
# counters, runs wrk -t1 -c4 for --duration seconds and dumps them. Prints instructions
# per request for the whole process and for the connection path alone (reading a
# request to queueing its answer), and the webhook path without the SHA-256 block
# function, which valgrind runs without the CPU's SHA extensions (it costs much more
# here than on the real CPU). No target: a figure to compare builds with.
#
#   Benchmarks/instructions.sh                   # builds the release binary first
#   Benchmarks/instructions.sh --binary PATH     # an existing build
# Writes Benchmarks/results/instructions.json.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need wrk wrk
need valgrind valgrind
need strip binutils
need taskset util-linux
need python3 python3

run_driver instructionsbench.py "$@"
