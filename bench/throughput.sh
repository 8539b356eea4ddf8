#!/usr/bin/env bash
# bench/throughput.sh -- keep-alive throughput and latency: direct, edge522, nginx, HAProxy.
#
# For each connection count in CONNS_LIST (default "50 1000") it runs bench/peers/run.sh (wrk -t1,
# 100-byte bodies, interleaved rotated rounds, proxy CPU us/req) with an edge522 row (threads=1,
# log_level=warn, so no access log, upstream pool on; bench/peers/edge522.toml.in) and an
# edge522-log row (the same with its access log on, to a file), then prints one table of medians,
# the ratios edge522/nginx, edge522/HAProxy, edge522/direct, and what the access log costs.
#
# Knobs (env): DURATION=10 ROUNDS=5 WARMUP=2 CONNS_LIST="50 1000" ONLY="direct nginx haproxy edge522 edge522-log"
#              EDGE522_BIN=build/edge522 PROXY_WORKERS=1 PIN_WORKERS=0 (1: every proxy binds its workers one per CPU) NGINX_KEEPALIVE=max(128,conns) BASE_PORT=61080 CLIENT_CPUS= PROXY_CPUS=
#              ORIGIN_CPUS= OUT_DIR=/tmp/edge522-bench/throughput-<timestamp>
# Quick run: DURATION=3 ROUNDS=1 WARMUP=1 bench/throughput.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
USER_NGINX_KEEPALIVE=${NGINX_KEEPALIVE:-}
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

: "${DURATION:=10}"
: "${ROUNDS:=5}"
: "${WARMUP:=2}"
: "${CONNS_LIST:=50 1000}"
: "${EDGE522_LOG_ROW:=1}"
: "${OUT_DIR:=/tmp/edge522-bench/throughput-$(date +%Y%m%d-%H%M%S)}"
export DURATION ROUNDS WARMUP EDGE522_LOG_ROW

trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ensure_deps
make_workdir edge522-bench-tp
ensure_edge522
mkdir -p "$OUT_DIR"
t_start=$(date +%s)
env_header | tee "$OUT_DIR/env.txt" >&2
echo "command: $0 (DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP CONNS_LIST=\"$CONNS_LIST\" PROXY_WORKERS=${PROXY_WORKERS} PIN_WORKERS=${PIN_WORKERS:-0})" | tee -a "$OUT_DIR/env.txt" >&2

for c in $CONNS_LIST; do
    log "=== wrk -t1 -c$c: ${ROUNDS} rounds x ${DURATION}s per target ==="
    # nginx keeps at most NGINX_KEEPALIVE idle upstream connections; below the client count it
    # would close and reopen upstream connections all the time (HAProxy and edge522 keep up to
    # 1024+ idle), so it gets max(128, conns)
    ka=${USER_NGINX_KEEPALIVE:-$((c > 128 ? c : 128))}
    NGINX_KEEPALIVE=$ka CONNS=$c EDGE522_BIN=$EDGE522_RUN OUT_DIR="$OUT_DIR/c$c" bash "$HERE/peers/run.sh" >"$OUT_DIR/c$c.log" ||
        die "peers/run.sh failed for CONNS=$c (see $OUT_DIR/c$c.log)"
done

args=()
for c in $CONNS_LIST; do args+=("$c=$OUT_DIR/c$c/results.jsonl"); done
{
    cat "$OUT_DIR/env.txt"
    echo
    python3 "$HERE/lib/summarize_throughput.py" "${args[@]}" --json "$OUT_DIR/summary.json" --env "$OUT_DIR/env.txt"
    echo
    echo "wall time: $(($(date +%s) - t_start)) s; host load at end: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
} | tee "$OUT_DIR/summary.md"
