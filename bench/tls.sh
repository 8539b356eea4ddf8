#!/usr/bin/env bash
# bench/tls.sh -- TLS termination: edge522 against nginx and HAProxy, each in front of the same
# plain-HTTP origin as throughput.sh (nginx `return 200`, 100-byte body, keep-alive).
#
# One certificate for all three: a throwaway CA and a leaf for localhost / 127.0.0.1 signed by
# it, both EC P-256, made with openssl in the private work dir. The proxies serve the leaf alone
# (same key, same chain, same bytes on the wire). One worker each (edge522 threads = 1, nginx
# worker_processes 1, HAProxy nbthread 1), no access logs, upstream keep-alive pools on.
#
# Cipher: TLS 1.3, TLS_AES_128_GCM_SHA256, X25519. nginx and HAProxy are told so in their
# configs (ssl_conf_command Ciphersuites + ssl_ecdh_curve; ssl-default-bind-ciphersuites +
# ssl-default-bind-curves). edge522 has no knob for it (OpenSSL defaults), so with CLIENT_PIN=1
# (default) the benchmark clients offer only that suite and group (an OPENSSL_CONF with
# system_default Ciphersuites/Groups, read by wrk's and openssl's libssl). What each proxy picks
# for an unpinned OpenSSL client (and for TLS 1.2), and whether it resumes sessions, is probed
# with openssl s_client first: the "Negotiated" table of summary.md (raw s_client lines in
# OUT_DIR/raw/negotiated-*.txt, parsed in negotiated.jsonl).
#
# Ports: origin BASE_PORT, nginx +1, HAProxy +2, edge522 TLS +3 and its (unused, but required)
# plain listener +4.
#
# Figures, per round (rounds interleaved: every mode runs every proxy, order rotated per round):
#   new       full TLS handshakes per second: NEW_CLIENTS parallel `openssl s_time -new -www /`
#             loops (each: connect, full handshake, `GET / HTTP/1.0`, read to EOF, close; s_time
#             -new never offers a session, and prints '*' per full handshake, 'r' per resumed one:
#             the marks are the count). s_time stops at its first failed connection; the slot
#             then counts one failure and starts another s_time for the time left. wrk cannot be
#             used for this: it keeps the TLS session across reconnects, so wrk -H 'Connection:
#             close' resumes (checked: nginx logged $ssl_session_reused = r for all but the first
#             handshake). s_time is a costly client (~1.1-1.3 ms of CPU per handshake here, about
#             2.5x the proxies'), so on 2 cores handshakes/s is bound by the client: compare the
#             proxies' CPU per handshake first.
#   resumed   wrk -t1 -c NEW_CLIENTS -H 'Connection: close': one TLS 1.3 resumption (PSK + X25519,
#             no certificate, no signature) per request -- what returning clients do. wrk counts a
#             failed TLS handshake as a "connect" error.
#   keepalive wrk -t1 -c CONNS over TLS, keep-alive: req/s, p50/p99.
#   CPU       utime+stime of the proxy's processes (/proc/PID/stat, nginx master + worker) over
#             the run / requests (or handshakes), as throughput.sh does.
#
# Knobs (env): DURATION=10 ROUNDS=3 WARMUP=2 CONNS=50 NEW_CLIENTS=8 MODES="new resumed keepalive"
#              ONLY="edge522 nginx haproxy" CLIENT_PIN=1 COOLDOWN=1 MAX_LOAD= (wait until the
#              1-min load is below it, up to MAX_LOAD_WAIT=900 s) CLIENT_CPUS= PROXY_CPUS=
#              ORIGIN_CPUS= BASE_PORT=61150 EDGE522_BIN=build/edge522
#              OUT_DIR=/tmp/edge522-bench/tls-<timestamp> KEEP_TMP=0
# Quick run: DURATION=3 ROUNDS=1 WARMUP=1 bench/tls.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in bench/lib
: "${BASE_PORT:=61150}"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

