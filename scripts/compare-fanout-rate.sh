#!/usr/bin/env bash
# The highest room fan-out rate without loss: `fanout -c 1000 -rooms 10` at
# each rate of ANCHOR_RATES against the Node anchor and of STICKYD_RATES
# against stickyd (2 workers each), alternating, REPS times, one line per
# run with lost deliveries and latency. A rate counts when all its runs
# lost nothing.
#
#   ANCHOR_RATES="1500 2000" STICKYD_RATES="15000 16000" scripts/compare-fanout-rate.sh [OUTDIR]
#
# Environment: REPS (3), KIT (as compare-anchor.sh), D (window, 10s).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench}"
OUT="${1:-$(mktemp -d /tmp/stickyd-fanout.XXXXXX)}"
REPS="${REPS:-3}"
D="${D:-10s}"
ANCHOR_RATES="${ANCHOR_RATES:-1000 1500 2000 3000}"
STICKYD_RATES="${STICKYD_RATES:-10000 15000 20000}"
mkdir -p "$OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/" ./cmd/stickyd ./testdata/refapp)
(cd "$KIT/loadgen" && go build -o "$OUT/bin/loadgen" .)
[ -d "$KIT/peer/node_modules" ] || (cd "$KIT/peer" && npm ci --no-audit --no-fund)
STICKYD_CMD="$OUT/bin/stickyd --workers 2 --listen 127.0.0.1:3100 --log-level warn -- $OUT/bin/refapp"
run() { # who rate
  local cmd="node $KIT/peer/server.js"
  [ "$1" = stickyd ] && cmd="$STICKYD_CMD"
  local args="fanout -c 1000 -rooms 10 -rate $2 -d $D -payload 64"
  # run-matrix.sh has no fanout rate knob: start the server the same way.
  env PORT=3100 WORKERS=2 $cmd >"$OUT/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -s -m 1 "http://127.0.0.1:3100/socket.io/?EIO=4&transport=polling" 2>/dev/null | grep -q '^0{' && break
    sleep 0.1
  done
  sleep 0.5
  # shellcheck disable=SC2086
  "$OUT/bin/loadgen" $args -url http://127.0.0.1:3100 2>/dev/null | tee -a "$OUT/$1-$2.jsonl" |
    sed -E 's/.*"lost":([0-9]+).*"latency":\{[^}]*"p50_ms":([0-9.]+)[^}]*"p99_ms":([0-9.]+).*/lost \1 p50_ms \2 p99_ms \3/' |
    sed "s/^/$1 rate $2: /"
  local tree; tree="$(pgrep -P "$pid" || true)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" $tree 2>/dev/null || true
  for k in $tree; do pkill -KILL -P "$k" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
  sleep 1
}
for rep in $(seq 1 "$REPS"); do
  set -- $ANCHOR_RATES; a=("$@"); set -- $STICKYD_RATES; s=("$@")
  n=$(( ${#a[@]} > ${#s[@]} ? ${#a[@]} : ${#s[@]} ))
  for i in $(seq 0 $((n - 1))); do
    [ -n "${a[$i]:-}" ] && run anchor "${a[$i]}"
    [ -n "${s[$i]:-}" ] && run stickyd "${s[$i]}"
  done
done | tee "$OUT/runs.txt"
echo "results in $OUT" >&2
