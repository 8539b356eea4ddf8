#!/usr/bin/env bash
# bench/deadline.sh -- connect-deadline precision under N concurrent pending connects, peak RSS,
# and a healthy origin's latency through the same proxy while those connects are pending.
#
# One blackholed origin (bench/peers/lib/blackhole_origin.py: full accept queue, every SYN dropped)
# and one fast origin (nginx, 100-byte body) sit behind each proxy; requests with Host: bh.test go
# to the blackhole with a DEADLINE_MS connect deadline, every other host to the fast origin:
#   edge522  [[origins]] hosts=["bh.test"] -> blackhole (connect_timeout, failover=false);
#            hosts=["*"] -> fast origin; threads=1, log_level=warn
#   nginx    server_name bh.test -> upstream with the single blackhole server,
#            proxy_connect_timeout; default server -> fast upstream (keepalive pool)
#   haproxy  use_backend bh if { hdr(host) -i bh.test } (timeout connect, retries 0);
#            default_backend -> fast origin; nbthread 1
#   ideal    calibration: benchtool ideal answers 504 exactly DEADLINE_MS after reading each
#            request (no upstream): the floor of this client on this host (no probe)
# Per rep and N, each row in turn (order rotated every rep): the client (benchtool burst) opens N
# connections, then (with the proxy otherwise idle) sends PROBES sequential keep-alive GETs to the
# fast origin through the proxy ("idle"), then fires one GET at bh.test on all N connections and,
# while they are pending, sends the same PROBES GETs again ("during"). Per request: status code
# and lateness = client-observed elapsed - DEADLINE_MS. Peak RSS = VmHWM of the proxy's
# processes, reset (clear_refs 5) before the rep and read after it.
#
# fd budget: RLIMIT_NOFILE's hard limit is 20000 for every process and cannot be raised. A proxy
# with N pending requests holds N client + N origin sockets (+ listeners, logs, probe), so
# N=10,000 cannot fit; the largest N used by default is 9000 (2N+ = 18,000+ fds).
#
# Knobs (env): DEADLINE_MS=1000 N_LIST="1000 9000" REPS=3 PROBES=200 PROBE_GAP_MS=2 COOLDOWN=1
#              SEND_SPREAD_MS=0 (0 = the N GETs back to back; D = paced evenly over D ms, D < deadline)
#              ONLY="ideal edge522 nginx haproxy" CLIENT_CPUS=0 PROXY_CPUS=1 BASE_PORT=61110
#              EDGE522_BIN=build/edge522 OUT_DIR=/tmp/edge522-bench/deadline-<timestamp> KEEP_TMP=0
# Quick run: N_LIST="1000 9000" REPS=1 bench/deadline.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if (($(nproc) >= 2)); then : "${CLIENT_CPUS=0}" "${PROXY_CPUS=1}"; fi
: "${BASE_PORT:=61110}"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

: "${DEADLINE_MS:=1000}"
: "${N_LIST:=1000 9000}"
: "${REPS:=3}"
: "${PROBES:=200}"
: "${PROBE_GAP_MS:=2}"
: "${COOLDOWN:=1}"
: "${SEND_SPREAD_MS:=0}"   # 0 = the N requests back to back; D = paced evenly over D ms
: "${ONLY:=ideal edge522 nginx haproxy}"
: "${OUT_DIR:=/tmp/edge522-bench/deadline-$(date +%Y%m%d-%H%M%S)}"

BH_PORT=$BASE_PORT
FAST_PORT=$((BASE_PORT + 1))
declare -A PORT=([nginx]=$((BASE_PORT + 2)) [haproxy]=$((BASE_PORT + 3)) [edge522]=$((BASE_PORT + 4)) [ideal]=$((BASE_PORT + 5)))

trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
HARD=$(ulimit -Hn)
NFIT=$(((HARD - 200) / 2))   # N client + N origin sockets + a margin of 200 fds
NMAX=0
for n in $N_LIST; do ((n > NMAX)) && NMAX=$n; done
((NMAX <= NFIT)) || die "N=$NMAX needs 2N+200 = $((2 * NMAX + 200)) fds in the proxy; RLIMIT_NOFILE hard limit is $HARD (cannot be raised): use N <= $NFIT"