: "${DURATION:=10}"
: "${ROUNDS:=3}"
: "${WARMUP:=2}"
: "${CONNS:=50}"
: "${NEW_CLIENTS:=8}"
: "${MODES:=new resumed keepalive}"
: "${ONLY:=edge522 nginx haproxy}"
: "${CLIENT_PIN:=1}"
: "${COOLDOWN:=1}"
: "${MAX_LOAD:=}"
: "${MAX_LOAD_WAIT:=900}"
: "${OUT_DIR:=/tmp/edge522-bench/tls-$(date +%Y%m%d-%H%M%S)}"

SUITE=TLS_AES_128_GCM_SHA256
GROUP=X25519
ORIGIN_PORT=$BASE_PORT
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2)) [edge522]=$((BASE_PORT + 3)))
EDGE_PLAIN_PORT=$((BASE_PORT + 4))   # edge522 needs a plain listener too ([edge].listen = [] is an error); unused

trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ensure_deps
command -v openssl >/dev/null 2>&1 || die "openssl missing"
make_workdir edge522-bench-tls
mkdir -p "$OUT_DIR/raw" "$OUT_DIR/configs"
rows=()
for r in $ONLY; do rows+=("$r"); done
((${#rows[@]} > 0)) || die "ONLY is empty"
[[ " $ONLY " == *" edge522 "* ]] && ensure_edge522
check_ports_free "$ORIGIN_PORT" "$EDGE_PLAIN_PORT" "${PORT[@]}"

if [[ -n $MAX_LOAD ]]; then
    for ((i = 0; i < MAX_LOAD_WAIT; i += 10)); do
        awk -v m="$MAX_LOAD" '{exit !($1 < m)}' /proc/loadavg && break
        ((i % 60 == 0)) && log "1-min load $(cut -d' ' -f1 /proc/loadavg) >= MAX_LOAD=$MAX_LOAD; waiting (up to ${MAX_LOAD_WAIT}s)"
        sleep 10
    done
    awk -v m="$MAX_LOAD" '{exit !($1 < m)}' /proc/loadavg || log "load still $(cut -d' ' -f1 /proc/loadavg) after ${MAX_LOAD_WAIT}s; running anyway"
fi

t_start=$(date +%s)
{
    env_header
    echo "openssl: $(openssl version)  (nginx, HAProxy, edge522, wrk and s_time all link the system libssl)"
    echo "command: $0 (DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP CONNS=$CONNS NEW_CLIENTS=$NEW_CLIENTS MODES=\"$MODES\" ONLY=\"$ONLY\" CLIENT_PIN=$CLIENT_PIN CLIENT_CPUS=${CLIENT_CPUS:-any} PROXY_CPUS=${PROXY_CPUS:-any})"
} | tee "$OUT_DIR/env.txt" >&2

# ------------------------------------------------------------------ certificate --
TLSD="$WORK/tls"
mkdir -p "$TLSD"
(
    cd "$TLSD"
    openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem
    openssl req -x509 -new -key ca-key.pem -sha256 -days 7 -subj "/CN=edge522 bench CA" -out ca.pem
    openssl ecparam -name prime256v1 -genkey -noout -out key.pem
    openssl req -new -key key.pem -subj "/CN=localhost" -out leaf.csr
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" "basicConstraints=CA:FALSE" \
        "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >leaf.ext
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 7 -sha256 \
        -extfile leaf.ext -out cert.pem
    cat cert.pem key.pem >combined.pem   # HAProxy wants both in one file
) >"$TLSD/openssl.log" 2>&1 || die "certificate generation failed: $(cat "$TLSD/openssl.log")"
chmod 644 "$TLSD"/*.pem
CERT="$TLSD/cert.pem" KEY="$TLSD/key.pem" COMBINED="$TLSD/combined.pem"
mkdir -p "$OUT_DIR/configs/tls" && cp "$TLSD/ca.pem" "$CERT" "$OUT_DIR/configs/tls/"
log "certificate: $(openssl x509 -in "$CERT" -noout -subject -ext subjectAltName 2>/dev/null | tr '\n' ' '), EC P-256, signed by a throwaway CA"

# client side: what wrk and s_time offer (OPENSSL_CONF replaces the system openssl.cnf for them)
CLIENT_CONF="$WORK/client-openssl.cnf"
cat >"$CLIENT_CONF" <<EOF
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Ciphersuites = $SUITE
Groups = $GROUP
EOF
client_env() { if [[ $CLIENT_PIN == 1 ]]; then echo "OPENSSL_CONF=$CLIENT_CONF"; else echo "EDGE522_BENCH_UNPINNED=1"; fi; }

# ---------------------------------------------------------------------- servers --
start_origin "$ORIGIN_PORT"
ORIGIN_PID=${STARTED_PIDS[-1]}

write_config() {   # write_config ROW DIR -> config path
    local row=$1 d=$2 p=${PORT[$1]}
    mkdir -p "$d/tmp"
    case $row in
    edge522)
        cat >"$d/edge522.toml" <<EOF
[edge]
listen = ["127.0.0.1:$EDGE_PLAIN_PORT"]   # unused; [] is an error
listen_tls = ["127.0.0.1:$p"]
cert = "$CERT"
key = "$KEY"
threads = 1
access_log = "off"
log_level = "warn"
[admin]
listen = ""
[[origins]]
name = "app"
hosts = ["*"]
servers = ["127.0.0.1:$ORIGIN_PORT"]
failover = false
EOF
        echo "$d/edge522.toml" ;;
    nginx)
        cat >"$d/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
worker_rlimit_nofile 16384;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
$(nginx_common_http "$d")
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive $((CONNS > 128 ? CONNS : 128));
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$p ssl backlog=4096;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.3 TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
        ssl_conf_command Ciphersuites $SUITE;
        ssl_ecdh_curve $GROUP;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
        echo "$d/nginx.conf" ;;
    haproxy)
        cat >"$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
    ssl-default-bind-ciphersuites $SUITE
    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256
    ssl-default-bind-curves $GROUP
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    maxconn 8000
    option http-keep-alive
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 75s
frontend fe
    bind 127.0.0.1:$p ssl crt $COMBINED alpn http/1.1 backlog 4096
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN_PORT
EOF
        echo "$d/haproxy.cfg" ;;
    esac
}

declare -A PID_OF=()
for row in "${rows[@]}"; do
    d="$WORK/$row"
    cfg=$(write_config "$row" "$d")
    case $row in
    edge522) start_edge522 "$row" "$EDGE_PLAIN_PORT" "$cfg"
             wait_tcp "${PORT[$row]}" 5 || die "edge522 not listening on ${PORT[$row]} (see $d/stderr.log)"
             grep -qs "listening on https://127.0.0.1:${PORT[$row]}" "$d/stdout.log" "$d/stderr.log" ||
                 log "warning: no 'listening on https://127.0.0.1:${PORT[$row]}' line from edge522" ;;
    nginx) start_nginx_cfg "$row" "${PORT[$row]}" "$cfg" ;;
    haproxy) start_haproxy_cfg "$row" "${PORT[$row]}" "$cfg" ;;
    *) die "unknown row $row" ;;
    esac
    PID_OF[$row]=$(pid_of "$row")
    mkdir -p "$OUT_DIR/configs/$row" && cp "$cfg" "$OUT_DIR/configs/$row/"
done

# ----------------------------------------------------------- sanity and probes --
declare -A RESP_BYTES=()
for row in "${rows[@]}"; do
    p=${PORT[$row]}
    got=$(curl -s --cacert "$TLSD/ca.pem" -w ' %{http_code} %{ssl_verify_result}' --max-time 5 "https://localhost:$p/" --resolve "localhost:$p:127.0.0.1") ||
        die "$row: curl over TLS failed"
    [[ $got == "$ORIGIN_BODY 200 0" ]] || die "$row: unexpected answer over TLS: $got"
    # the HTTP/1.0 request s_time sends; its byte count checks s_time's 'bytes read per connection'
    RESP_BYTES[$row]=$(printf 'GET / HTTP/1.0\r\n\r\n' | env "$(client_env)" timeout 10 openssl s_client -quiet -connect "127.0.0.1:$p" 2>/dev/null | wc -c)
    ((RESP_BYTES[$row] > ${#ORIGIN_BODY})) || die "$row: no answer to GET / HTTP/1.0 over TLS"
done
log "all proxies answer 200 with the ${#ORIGIN_BODY}-byte body over TLS (certificate verified against the bench CA)"

NEG="$OUT_DIR/negotiated.jsonl"
: >"$NEG"
probe() {   # probe ROW VARIANT ENV s_client-args... -> one JSON line in $NEG, raw lines in raw/negotiated-ROW.txt
    local row=$1 variant=$2 envv=$3 out proto cipher tmp alpn
    shift 3
    out=$( (sleep 0.3) | env "$envv" timeout 10 openssl s_client -connect "127.0.0.1:${PORT[$row]}" -servername localhost -alpn http/1.1 "$@" 2>&1) || true
    { echo "## $variant: openssl s_client $*"; grep -E 'Cipher|Protocol|Server Temp Key|ALPN|^New|^Reused' <<<"$out" || true; } >>"$OUT_DIR/raw/negotiated-$row.txt"
    proto=$(sed -n 's/^ *Protocol *: *//p' <<<"$out" | head -1)
    cipher=$(sed -n 's/^\(New\|Reused\), [^,]*, Cipher is //p' <<<"$out" | head -1)
    tmp=$(sed -n 's/^Server Temp Key: //p' <<<"$out" | head -1)
    alpn=$(sed -n 's/^ALPN protocol: //p' <<<"$out" | head -1)
    printf '{"target":"%s","variant":"%s","protocol":"%s","cipher":"%s","temp_key":"%s","alpn":"%s"}\n' \
        "$row" "$variant" "$proto" "$cipher" "$tmp" "$alpn" >>"$NEG"
}
for row in "${rows[@]}"; do
    : >"$OUT_DIR/raw/negotiated-$row.txt"
    probe "$row" "bench client ($( [[ $CLIENT_PIN == 1 ]] && echo "offers $SUITE, $GROUP only" || echo unpinned))" "$(client_env)"
    probe "$row" "OpenSSL default client (TLS 1.3)" "EDGE522_BENCH_UNPINNED=1"
    probe "$row" "OpenSSL default client, TLS 1.2 only" "EDGE522_BENCH_UNPINNED=1" -tls1_2
    # resumption: a session (with its TLS 1.3 ticket) saved, then offered on a new connection
    s="$WORK/sess-$row"
    (sleep 0.5) | env "$(client_env)" timeout 10 openssl s_client -connect "127.0.0.1:${PORT[$row]}" -sess_out "$s" >/dev/null 2>&1 || true
    res=$( (sleep 0.5) | env "$(client_env)" timeout 10 openssl s_client -connect "127.0.0.1:${PORT[$row]}" -sess_in "$s" 2>/dev/null | grep -oE '^(New|Reused)' | head -1) || true
    printf '{"target":"%s","variant":"resumption","resumed":"%s"}\n' "$row" "${res:-?}" >>"$NEG"
done
log "negotiated: $(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["variant"].startswith("bench"): print(d["target"], d["protocol"], d["cipher"], d["temp_key"], end="; ")
' "$NEG")"

# ------------------------------------------------------------------- clients --
unregister_named() {   # forget the registry entries under NAME (processes already reaped)
    local i
    for i in "${!STARTED_NAMES[@]}"; do
        [[ ${STARTED_NAMES[$i]} == "$1" ]] && unset 'STARTED_NAMES[i]' 'STARTED_PIDS[i]'
    done
    return 0
}

# new_slot END_NS PORT OUT -- one client slot: `openssl s_time -new` until END_NS. s_time gives up
# for good at its first failed connection (and then prints no summary), so a failed run is counted
# and the slot starts another one for the time left.
new_slot() {
    local end=$1 port=$2 out=$3 fails=0 rem
    while :; do
        rem=$(((end - $(date +%s%N)) / 1000000000))
        ((rem >= 1)) || break
        env "$(client_env)" openssl s_time -connect "127.0.0.1:$port" -new -www / -time "$rem" >>"$out" 2>&1 || fails=$((fails + 1))
    done
    echo "FAILED_RUNS $fails" >>"$out"
}

# run_new PORT SECONDS OUT -> OUT.sum: "count wall_s full resumed bytes_per_conn failed_runs"; client CPU in OUT.cpu
# count = the '*' (full handshake) and 'r' (resumed) marks s_time prints per completed connection,
# so a run that failed later still counts what it completed.
run_new() {
    local port=$1 secs=$2 f=$3 i pids=() t0 t1 TIMEFORMAT='%U %S'
    t0=$(date +%s%N)
    { time {
        for ((i = 0; i < NEW_CLIENTS; i++)); do
            : >"$f.$i"
            (pin "$CLIENT_CPUS" bash -c "$(declare -f new_slot client_env); CLIENT_PIN=$CLIENT_PIN CLIENT_CONF=$(printf %q "$CLIENT_CONF") new_slot $((t0 + secs * 1000000000)) $port $(printf %q "$f.$i")") &
            pids+=($!)
            register_pid client $!
        done
        for i in "${pids[@]}"; do wait "$i" || true; done
    }; } 2>"$f.cpu"
    t1=$(date +%s%N)
    unregister_named client
    local count=0 full=0 resumed=0 bytes=0 conns=0 failed=0 n b c
    for ((i = 0; i < NEW_CLIENTS; i++)); do
        while read -r n b; do
            conns=$((conns + n)) bytes=$((bytes + n * b))
        done < <(sed -n 's/^\([0-9]*\) connections in [0-9]* real seconds, \([0-9]*\) bytes read per connection.*/\1 \2/p' "$f.$i")
        c=$(grep -E '^[*r]+$' "$f.$i" | tr -d '\n' || true)
        full=$((full + $(tr -cd '*' <<<"$c" | wc -c)))
        resumed=$((resumed + $(tr -cd 'r' <<<"$c" | wc -c)))
        failed=$((failed + $(sed -n 's/^FAILED_RUNS //p' "$f.$i" | tail -1)))
    done
    count=$((full + resumed))
    echo "$count $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b - a) / 1e9}') $full $resumed $((conns ? bytes / conns : 0)) $failed" >"$f.sum"
}

run_wrk() {   # run_wrk PORT CONNS SECONDS OUT [wrk args...] -> WRKJSON line in OUT, client CPU in OUT.cpu
    local port=$1 c=$2 secs=$3 f=$4 TIMEFORMAT='%U %S'
    shift 4
    { time { (pin "$CLIENT_CPUS" env "$(client_env)" wrk -t1 -c"$c" -d"$secs"s --latency -s "$BENCH_DIR/lib/wrk-report.lua" "$@" "https://127.0.0.1:$port/") >"$f" 2>&1; }; } 2>"$f.cpu"
}

measure() {   # measure ROUND MODE ROW SECONDS OUTFILE [jsonl] -> appends one JSON object to RES unless jsonl=""
    local r=$1 mode=$2 row=$3 secs=$4 f=$5 res=${6:-} p=${PORT[$3]} pid=${PID_OF[$3]} p0 p1 o0 o1 hb0 ht0 hs0 hb1 ht1 hs1 j
    o0=$(cpu_ticks "$ORIGIN_PID"); p0=$(cpu_ticks "$pid")
    read -r hb0 ht0 hs0 < <(host_cpu_jiffies)
    case $mode in
    new)
        run_new "$p" "$secs" "$f"
        read -r n wall full resumed bpc failed <"$f.sum"
        j="\"requests\":$n,\"duration_s\":$wall,\"rps\":$(awk -v n="$n" -v w="$wall" 'BEGIN{printf "%.2f", (w > 0 ? n / w : 0)}'),\"full_handshakes\":$full,\"resumed_handshakes\":$resumed,\"bytes_per_conn\":$bpc,\"expected_bytes_per_conn\":${RESP_BYTES[$row]},\"failed_runs\":$failed,\"clients\":$NEW_CLIENTS"
        ;;
    resumed)
        run_wrk "$p" "$NEW_CLIENTS" "$secs" "$f" -H 'Connection: close'
        j=$(sed -n 's/^WRKJSON {//p' "$f"); [[ -n $j ]] || die "$row $mode: no WRKJSON line in $f: $(head -c 300 "$f")"
        j="${j%\}},\"clients\":$NEW_CLIENTS"
        ;;
    keepalive)
        run_wrk "$p" "$CONNS" "$secs" "$f"
        j=$(sed -n 's/^WRKJSON {//p' "$f"); [[ -n $j ]] || die "$row $mode: no WRKJSON line in $f: $(head -c 300 "$f")"
        j="${j%\}},\"conns\":$CONNS"
        ;;
    esac
    read -r hb1 ht1 hs1 < <(host_cpu_jiffies)
    o1=$(cpu_ticks "$ORIGIN_PID"); p1=$(cpu_ticks "$pid")
    kill -0 "$pid" 2>/dev/null || die "$row exited during $mode (see $WORK/$row/)"
    [[ -n $res ]] || return 0
    local wcpu hbusy
    wcpu=$(awk '{print $1 + $2}' "$f.cpu")
    hbusy=$(awk -v b=$((hb1 - hb0)) -v t=$((ht1 - ht0)) 'BEGIN{printf "%.1f", t ? 100 * b / t : 0}')
    echo "{\"round\":$r,\"mode\":\"$mode\",\"target\":\"$row\",\"proxy_ticks\":$((p1 - p0)),\"origin_ticks\":$((o1 - o0)),\"client_cpu_s\":$wcpu,\"host_busy_pct\":$hbusy,$j}" >>"$res"
    python3 "$HERE/lib/summarize_tls.py" --line "$(tail -1 "$res")" >&2
}

