#!/usr/bin/env bash
# Compare how many @socket.io/cluster-adapter messages per second the
# cluster primary relays: Node's own primary (setupPrimary) against
# stickyd's hub, with the same Node workers (testdata/nodeapp/relaybench.js:
# each worker sends COUNT serverSideEmit messages as fast as its event loop
# goes, every other worker receives them). Runs alternate, REPS each;
# a run's rate is all deliveries divided by the longest receive window.
#
#   scripts/compare-node-relay.sh            # WORKERS=2 COUNT=50000 REPS=3
#
# Needs `npm ci --prefix testdata/nodeapp`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKERS="${WORKERS:-2}"
COUNT="${COUNT:-50000}"
REPS="${REPS:-3}"
PORT="${PORT:-3300}"
OUT="$(mktemp -d /tmp/stickyd-relay.XXXXXX)"
(cd "$ROOT" && go build -o "$OUT/" ./cmd/stickyd)
APP="$ROOT/testdata/nodeapp/relaybench.js"

# rate LOG prints deliveries per second of one run's "relaybench:" lines.
rate() {
  awk '/relaybench:/ { for (i = 1; i <= NF; i++) { if ($i == "received") r += $(i+1); if ($i == "in") { w = $(i+1); if (w > m) m = w } } }
       END { if (m > 0) printf "%.0f\n", r / (m / 1000); else print 0 }' "$1"
}

# wait_lines LOG N waits (60 s at most) until LOG holds N result lines.
wait_lines() {
  for _ in $(seq 1 200); do
    [ "$(grep -c 'relaybench:' "$1" || true)" -ge "$2" ] && return 0
    sleep 0.3
  done
  echo "no result in $1" >&2
  return 1
}

for rep in $(seq 1 "$REPS"); do
  log="$OUT/node-$rep.log"
  (cd "$ROOT/testdata/nodeapp" && WORKERS="$WORKERS" COUNT="$COUNT" PORT="$PORT" node "$APP" >"$log" 2>&1) || true
  echo "node    rep $rep: $(rate "$log") deliveries/s"
  log="$OUT/stickyd-$rep.log"
  COUNT="$COUNT" "$OUT/stickyd" --workers "$WORKERS" --listen "127.0.0.1:$PORT" -- node "$APP" >"$log" 2>&1 &
  pid=$!
  wait_lines "$log" "$WORKERS" || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "stickyd rep $rep: $(rate "$log") deliveries/s"
done | tee "$OUT/rates.txt"
for who in node stickyd; do
  printf '%s median: ' "$who"
  grep "^$who " "$OUT/rates.txt" | awk '{print $(NF-1)}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " deliveries/s"}'
done
