#!/usr/bin/env bash
# Measure stickyd against the Node anchor with the bench kit in
# ../shared/bench: the same workloads, same machine, each workload run
# alternately (anchor, stickyd, anchor, ...) so that drift of a shared
# machine hits both alike, then medians of REPS runs each.
#
#   scripts/compare-anchor.sh [OUTDIR]
#
# Environment: REPS (3), ONLY (workload names of run-matrix.sh, default all),
# EXTRA (flags appended to every loadgen command), KIT (path of the bench kit;
# its peer/ needs node_modules: copy a read-only kit elsewhere first).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench}"
OUT="${1:-$(mktemp -d /tmp/stickyd-compare.XXXXXX)}"
REPS="${REPS:-3}"
NAMES="${ONLY:-handshake handshake-keepalive handshake-tabs upgrade upgrade-nopending echo-websocket echo-polling fanout idle}"
mkdir -p "$OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/" ./cmd/stickyd ./testdata/refapp)
[ -d "$KIT/peer/node_modules" ] || (cd "$KIT/peer" && npm ci --no-audit --no-fund)
STICKYD_CMD="$OUT/bin/stickyd --workers 2 --listen 127.0.0.1:3100 --log-level warn -- $OUT/bin/refapp"
for name in $NAMES; do
  for rep in $(seq 1 "$REPS"); do
    echo "== $name rep $rep: anchor, then stickyd" >&2
    ONLY="$name" REPS=1 "$KIT/loadgen/run-matrix.sh" "$OUT/anchor-$rep" >/dev/null
    ONLY="$name" REPS=1 SERVER_CMD="$STICKYD_CMD" "$KIT/loadgen/run-matrix.sh" "$OUT/stickyd-$rep" >/dev/null
  done
done
LG="$OUT/anchor-1/loadgen"
for name in $NAMES; do
  for who in anchor stickyd; do
    echo "== $name $who (median of $REPS)"
    "$LG" median "$OUT"/$who-*/"$name.jsonl"
  done
done | tee "$OUT/medians.txt"
echo "results in $OUT" >&2
