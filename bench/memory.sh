#!/usr/bin/env bash
# bench/memory.sh -- RSS per idle keep-alive client connection, edge522 vs nginx vs HAProxy.
#
# Per round, each proxy in turn (order rotated every round) is started fresh in front of the fast
# origin (nginx, 100-byte body), warmed up (WARM connections x 1 GET, then closed), and its RSS
# (VmRSS summed over its processes) is read: "before". Then the client (benchtool idle) opens N
# keep-alive connections, each sends one GET and reads the whole response, at most WINDOW in
# flight at once (so the proxy needs only a few origin connections, from its pool), and holds
# them all open and idle. After SETTLE s the proxy's RSS is read again: "after".
# Reported: (after - before) / N in KiB, per round and median; the target for edge522 is
# <= 10 KiB. The count of proxy->origin connections open at that moment is shown too.
#
# fd budget: RLIMIT_NOFILE hard limit is 20000 per process (cannot be raised); the client holds N
# sockets and the proxy N client sockets + a few origin ones, so N=10,000 fits. HAProxy asks for
# 2 x maxconn fds and refuses to start below that unless told `no strict-limits` (set here: it
# then warns and runs with 20000).
#
# Knobs (env): N=10000 ROUNDS=3 WINDOW=50 WARM=50 SETTLE=2 ONLY="edge522 nginx haproxy"
#              CLIENT_CPUS= PROXY_CPUS= BASE_PORT=61120 EDGE522_BIN=build/edge522
#              OUT_DIR=/tmp/edge522-bench/memory-<timestamp> KEEP_TMP=0
# Quick run: ROUNDS=1 bench/memory.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
: "${BASE_PORT:=61120}"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

: "${N:=10000}"
: "${ROUNDS:=3}"
: "${WINDOW:=50}"
: "${WARM:=50}"
: "${SETTLE:=2}"
: "${ONLY:=edge522 nginx haproxy}"
: "${OUT_DIR:=/tmp/edge522-bench/memory-$(date +%Y%m%d-%H%M%S)}"

ORIGIN_PORT=$BASE_PORT
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2)) [edge522]=$((BASE_PORT + 3)))

trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
HARD=$(ulimit -Hn)
((N + 200 <= HARD)) || die "N=$N client connections need N+200 fds in the client and the proxy; RLIMIT_NOFILE hard limit is $HARD: use N <= $((HARD - 200))"

ensure_deps
make_workdir edge522-bench-mem
mkdir -p "$OUT_DIR"
rows=()
for r in $ONLY; do rows+=("$r"); done
[[ " $ONLY " == *" edge522 "* ]] && ensure_edge522
ensure_benchtool
check_ports_free "$ORIGIN_PORT" "${PORT[@]}"
t_start=$(date +%s)
{
    env_header
    echo "command: $0 (N=$N ROUNDS=$ROUNDS WINDOW=$WINDOW WARM=$WARM SETTLE=$SETTLE ONLY=\"$ONLY\")"
    echo "fd limit: RLIMIT_NOFILE hard limit = $HARD per process (cannot be raised); N=$N idle client connections need N+few fds in the client and in the proxy: fits."
} | tee "$OUT_DIR/env.txt" >&2

start_origin "$ORIGIN_PORT"

write_config() {   # write_config ROW DIR -> config file path
    local row=$1 d=$2 p=${PORT[$1]}
    mkdir -p "$d/tmp"
    case $row in
    edge522)
        cat >"$d/edge522.toml" <<EOF
[edge]
listen = ["127.0.0.1:$p"]
threads = 1
log_level = "warn"
[admin]
listen = ""
[[origins]]
name = "fast"
hosts = ["*"]
servers = ["127.0.0.1:$ORIGIN_PORT"]
EOF
        echo "$d/edge522.toml" ;;
    nginx)
        cat >"$d/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
worker_rlimit_nofile $HARD;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log warn;
events { worker_connections $((HARD - 100)); }
http {
$(nginx_common_http "$d")
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:$p backlog=4096;
        location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
        echo "$d/nginx.conf" ;;
    haproxy)
        cat >"$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn $((N + 100))
    # HAProxy sizes its fd need as 2 x maxconn (> 20000 here) and by default refuses to start
    # when it cannot raise RLIMIT_NOFILE that far; idle clients need only N + a few fds
    no strict-limits
defaults
    mode http
    maxconn $((N + 100))
    timeout connect 5s
    timeout client 400s
    timeout server 30s
    timeout http-keep-alive 400s
frontend fe
    bind 127.0.0.1:$p backlog 4096
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN_PORT
EOF
        echo "$d/haproxy.cfg" ;;
    esac
}