ensure_deps
make_workdir edge522-bench-dl
mkdir -p "$OUT_DIR"
rows=()
for r in $ONLY; do rows+=("$r"); done
[[ " $ONLY " == *" edge522 "* ]] && ensure_edge522
ensure_benchtool
check_ports_free "$BH_PORT" "$FAST_PORT" "${PORT[@]}"
t_start=$(date +%s)

FD_NOTE="RLIMIT_NOFILE hard limit = $HARD for every process (cannot be raised): a proxy holding N pending requests needs N client + N origin sockets, so N=10,000 (20,000+ fds) cannot fit; the largest N here is $NMAX ($((2 * NMAX)) sockets + listeners/logs)."
{
    env_header
    echo "command: $0 (DEADLINE_MS=$DEADLINE_MS N_LIST=\"$N_LIST\" REPS=$REPS PROBES=$PROBES PROBE_GAP_MS=$PROBE_GAP_MS SEND_SPREAD_MS=$SEND_SPREAD_MS ONLY=\"$ONLY\" CLIENT_CPUS=${CLIENT_CPUS:-any} PROXY_CPUS=${PROXY_CPUS:-any})"
    echo "kernel: tcp_syn_retries=$(cat /proc/sys/net/ipv4/tcp_syn_retries) tcp_syn_linear_timeouts=$(cat /proc/sys/net/ipv4/tcp_syn_linear_timeouts 2>/dev/null || echo n/a) somaxconn=$(cat /proc/sys/net/core/somaxconn) ip_local_port_range=\"$(xargs </proc/sys/net/ipv4/ip_local_port_range)\""
    echo "fd limit: $FD_NOTE"
} | tee "$OUT_DIR/env.txt" >&2

# --- origins
python3 "$LIB_DIR/blackhole_origin.py" "$BH_PORT" >"$WORK/blackhole.out" 2>&1 &
register_pid blackhole $!
for _ in $(seq 50); do grep -q -e READY -e FAILED "$WORK/blackhole.out" && break; sleep 0.1; done
grep -q READY "$WORK/blackhole.out" || die "blackhole origin failed: $(cat "$WORK/blackhole.out")"
BH_FILLERS=$(sed -n 's/.*fillers=//p' "$WORK/blackhole.out")
if curl -s -o /dev/null --connect-timeout 0.3 "http://127.0.0.1:$BH_PORT/"; then die "blackhole check failed: curl connected"; fi
start_origin "$FAST_PORT"
log "blackhole on $BH_PORT ($BH_FILLERS filler), fast origin on $FAST_PORT"

# --- proxies
maxconn=$((NMAX + 500))
for row in "${rows[@]}"; do
    d="$WORK/$row"
    mkdir -p "$d"
    p=${PORT[$row]}
    case $row in
    ideal)
        (pin "$PROXY_CPUS" "$BENCHTOOL" ideal --port "$p" --delay-ms "$DEADLINE_MS" >"$d/stdout.log" 2>&1) &
        register_pid ideal $!
        wait_tcp "$p" || die "ideal responder did not start" ;;
    edge522)
        cat >"$d/edge522.toml" <<EOF
[edge]
listen = ["127.0.0.1:$p"]
threads = 1
log_level = "warn"
[admin]
listen = ""
[[origins]]
name = "blackholed"
hosts = ["bh.test"]
servers = ["127.0.0.1:$BH_PORT"]
connect_timeout = "${DEADLINE_MS}ms"
failover = false
[[origins]]
name = "fast"
hosts = ["*"]
servers = ["127.0.0.1:$FAST_PORT"]
EOF
        start_edge522 edge522 "$p" "$d/edge522.toml" ;;
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
    upstream bh { server 127.0.0.1:$BH_PORT; }
    upstream fast { server 127.0.0.1:$FAST_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:$p backlog=4096 default_server;
        server_name _;
        location / { proxy_pass http://fast; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:$p;
        server_name bh.test;
        location / {
            proxy_pass http://bh;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout ${DEADLINE_MS}ms;
        }
    }
}
EOF
        start_nginx_cfg nginx "$p" "$d/nginx.conf" ;;
    haproxy)
        cat >"$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn $maxconn
defaults
    mode http
    maxconn $maxconn
    timeout connect ${DEADLINE_MS}ms
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 400s
frontend fe
    bind 127.0.0.1:$p backlog 4096
    use_backend bh if { hdr(host) -i bh.test }
    default_backend fast
backend bh
    retries 0
    server bh 127.0.0.1:$BH_PORT
backend fast
    server fast 127.0.0.1:$FAST_PORT
