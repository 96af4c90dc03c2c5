#!/usr/bin/env bash
# Regenerates deploy/link-order.txt, the code layout of the release link.
#
# Package.swift passes that file to lld (--symbol-ordering-file) for release builds:
# the code `serve` runs is placed together, so the kernel's 64 KiB fault-around maps
# little else, and resident memory and instruction-cache misses drop. The file lists
# symbols in the order a recorded run first touched their code (see linkorder.py).
# Stale names are ignored by the linker, so an old file only loses effect; rerun this
# after changes to the serving path or a toolchain upgrade, then commit the file.
#
#   Benchmarks/link-order.sh
#
# Steps: release link with a map; one recorded run of `serve` against the emulators
# under Benchmarks/page-recorder.c; the new order; the release link again with it.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

need cc gcc
need readelf binutils
need python3 python3

order="$REPO_ROOT/deploy/link-order.txt"
# Record on the natural layout: in a binary already linked in an older order, each
# touched page would hand the old order's page neighbours on to the new one. The file
# is emptied rather than removed: SwiftPM caches the manifest, whose linker flags name
# it, so it must still exist.
if [ -s "$order" ]; then
  cp "$order" "$order.previous"
  trap '[ -s "$order" ] || mv "$order.previous" "$order"' EXIT
fi
: > "$order"
build_release
map="$REPO_ROOT/.build/cma-orchestrator.map"
echo "linking with a map, without an order" >&2
rm -f "$BIN"   # the order file is no build input SwiftPM tracks: force the link
(cd "$REPO_ROOT" && swift build -c release --static-swift-stdlib --product cma-orchestrator -Xlinker "-Map=$map" >&2)
python3 "$BENCH_DIR/linkorder.py" --binary "$BIN" --map "$map"
rm -f "$order.previous"
echo "linking with the new order" >&2
rm -f "$BIN"   # the order file is no build input SwiftPM tracks: force the link
build_release
# Checked, not assumed: a manifest that only sometimes passed the file to the linker
# once left every link of this script in the natural layout.
python3 "$BENCH_DIR/linkorder.py" --verify --binary "$BIN"
