#!/usr/bin/env bash
# No session left behind under faults: a burst of sessions (default 100) launched
# while the emulators inject 5xx/429 on every Superserve endpoint (control and data
# plane) and every Anthropic API call at once, at 20% and 40%, plus a row with 20% on
# the Anthropic API only, each against a no-fault run of the same command.
#
# Each scenario starts a fresh Superserve emulator, Anthropic emulator (delivering a
# signed webhook per session) and `cma-orchestrator serve` with the default settings
# and a fake runner that records its start on the host and ends after --runner-seconds
# (5), so that the emulator's real limits (20 req/s, burst 40, 50 active sandboxes) hold:
# past the 50th session a launch waits for room. Reports served /
# unserved / duplicates (more than one live sandbox for a session, or a runner started
# twice for one work item), force-stopped launches, the time until every session was
# served and its ratio to the no-fault run. Targets: every session served, no
# duplicate, the Anthropic-only row at most 1.5x the no-fault time.
#
# Run from anywhere:
#   Benchmarks/faults.sh                          # builds the release binary first
#   Benchmarks/faults.sh --binary PATH            # an existing build
#   Benchmarks/faults.sh --sessions 50 --rates 20,40 --anthropic-rate 20 --lose-rate 5 --strict
# Writes Benchmarks/results/faults.json; child logs go to Benchmarks/results/faults-*.log.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need taskset util-linux
need python3 python3

run_driver faultbench.py "$@"