EOF
        start_haproxy_cfg haproxy "$p" "$d/haproxy.cfg" ;;
    *) die "unknown row $row" ;;
    esac
    mkdir -p "$OUT_DIR/configs/$row"
    cp "$d"/*.conf "$d"/*.cfg "$d"/*.toml "$OUT_DIR/configs/$row/" 2>/dev/null || true
done

# sanity: healthy route answers 200; the blackholed route answers at the deadline
for row in "${rows[@]}"; do
    [[ $row == ideal ]] && continue
    p=${PORT[$row]}
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: fast.test' "http://127.0.0.1:$p/")
    [[ $got == 200 ]] || die "$row: fast route answered $got"
    got=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time $((DEADLINE_MS / 1000 + 5)) -H 'Host: bh.test' "http://127.0.0.1:$p/" || true)
    log "$row: fast route 200; blackholed route: $got"
done

listen_overflows() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) n[i] = $i; h = 1 } else for (i = 1; i <= NF; i++) if (n[i] == "ListenOverflows") print $i }' /proc/net/netstat; }
syn_sent_count() { ss -Htn state syn-sent "dport = :$BH_PORT" | wc -l; }

RAW="$OUT_DIR/requests.jsonl"
META="$OUT_DIR/runs.jsonl"
: >"$RAW"
: >"$META"
declare -A IDLE_RSS=()
for row in "${rows[@]}"; do IDLE_RSS[$row]=$(rss_kb "$(pid_of "$row")"); done

for n in $N_LIST; do
    settle=$(awk -v n="$n" 'BEGIN{printf "%.2f", 0.5 + n / 10000}')
    for ((rep = 1; rep <= REPS; rep++)); do
        mapfile -t order < <(rotate_order "$rep" "${rows[@]}")
        for row in "${order[@]}"; do
            pid=$(pid_of "$row")
            kill -0 "$pid" 2>/dev/null || die "$row (pid $pid) is gone: see $WORK/$row/"
            probe=()
            [[ $row != ideal ]] && probe=(--probe-port "${PORT[$row]}" --probe-host fast.test --probe-count "$PROBES" --probe-gap-ms "$PROBE_GAP_MS")
            ovf0=$(listen_overflows)
            hwm_reset "$pid"
            c0=$(cpu_ticks "$pid")
            (pin "$CLIENT_CPUS" "$BENCHTOOL" burst --port "${PORT[$row]}" --n "$n" --host bh.test --label "$row" \
                --rep "$rep" --out "$RAW" --settle "$settle" --send-spread-ms "$SEND_SPREAD_MS" --timeout $((DEADLINE_MS / 1000 + 30)) "${probe[@]}") 2>&1 |
                sed 's/^/    /' >&2
            peak=$(hwm_kb "$pid")
            rss_after=$(rss_kb "$pid")
            sleep "$COOLDOWN"
            ticks=$(($(cpu_ticks "$pid") - c0))   # after the cooldown: includes closing the N connections
            ovf1=$(listen_overflows)
            left=$(syn_sent_count)
            echo "{\"label\":\"$row\",\"n\":$n,\"rep\":$rep,\"idle_rss_kb\":${IDLE_RSS[$row]},\"peak_rss_kb\":$peak,\"rss_after_kb\":$rss_after,\"listen_overflows\":$((ovf1 - ovf0)),\"syn_sent_left\":$left,\"proxy_ticks\":$ticks}" >>"$META"
        done
    done
done
for row in "${rows[@]}"; do
    kill -0 "$(pid_of "$row")" 2>/dev/null || log "WARNING: $row exited during the run"
    mkdir -p "$OUT_DIR/logs/$row"
    cp "$WORK/$row"/*.log "$OUT_DIR/logs/$row/" 2>/dev/null || true
done
q=$(ss -Hltn "sport = :$BH_PORT" | awk '{print $2}')
[[ $q == "$BH_FILLERS" ]] || log "WARNING: blackhole accept queue now holds '$q' (expected $BH_FILLERS)"

{
    cat "$OUT_DIR/env.txt"
    echo
    python3 "$HERE/lib/summarize_deadline.py" "$OUT_DIR" "$DEADLINE_MS" --json "$OUT_DIR/summary.json" --env "$OUT_DIR/env.txt"
    echo
    echo "wall time: $(($(date +%s) - t_start)) s; host load at end: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
} | tee "$OUT_DIR/summary.md"