RES="$OUT_DIR/results.jsonl"
: >"$RES"
for ((r = 1; r <= ROUNDS; r++)); do
    mapfile -t order < <(rotate_order "$r" "${rows[@]}")
    for row in "${order[@]}"; do
        d="$WORK/$row-r$r"
        cfg=$(write_config "$row" "$d")
        p=${PORT[$row]}
        case $row in
        edge522) start_edge522 "$row" "$p" "$cfg" ;;
        nginx) start_nginx_cfg "$row" "$p" "$cfg" ;;
        haproxy) start_haproxy_cfg "$row" "$p" "$cfg" ;;
        esac
        pid=$(pid_of "$row")
        mkdir -p "$OUT_DIR/configs/$row"
        cp "$cfg" "$OUT_DIR/configs/$row/"
        # warm-up: WARM connections x 1 GET, then closed
        timeout 60 "$BENCHTOOL" idle --port "$p" --n "$WARM" --window "$WARM" --hold-s 0 >"$d/warm.out" 2>&1 ||
            die "$row: warm-up failed: $(cat "$d/warm.out")"
        sleep 1
        before=$(rss_kb "$pid")
        (pin "$CLIENT_CPUS" "$BENCHTOOL" idle --port "$p" --n "$N" --window "$WINDOW" --hold-s 300 >"$d/idle.out" 2>"$d/idle.err") &
        cpid=$!
        register_pid "client-$row" "$cpid"
        for ((i = 0; i < 1200; i++)); do
            grep -q READY "$d/idle.out" 2>/dev/null && break
            kill -0 "$cpid" 2>/dev/null || die "$row: client failed: $(cat "$d/idle.err")"
            sleep 0.1
        done
        grep -q READY "$d/idle.out" || die "$row: $N connections not ready in 120 s"
        sleep "$SETTLE"
        after=$(rss_kb "$pid")
        clients=$(ss -Htn state established "( sport = :$p )" | wc -l)
        origin_conns=$(ss -Htn state established "( dport = :$ORIGIN_PORT )" | wc -l)
        ready=$(cat "$d/idle.out")
        log "round $r $row: RSS before $before kB, after $after kB, $(awk -v a="$after" -v b="$before" -v n="$N" 'BEGIN{printf "%.2f", (a - b) / n}') KiB/conn; $ready; proxy-side client sockets $clients, origin conns $origin_conns"
        echo "{\"round\":$r,\"label\":\"$row\",\"n\":$N,\"rss_before_kb\":$before,\"rss_after_kb\":$after,\"client_sockets\":$clients,\"origin_conns\":$origin_conns,\"client\":\"$ready\"}" >>"$RES"
        stop_named "client-$row"
        stop_named "$row"
        cp "$d"/*.log "$OUT_DIR/configs/$row/" 2>/dev/null || true
        sleep 1
    done
done

{
    cat "$OUT_DIR/env.txt"
    echo
    python3 - "$RES" "$HERE/lib" "$OUT_DIR/summary.json" "$OUT_DIR/env.txt" <<'PY'
import json, statistics, sys
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, sys.argv[2])
from results_json import Results
js = Results("memory")
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
labels = []
for r in rows:
    if r["label"] not in labels:
        labels.append(r["label"])
print("### RSS per idle keep-alive client connection ((RSS after - RSS before) / N, KiB; RSS summed over the proxy's processes)\n")
print("| proxy | N | rounds | RSS before kB (median) | RSS after kB (median) | KiB / connection (median) | per round | proxy->origin conns at measurement | client result |")
print("|---|---|---|---|---|---|---|---|---|")
res = {}
for lab in labels:
    rs = [r for r in rows if r["label"] == lab]
    per = [(r["rss_after_kb"] - r["rss_before_kb"]) / r["n"] for r in rs]
    res[lab] = statistics.median(per)
    for fig, v, unit in (("kib_per_connection", statistics.median(per), "KiB"),
                         ("kib_per_connection_min", min(per), "KiB"), ("kib_per_connection_max", max(per), "KiB"),
                         ("rss_before_kb", statistics.median(r["rss_before_kb"] for r in rs), "kB"),
                         ("rss_after_kb", statistics.median(r["rss_after_kb"] for r in rs), "kB"),
                         ("origin_conns", statistics.median(r["origin_conns"] for r in rs), "count"),
                         ("rounds", len(rs), "count")):
        js.add(lab, fig, v, unit, n=rs[0]["n"])
    print(f"| {lab} | {rs[0]['n']} | {len(rs)} | {statistics.median(r['rss_before_kb'] for r in rs):.0f} "
          f"| {statistics.median(r['rss_after_kb'] for r in rs):.0f} | {statistics.median(per):.2f} "
          f"| {' / '.join(f'{x:.2f}' for x in per)} | {' / '.join(str(r['origin_conns']) for r in rs)} "
          f"| {rs[-1]['client'].replace('READY ', '')} |")
if "edge522" in res:
    print("\n### Target\n")
    others = ", ".join(f"{l} {res[l]:.2f}" for l in res if l != "edge522")
    print(f"* edge522: {res['edge522']:.2f} KiB per idle connection (target <= 10 KiB: "
          f"{'MET' if res['edge522'] <= 10 else 'NOT met'})" + (f"; {others}" if others else ""))
    js.add("edge522", "target_kib_per_connection", res["edge522"], "KiB", met=res["edge522"] <= 10)
js.write(sys.argv[3], sys.argv[4])
PY
    echo
    echo "wall time: $(($(date +%s) - t_start)) s; host load at end: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
} | tee "$OUT_DIR/summary.md"