RES="$OUT_DIR/results.jsonl"
: >"$RES"
if ((WARMUP > 0)); then
    for row in "${rows[@]}"; do
        for mode in $MODES; do
            log "warm-up $row $mode ${WARMUP}s"
            measure 0 "$mode" "$row" "$WARMUP" "$OUT_DIR/raw/warmup-$mode-$row.txt"
        done
    done
fi
for ((r = 1; r <= ROUNDS; r++)); do
    mapfile -t order < <(rotate_order "$r" "${rows[@]}")
    for mode in $MODES; do
        for row in "${order[@]}"; do
            measure "$r" "$mode" "$row" "$DURATION" "$OUT_DIR/raw/r$r-$mode-$row.txt" "$RES"
            sleep "$COOLDOWN"
        done
    done
done

# anything the proxies complained about during the run
for row in "${rows[@]}"; do
    for lf in "$WORK/$row"/*.log; do
        [[ -s $lf ]] || continue
        cp "$lf" "$OUT_DIR/configs/$row/"
    done
done

{
    cat "$OUT_DIR/env.txt"
    echo
    python3 "$HERE/lib/summarize_tls.py" "$RES" --negotiated "$NEG" --json "$OUT_DIR/summary.json" --env "$OUT_DIR/env.txt"
    echo
    for row in "${rows[@]}"; do
        n=$(cat "$WORK/$row"/error.log "$WORK/$row"/stderr.log 2>/dev/null | grep -vc '^\s*$' || true)
        ((n > 0)) && echo "* $row logged $n line(s) (warn and above) during the run; first: \`$(cat "$WORK/$row"/error.log "$WORK/$row"/stderr.log 2>/dev/null | grep -v '^\s*$' | head -1 | cut -c1-200)\`"
    done
    echo "wall time: $(($(date +%s) - t_start)) s; host load at end: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
} | tee "$OUT_DIR/summary.md"
