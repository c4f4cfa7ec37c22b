#!/usr/bin/env bash
# Measure stickyd against the Node anchor and the Go peer (peer-go,
# zishang520/socket.io) with the bench kit in ../shared/bench: the same
# workloads, same machine, each workload run alternately (one server after
# the other, rep after rep) so that drift of a shared machine hits all
# alike, then medians of REPS runs each.
#
#   scripts/compare-anchor.sh [OUTDIR]
#
# MODE picks the servers:
#   cluster (default)  Node WORKERS=2 (anchor), stickyd --workers 2 (stickyd),
#                      peer-go (peergo, always one process)
#   single             one process each: Node WORKERS=0 (node1), refapp
#                      standalone (refapp), peer-go (peergo)
#   node               the anchor's own app, unchanged, twice: under its
#                      sticky primary, Node WORKERS=2 (anchor), and under
#                      stickyd --workers 2 (stickydnode; docs/node.md)
# Environment: REPS (3), ONLY (workload names of run-matrix.sh, default all,
# idle included: `idle -c 5000`), SERVERS (a subset of the mode's server
# names, in order), EXTRA (flags appended to every loadgen command; a later
# flag wins, so EXTRA="-d 2s" makes a short smoke run), KIT (path of the
# bench kit; its peer/ needs node_modules: copy a read-only kit elsewhere
# first).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/bench}"
OUT="${1:-$(mktemp -d /tmp/stickyd-compare.XXXXXX)}"
REPS="${REPS:-3}"
MODE="${MODE:-cluster}"
NAMES="${ONLY:-handshake handshake-keepalive handshake-tabs upgrade upgrade-nopending echo-websocket echo-polling fanout idle}"
mkdir -p "$OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/" ./cmd/stickyd ./testdata/refapp)
# peer-go builds in a copy: the kit may be read-only.
rm -rf "$OUT/peer-go" && cp -r "$KIT/peer-go" "$OUT/peer-go"
(cd "$OUT/peer-go" && GOFLAGS=-mod=mod go build -o "$OUT/bin/peergo" .)
[ -d "$KIT/peer/node_modules" ] || (cd "$KIT/peer" && npm ci --no-audit --no-fund)

# server_cmd NAME prints the SERVER_CMD of run-matrix.sh for a server
# ("" is the kit's default, Node's peer) and server_workers its WORKERS.
server_cmd() {
  case "$1" in
    anchor | node1) echo "" ;;
    stickyd) echo "$OUT/bin/stickyd --workers 2 --listen 127.0.0.1:3100 --log-level warn -- $OUT/bin/refapp" ;;
    stickydnode) echo "$OUT/bin/stickyd --workers 2 --listen 127.0.0.1:3100 --log-level warn -- node $KIT/peer/server.js" ;;
    refapp) echo "$OUT/bin/refapp" ;;
    peergo) echo "$OUT/bin/peergo" ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
}
server_workers() {
  case "$1" in
    node1) echo 0 ;;
    *) echo 2 ;;
  esac
}
case "$MODE" in
  cluster) DEFAULT_SERVERS="anchor stickyd peergo" ;;
  single) DEFAULT_SERVERS="node1 refapp peergo" ;;
  node) DEFAULT_SERVERS="anchor stickydnode" ;;
  *) echo "MODE is cluster, single or node, not $MODE" >&2; exit 2 ;;
esac
SERVERS="${SERVERS:-$DEFAULT_SERVERS}"

for name in $NAMES; do
  for rep in $(seq 1 "$REPS"); do
    echo "== $name rep $rep: $SERVERS" >&2
    for who in $SERVERS; do
      cmd="$(server_cmd "$who")"
      if [ -n "$cmd" ]; then
        ONLY="$name" REPS=1 WORKERS="$(server_workers "$who")" SERVER_CMD="$cmd" \
          "$KIT/loadgen/run-matrix.sh" "$OUT/$who-$rep" >/dev/null
      else
        ONLY="$name" REPS=1 WORKERS="$(server_workers "$who")" \
          "$KIT/loadgen/run-matrix.sh" "$OUT/$who-$rep" >/dev/null
      fi
    done
  done
done
first="${SERVERS%% *}"
LG="$OUT/$first-1/loadgen"
for name in $NAMES; do
  for who in $SERVERS; do
    echo "== $name $who (median of $REPS)"
    "$LG" median "$OUT"/$who-*/"$name.jsonl"
  done
done | tee "$OUT/medians.txt"
echo "results in $OUT" >&2
