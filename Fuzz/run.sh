#!/usr/bin/env bash
# Builds the HTTPWire libFuzzer target with ASan, seeds a corpus from the llhttp vectors
# and fuzzes for FUZZ_SECONDS (default 600) in one process on one core.
#   Fuzz/run.sh                      # 10 minutes
#   FUZZ_SECONDS=60 Fuzz/run.sh      # quick
#   Fuzz/run.sh crash-<sha>          # replay one input (extra args go to libFuzzer)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RUN_DIR=${FUZZ_RUN_DIR:-$HERE/corpus-run}
FLAGS=(-c release --product HTTPWireFuzz --package-path "$HERE"
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)

swift build "${FLAGS[@]}"
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)/HTTPWireFuzz"

if [[ $# -gt 0 && -f "$1" ]]; then exec "$BIN" "$@"; fi

# Seed corpus: every vector's exact bytes (decoded from raw_b64), plus the committed seeds.
VECTORS=${VECTORS:-}
for candidate in "$ROOT/../shared/http-vectors/llhttp-request-vectors.server.jsonl" \
                 "$ROOT/../../shared/http-vectors/llhttp-request-vectors.server.jsonl"; do
    [[ -z "$VECTORS" && -f "$candidate" ]] && VECTORS=$candidate
done
mkdir -p "$RUN_DIR/corpus" "$RUN_DIR/artifacts"
cp "$HERE"/seeds/* "$RUN_DIR/corpus/"
if [[ -n "$VECTORS" ]]; then
    python3 - "$VECTORS" "$RUN_DIR/corpus" <<'PY'
import base64, hashlib, json, os, sys
vectors, out = sys.argv[1], sys.argv[2]
n = 0
for line in open(vectors):
    raw = base64.b64decode(json.loads(line)["raw_b64"])
    with open(os.path.join(out, hashlib.sha1(raw).hexdigest()), "wb") as f:
        f.write(raw)
    n += 1
print(f"seeded {n} vectors from {vectors}")
PY
else
    echo "llhttp vectors not found (set VECTORS=...); using Fuzz/seeds only"
fi

cd "$RUN_DIR"
exec "$BIN" -max_total_time="${FUZZ_SECONDS:-600}" -dict="$HERE/http.dict" \
    -artifact_prefix="$RUN_DIR/artifacts/" -print_final_stats=1 "$@" corpus
