#!/usr/bin/env bash
# Any host routes any session, measured: HAProxy round robin (no
# stickiness, scripts/haproxy-rr.cfg) in front of two stickyd hosts on one
# private redis-server, against one stickyd host alone and against the
# Node fleet (two peers of the bench kit with the Redis adapter) behind the
# same HAProxy. Workloads: handshake -c 50, echo -transport polling -c 50,
# upgrade -c 20. One JSON line of loadgen figures per run, in OUTDIR.
#
#   scripts/compare-fleet-routing.sh [OUTDIR]
#
# Environment: KIT (bench kit with peer/node_modules and loadgen/loadgen,
# default /tmp/kit), DURATION (8s), WORKERS (workers per stickyd host, 1),
# ONLY (subset of: fleet single node), SMOKE=1 (handshake -d 2s through the
# fleet only), REDIS_PORT FRONT_PORT P1 P2 (6391 8090 3201 3202). Every
# process started here is stopped by pid. The hosts serve metrics on
# P1+1000 and P2+1000; fleet-metrics-*.txt hold their relayed bytes and CPU
# seconds after the fleet's workloads (for CPU per relayed MB).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="${KIT:-/tmp/kit}"
LG="${LG:-$KIT/loadgen/loadgen}"
OUT="${1:-$(mktemp -d /tmp/stickyd-fleet.XXXXXX)}"
DURATION="${DURATION:-8s}"
WORKERS="${WORKERS:-1}"
ONLY="${ONLY:-fleet single node}"
HAPROXY="${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}"
REDIS_PORT="${REDIS_PORT:-6391}" FRONT_PORT="${FRONT_PORT:-8090}" P1="${P1:-3201}" P2="${P2:-3202}"
mkdir -p "$OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/" ./cmd/stickyd ./testdata/refapp)
printf 'bench-fleet-secret-%s\n' "$RANDOM$RANDOM$RANDOM" >"$OUT/fleet.secret"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_http() { # URL: until an Engine.IO handshake answers
  for _ in $(seq 1 100); do
    curl -s -m 1 "$1/socket.io/?EIO=4&transport=polling" | grep -q '^0{' && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$OUT/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
}

start_stickyd() { # PORT NAME (metrics on PORT+1000)
  "$OUT/bin/stickyd" --workers "$WORKERS" --listen "127.0.0.1:$1" --log-level warn --metrics "127.0.0.1:$(($1 + 1000))" \
    --control "$OUT/$2.sock" --fleet-secret-file "$OUT/fleet.secret" --redis "redis://127.0.0.1:$REDIS_PORT" \
    -- "$OUT/bin/refapp" >"$OUT/$2.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$1"
}

start_haproxy() {
  FRONT="127.0.0.1:$FRONT_PORT" HOST1="127.0.0.1:$P1" HOST2="127.0.0.1:$P2" \
    "$HAPROXY" -db -f "$ROOT/scripts/haproxy-rr.cfg" >"$OUT/haproxy.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$FRONT_PORT"
}

workloads() { # LABEL URL
  if [ -n "${SMOKE:-}" ]; then
    "$LG" handshake -url "$2" -c 50 -d 2s | tee -a "$OUT/$1.jsonl"
    return
  fi
  "$LG" handshake -url "$2" -c 50 -d "$DURATION" | tee -a "$OUT/$1.jsonl"
  "$LG" echo -transport polling -url "$2" -c 50 -d "$DURATION" | tee -a "$OUT/$1.jsonl"
  "$LG" upgrade -url "$2" -c 20 -d "$DURATION" | tee -a "$OUT/$1.jsonl"
}

stop_all() { cleanup; PIDS=(); }

for what in $ONLY; do
  case "$what" in
  fleet) # two stickyd hosts behind HAProxy round robin
    start_redis; start_stickyd "$P1" host1; start_stickyd "$P2" host2; start_haproxy
    for _ in $(seq 1 50); do # both hosts see the fleet
      "$OUT/bin/stickyd" status --control "$OUT/host1.sock" >"$OUT/fleet-status.txt"
      grep -q "fleet: 2 hosts" "$OUT/fleet-status.txt" && break
      sleep 0.1
    done
    cat "$OUT/fleet-status.txt"
    workloads fleet "http://127.0.0.1:$FRONT_PORT"
    for p in "$P1" "$P2"; do # relayed bytes and CPU of each host, for CPU per relayed MB
      curl -s "http://127.0.0.1:$((p + 1000))/metrics" | grep -E '^(stickyd_fleet_|process_cpu_seconds_total)' >"$OUT/fleet-metrics-$p.txt"
    done
    stop_all ;;
  single) # one stickyd host alone, directly
    [ -n "${SMOKE:-}" ] && continue
    start_redis; start_stickyd "$P1" single
    workloads single "http://127.0.0.1:$P1"
    stop_all ;;
  node) # the Node fleet (redis-adapter) behind the same HAProxy
    [ -n "${SMOKE:-}" ] && continue
    [ -d "$KIT/peer/node_modules" ] || (cd "$KIT/peer" && npm ci --no-audit --no-fund)
    start_redis
    PORT=$P1 WORKERS=0 REDIS_URL="redis://127.0.0.1:$REDIS_PORT" node "$KIT/peer/server.js" >"$OUT/node1.log" 2>&1 &
    PIDS+=($!)
    PORT=$P2 WORKERS=0 REDIS_URL="redis://127.0.0.1:$REDIS_PORT" node "$KIT/peer/server.js" >"$OUT/node2.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$P1"; wait_http "http://127.0.0.1:$P2"; start_haproxy
    workloads node "http://127.0.0.1:$FRONT_PORT"
    stop_all ;;
  esac
done
echo "results in $OUT" >&2
