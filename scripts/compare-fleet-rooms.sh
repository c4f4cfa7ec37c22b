#!/usr/bin/env bash
# Two hosts on one Redis: stickyd (`--workers 1 --redis`, twice) against two
# Node servers with @socket.io/redis-adapter (`WORKERS=0 REDIS_URL`), each
# pair on a redis-server of its own started here, alternating (node, stickyd,
# node, ...), REPS times per rate. The load generator spreads its clients
# and broadcasting drivers over both hosts (`-url A,B`). One line per run:
# lost, duplicates, p50/p99, and the PUBLISH calls Redis counted per
# broadcast sent (INFO commandstats). With ONEHOST=1 each stickyd run is
# followed by the same workload against one stickyd host alone (one URL),
# to read the p50 that crossing hosts adds.
#
#   RATES="1000" scripts/compare-fleet.sh [OUTDIR]
#   NODE_RATES="1000 1500" STICKYD_RATES="3000 5000" scripts/compare-fleet.sh
#
# Environment: REPS (3), D (10s), C (1000), ROOMS (10), KIT (as
# compare-anchor.sh: its peer/ needs node_modules).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench}"
OUT="${1:-$(mktemp -d /tmp/stickyd-fleet.XXXXXX)}"
REPS="${REPS:-3}"
D="${D:-10s}"
C="${C:-1000}"
ROOMS="${ROOMS:-10}"
NODE_RATES="${NODE_RATES:-${RATES:-1000}}"
STICKYD_RATES="${STICKYD_RATES:-${RATES:-1000}}"
RPORT=6390
mkdir -p "$OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/" ./cmd/stickyd ./testdata/refapp)
(cd "$KIT/loadgen" && go build -o "$OUT/bin/loadgen" .)
[ -d "$KIT/peer/node_modules" ] || (cd "$KIT/peer" && npm ci --no-audit --no-fund)

PIDS=()
stop_all() {
  local p kids
  for p in "${PIDS[@]}"; do
    kids="$(pgrep -P "$p" || true)"
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" $kids 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
trap stop_all EXIT INT TERM

wait_up() { # url
  for _ in $(seq 1 150); do
    curl -s -m 1 "$1/socket.io/?EIO=4&transport=polling" 2>/dev/null | grep -q '^0{' && return 0
    sleep 0.1
  done
  echo "server at $1 did not start" >&2
  return 1
}

publishes() {
  redis-cli -p "$RPORT" INFO commandstats | sed -nE 's/^cmdstat_publish:calls=([0-9]+).*/\1/p' | tr -d '\r' | grep . || echo 0
}

start_pair() { # who
  redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$OUT/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  local url="redis://127.0.0.1:$RPORT" port
  for port in 3101 3102; do
    if [ "$1" = node ]; then
      env PORT=$port WORKERS=0 REDIS_URL="$url" node "$KIT/peer/server.js" >"$OUT/server-$port.log" 2>&1 &
    else
      "$OUT/bin/stickyd" --workers 1 --listen 127.0.0.1:$port --control "$OUT/ctl-$port.sock" \
        --log-level warn --redis "$url" -- "$OUT/bin/refapp" >"$OUT/server-$port.log" 2>&1 &
    fi
    PIDS+=($!)
  done
  wait_up http://127.0.0.1:3101 && wait_up http://127.0.0.1:3102
  sleep 0.5
}

run() { # who rate urls label
  start_pair "$1"
  local before after
  before=$(publishes)
  # shellcheck disable=SC2086
  "$OUT/bin/loadgen" fanout -c "$C" -rooms "$ROOMS" -rate "$2" -d "$D" -payload 64 -url "$3" 2>/dev/null >"$OUT/last.json" || true
  after=$(publishes)
  stop_all
  cat "$OUT/last.json" >>"$OUT/$4-$2.jsonl"
  python3 - "$OUT/last.json" "$((after - before))" "$4" "$2" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
pub, who, rate = int(sys.argv[2]), sys.argv[3], sys.argv[4]
lat = r.get("latency", {})
sent = r.get("broadcasts_sent", 0) or 1
print(f"{who} rate {rate}: lost {r.get('lost')} dup {r.get('duplicates')} "
      f"p50_ms {lat.get('p50_ms')} p99_ms {lat.get('p99_ms')} "
      f"publishes/broadcast {pub / sent:.3f} loadgen_cpu_pct {r.get('loadgen_cpu_pct')}")
EOF
  sleep 1
}

for rep in $(seq 1 "$REPS"); do
  set -- $NODE_RATES; n=("$@"); set -- $STICKYD_RATES; s=("$@")
  k=$(( ${#n[@]} > ${#s[@]} ? ${#n[@]} : ${#s[@]} ))
  for i in $(seq 0 $((k - 1))); do
    [ -n "${n[$i]:-}" ] && run node "${n[$i]}" http://127.0.0.1:3101,http://127.0.0.1:3102 node
    if [ -n "${s[$i]:-}" ]; then
      run stickyd "${s[$i]}" http://127.0.0.1:3101,http://127.0.0.1:3102 stickyd
      [ "${ONEHOST:-0}" = 1 ] && run stickyd "${s[$i]}" http://127.0.0.1:3101 stickyd-onehost
    fi
  done
done | tee "$OUT/runs.txt"
echo "results in $OUT" >&2
