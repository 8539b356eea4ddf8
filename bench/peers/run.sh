#!/usr/bin/env bash
# bench-ref/run.sh -- HTTP reverse-proxy throughput/latency reference benchmark.
#
# Starts a fast origin (nginx `return 200`, 100-byte body, keep-alive) and the
# proxies under test in front of it, then drives wrk against every target,
# interleaved (round r runs all targets, order rotated each round) so slow drift
# of the machine hits every target equally.  Prints median req/s, p50/p99
# latency, ratio to direct, CPU per request.
#
# Targets:  direct   wrk -> origin
#           nginx    wrk -> nginx (upstream keepalive pool, proxy_http_version 1.1) -> origin
#           haproxy  wrk -> haproxy (mode http) -> origin
#           edge522  only if EDGE522_BIN (or PROXY_CMD) is set -- see lib/common.sh
#           edge522-log  with EDGE522_BIN and EDGE522_LOG_ROW=1: the same edge522 with its access
#                    log on (log_level "info", access_log to a file in its work dir), to measure
#                    what the log costs
#
# Knobs (env):  DURATION=10  ROUNDS=3  CONNS=50  WRK_THREADS=1  WARMUP=2  COOLDOWN=1
#               ROTATE=1  ONLY="direct nginx haproxy edge522"  BASE_PORT=61080
#               PROXY_WORKERS=1  NGINX_KEEPALIVE=128  ORIGIN_CPUS= PROXY_CPUS= CLIENT_CPUS=  (taskset lists)
#               EDGE522_BIN=  EDGE522_CONFIG_TEMPLATE=  PROXY_CMD=  PROXY_PORT=  PROXY_NAME=
#               EDGE522_LOG_ROW=0 (1: add the edge522-log row, on PROXY_LOG_PORT=BASE_PORT+4)
#               OUT_DIR=/tmp/bench-ref-out/run-<timestamp>   KEEP_TMP=0
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

: "${DURATION:=10}"
: "${ROUNDS:=3}"
: "${CONNS:=50}"
: "${WRK_THREADS:=1}"
: "${WARMUP:=2}"
: "${COOLDOWN:=1}"
: "${ROTATE:=1}"
: "${ONLY:=}"
: "${EDGE522_LOG_ROW:=0}"
: "${OUT_DIR:=/tmp/bench-ref-out/run-$(date +%Y%m%d-%H%M%S)}"

ORIGIN_PORT=$BASE_PORT
NGINX_PORT=$((BASE_PORT + 1))
HAPROXY_PORT=$((BASE_PORT + 2))
: "${PROXY_PORT:=$((BASE_PORT + 3))}"
: "${PROXY_LOG_PORT:=$((BASE_PORT + 4))}"

trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # hard limit here is 20000

mkdir -p "$OUT_DIR/raw"
make_workdir bench-ref-run

targets=(direct nginx haproxy)
custom_enabled && targets+=("$(custom_name)")
if [[ $EDGE522_LOG_ROW == 1 ]]; then
    [[ -n $EDGE522_BIN ]] || die "EDGE522_LOG_ROW=1 needs EDGE522_BIN"
    targets+=(edge522-log)
fi
if [[ -n $ONLY ]]; then
    sel=()
    for t in "${targets[@]}"; do [[ " $ONLY " == *" $t "* ]] && sel+=("$t"); done
    targets=("${sel[@]}")
fi
((${#targets[@]} > 0)) || die "no targets selected"
if ! custom_enabled; then log "EDGE522_BIN / PROXY_CMD unset: edge522 row skipped"; fi

declare -A PORT=([direct]=$ORIGIN_PORT [nginx]=$NGINX_PORT [haproxy]=$HAPROXY_PORT)
declare -A PPID_OF=()
check_ports_free "$ORIGIN_PORT" "$NGINX_PORT" "$HAPROXY_PORT"

start_origin "$ORIGIN_PORT"
ORIGIN_PID=${STARTED_PIDS[-1]}
for t in "${targets[@]}"; do
    case $t in
    direct) ;;
    nginx)   start_nginx_proxy nginx "$NGINX_PORT" "$ORIGIN_PORT" 5s; PPID_OF[nginx]=${STARTED_PIDS[-1]} ;;
    haproxy) start_haproxy haproxy "$HAPROXY_PORT" "$ORIGIN_PORT" 5s default; PPID_OF[haproxy]=${STARTED_PIDS[-1]} ;;
    edge522-log)
             # The same template with the access log on: every request formats and writes a line.
             check_ports_free "$PROXY_LOG_PORT"
             sed -e 's|^log_level = .*|log_level = "info"\naccess_log = "@WORKDIR@/access.log"|' \
                 "$EDGE522_CONFIG_TEMPLATE" >"$WORK/edge522-log.toml.in"
             grep -q '^access_log = ' "$WORK/edge522-log.toml.in" || die "no log_level line in $EDGE522_CONFIG_TEMPLATE"
             EDGE522_CONFIG_TEMPLATE="$WORK/edge522-log.toml.in" start_custom "$t" "$PROXY_LOG_PORT" "$ORIGIN_PORT" 5000
             PORT[$t]=$PROXY_LOG_PORT; PPID_OF[$t]=${STARTED_PIDS[-1]} ;;
    *)       check_ports_free "$PROXY_PORT"
             start_custom "$t" "$PROXY_PORT" "$ORIGIN_PORT" 5000
             PORT[$t]=$PROXY_PORT; PPID_OF[$t]=${STARTED_PIDS[-1]} ;;
    esac
done

# sanity: every target answers 200 with the 100-byte body
for t in "${targets[@]}"; do
    got=$(curl -s -w ' %{http_code}' --max-time 5 "http://127.0.0.1:${PORT[$t]}/") || die "$t: curl failed"
    [[ $got == "$ORIGIN_BODY 200" ]] || die "$t: unexpected response: $got"
done
log "all targets answer 200 with the ${#ORIGIN_BODY}-byte body"
if [[ -n ${PORT[edge522-log]:-} ]]; then
    # The log row must log: its lines are written at least every second.
    for _ in 1 2 3 4 5 6; do [[ -s $WORK/edge522-log/access.log ]] && break; sleep 0.5; done
    grep -q ' 200 ' "$WORK/edge522-log/access.log" || die "edge522-log wrote no access log line (see $WORK/edge522-log)"
fi

{
    echo "date: $(date -Is)"
    echo "host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "nginx: $(nginx -v 2>&1)"
    echo "haproxy: $(haproxy -v 2>&1 | head -1)"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "params: DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS WRK_THREADS=$WRK_THREADS WARMUP=$WARMUP ROTATE=$ROTATE PROXY_WORKERS=$PROXY_WORKERS PIN_WORKERS=$PIN_WORKERS NGINX_KEEPALIVE=$NGINX_KEEPALIVE ORIGIN_CPUS=${ORIGIN_CPUS:-any} PROXY_CPUS=${PROXY_CPUS:-any} CLIENT_CPUS=${CLIENT_CPUS:-any}"
    echo "targets: ${targets[*]}"
} | tee "$OUT_DIR/env.txt" >&2
for d in "$WORK"/*/; do   # keep a copy of every generated config next to the results
    mkdir -p "$OUT_DIR/configs/$(basename "$d")"
    cp "$d"/*.conf "$d"/*.cfg "$d"/*.toml "$d"/cmdline "$OUT_DIR/configs/$(basename "$d")/" 2>/dev/null || true
done

run_wrk() {   # run_wrk URL SECONDS OUTFILE   (wrk's own user+sys CPU seconds -> OUTFILE.cpu)
    local TIMEFORMAT='%U %S'
    { time { (pin "$CLIENT_CPUS" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$2"s --latency -s "$LIB_DIR/wrk-report.lua" "$1") >"$3" 2>&1; }; } 2>"$3.cpu"
}

if ((WARMUP > 0)); then
    for t in "${targets[@]}"; do
        log "warm-up $t ${WARMUP}s"
        run_wrk "http://127.0.0.1:${PORT[$t]}/" "$WARMUP" "$OUT_DIR/raw/warmup-$t.txt"
    done
fi

RES="$OUT_DIR/results.jsonl"
: >"$RES"
seq=0
n=${#targets[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
        if [[ $ROTATE == 1 ]]; then t=${targets[$(((k + r - 1) % n))]}; else t=${targets[$k]}; fi
        seq=$((seq + 1))
        f="$OUT_DIR/raw/r$r-$seq-$t.txt"
        pp=${PPID_OF[$t]:-}
        o0=$(cpu_ticks "$ORIGIN_PID"); p0=""; [[ -n $pp ]] && p0=$(cpu_ticks "$pp")
        read -r hb0 ht0 hs0 < <(host_cpu_jiffies)
        run_wrk "http://127.0.0.1:${PORT[$t]}/" "$DURATION" "$f"
        read -r hb1 ht1 hs1 < <(host_cpu_jiffies)
        o1=$(cpu_ticks "$ORIGIN_PID"); p1=""; [[ -n $pp ]] && p1=$(cpu_ticks "$pp")
        j=$(sed -n 's/^WRKJSON //p' "$f")
        [[ -n $j ]] || die "no WRKJSON line in $f"
        ptk=null; [[ -n $pp ]] && ptk=$((p1 - p0))
        wcpu=$(awk '{print $1 + $2}' "$f.cpu")
        hbusy=$(awk -v b=$((hb1 - hb0)) -v t=$((ht1 - ht0)) 'BEGIN{printf "%.1f", t ? 100 * b / t : 0}')
        hsteal=$(awk -v b=$((hs1 - hs0)) -v t=$((ht1 - ht0)) 'BEGIN{printf "%.1f", t ? 100 * b / t : 0}')
        echo "{\"seq\":$seq,\"round\":$r,\"target\":\"$t\",\"proxy_ticks\":$ptk,\"origin_ticks\":$((o1 - o0)),\"client_cpu_s\":$wcpu,\"host_busy_pct\":$hbusy,\"host_steal_pct\":$hsteal,${j#\{}" >>"$RES"
        log "round $r/$ROUNDS $t: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%s req/s  p50 %.3f ms  p99 %.3f ms" % (format(d["rps"], ",.0f"), d["p50_us"]/1000, d["p99_us"]/1000))' "$j")"
        sleep "$COOLDOWN"
    done
done

python3 "$LIB_DIR/summarize_wrk.py" "$RES" | tee "$OUT_DIR/summary.md"
echo
echo "raw output: $OUT_DIR"
