#!/usr/bin/env bash
# bench/large.sh -- large downloads and uploads through each proxy (and direct): MB/s, proxy CPU,
# and the proxy's peak RSS (does memory stay constant with the transfer size?).
#
# Origins: downloads from nginx serving a sparse file of SIZE MiB (truncate, in the private temp
# dir, deleted on exit; sendfile on); uploads to benchtool sink, which reads and discards the
# body (Content-Length or chunked) and answers 200. Each proxy routes by Host:
#   dl.test -> the nginx file origin, ul.test -> the sink.
#   edge522  threads=1, log_level=warn, two [[origins]]
#   nginx    1 worker, two server blocks; proxy_request_buffering off, client_max_body_size 0
#            (streams the upload like the others), proxy_max_temp_file_size 0 (the download is
#            relayed through the in-memory proxy_buffers, never spooled to a temp file)
#   haproxy  nbthread 1, hdr(host) ACL
#   direct   curl straight to the origin / the sink
# Client: curl -o /dev/null (download), curl -X POST -T FILE -H 'Expect:' (upload: streams the
# file from disk, never reads it into memory). Order rotated every round; per transfer the proxy's
# VmHWM is reset (clear_refs 5) before and read after: the exact peak RSS during that transfer.
#
# Knobs (env): SIZES_MB="128 1024" ROUNDS=3 ONLY="direct edge522 nginx haproxy" BASE_PORT=61130
#              CLIENT_CPUS= PROXY_CPUS= EDGE522_BIN=build/edge522
#              OUT_DIR=/tmp/edge522-bench/large-<timestamp> KEEP_TMP=0
# Quick run: SIZES_MB=256 ROUNDS=1 bench/large.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
: "${BASE_PORT:=61130}"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

: "${SIZES_MB:=128 1024}"
: "${ROUNDS:=3}"
: "${ONLY:=direct edge522 nginx haproxy}"
: "${OUT_DIR:=/tmp/edge522-bench/large-$(date +%Y%m%d-%H%M%S)}"

DL_PORT=$BASE_PORT
UL_PORT=$((BASE_PORT + 1))
declare -A PORT=([nginx]=$((BASE_PORT + 2)) [haproxy]=$((BASE_PORT + 3)) [edge522]=$((BASE_PORT + 4)))

trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ensure_deps
make_workdir edge522-bench-large
mkdir -p "$OUT_DIR"
rows=()
for r in $ONLY; do rows+=("$r"); done
[[ " $ONLY " == *" edge522 "* ]] && ensure_edge522
ensure_benchtool
check_ports_free "$DL_PORT" "$UL_PORT" "${PORT[@]}"
t_start=$(date +%s)
{
    env_header
    echo "command: $0 (SIZES_MB=\"$SIZES_MB\" ROUNDS=$ROUNDS ONLY=\"$ONLY\" CLIENT_CPUS=${CLIENT_CPUS:-any} PROXY_CPUS=${PROXY_CPUS:-any})"
} | tee "$OUT_DIR/env.txt" >&2

# --- the files (sparse: no disk blocks, reads come from zero pages), deleted with $WORK
mkdir -p "$WORK/files"
for s in $SIZES_MB; do truncate -s "${s}M" "$WORK/files/f$s.bin"; done

# --- download origin: nginx with sendfile
d="$WORK/dl-origin"
mkdir -p "$d/tmp"
cat >"$d/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
$(nginx_common_http "$d")
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$DL_PORT;
        root $WORK/files;
    }
}
EOF
(nginx -p "$d/" -e "$d/error.log" -c "$d/nginx.conf") &
register_pid dl-origin $!
wait_tcp "$DL_PORT" || die "download origin did not start"
# --- upload origin: benchtool sink
("$BENCHTOOL" sink --port "$UL_PORT" >"$WORK/sink.log" 2>&1) &
register_pid ul-origin $!
wait_tcp "$UL_PORT" || die "upload sink did not start"

# --- proxies
for row in "${rows[@]}"; do
    [[ $row == direct ]] && continue
    d="$WORK/$row"
    mkdir -p "$d/tmp"
    p=${PORT[$row]}
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
name = "download"
hosts = ["dl.test"]
servers = ["127.0.0.1:$DL_PORT"]
[[origins]]
name = "upload"
hosts = ["ul.test"]
servers = ["127.0.0.1:$UL_PORT"]
EOF
        start_edge522 edge522 "$p" "$d/edge522.toml" ;;
    nginx)
        cat >"$d/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
$(nginx_common_http "$d")
    upstream dl { server 127.0.0.1:$DL_PORT; keepalive 16; }
    upstream ul { server 127.0.0.1:$UL_PORT; keepalive 16; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_request_buffering off;
    client_max_body_size 0;
    proxy_max_temp_file_size 0;
    proxy_read_timeout 120s;
    proxy_send_timeout 120s;
    server { listen 127.0.0.1:$p; server_name dl.test; location / { proxy_pass http://dl; } }
    server { listen 127.0.0.1:$p; server_name ul.test; location / { proxy_pass http://ul; } }
}
EOF
        start_nginx_cfg nginx "$p" "$d/nginx.conf" ;;
    haproxy)
        cat >"$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 1000
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 60s
frontend fe
    bind 127.0.0.1:$p
    use_backend dl if { hdr(host) -i dl.test }
    use_backend ul if { hdr(host) -i ul.test }
backend dl
    server dl 127.0.0.1:$DL_PORT
backend ul
    server ul 127.0.0.1:$UL_PORT
EOF
        start_haproxy_cfg haproxy "$p" "$d/haproxy.cfg" ;;
    *) die "unknown row $row" ;;
    esac
    mkdir -p "$OUT_DIR/configs/$row"
    cp "$d"/*.conf "$d"/*.cfg "$d"/*.toml "$OUT_DIR/configs/$row/" 2>/dev/null || true
done

url_of() {   # url_of ROW KIND -> URL and Host header args
    local row=$1 kind=$2 port
    if [[ $row == direct ]]; then
        [[ $kind == download ]] && port=$DL_PORT || port=$UL_PORT
    else
        port=${PORT[$row]}
    fi
    echo "http://127.0.0.1:$port/"
}

transfer() {   # transfer ROW KIND SIZE_MB -> "code bytes speed_Bps time_s"
    local row=$1 kind=$2 s=$3 url
    url=$(url_of "$row" "$kind")
    if [[ $kind == download ]]; then
        pin "$CLIENT_CPUS" curl -s -o /dev/null --max-time 300 -H 'Host: dl.test' \
            -w '%{http_code} %{size_download} %{speed_download} %{time_total}\n' "${url}f$s.bin" &
    else
        pin "$CLIENT_CPUS" curl -s -o /dev/null --max-time 300 -H 'Host: ul.test' -H 'Expect:' -X POST \
            -T "$WORK/files/f$s.bin" -w '%{http_code} %{size_upload} %{speed_upload} %{time_total}\n' "${url}upload" &
    fi
    wait $! || true
}

RES="$OUT_DIR/results.jsonl"
: >"$RES"
declare -A IDLE=()
for row in "${rows[@]}"; do
    [[ $row == direct ]] && continue
    # one small exchange each way first, so pools and buffers exist before the idle reading
    transfer "$row" download "${SIZES_MB%% *}" >/dev/null
    transfer "$row" upload "${SIZES_MB%% *}" >/dev/null
    IDLE[$row]=$(rss_kb "$(pid_of "$row")")
done
for s in $SIZES_MB; do
    for ((r = 1; r <= ROUNDS; r++)); do
        for kind in download upload; do
            mapfile -t order < <(rotate_order "$r" "${rows[@]}")
            for row in "${order[@]}"; do
                pid=""; peak=null; idle=null; cpu=null
                if [[ $row != direct ]]; then
                    pid=$(pid_of "$row")
                    idle=$(rss_kb "$pid")
                    hwm_reset "$pid"
                    c0=$(cpu_ticks "$pid")
                fi
                read -r code bytes speed secs < <(transfer "$row" "$kind" "$s")
                if [[ -n $pid ]]; then
                    peak=$(hwm_kb "$pid")
                    cpu=$(($(cpu_ticks "$pid") - c0))
                fi
                ok=true
                [[ $code == 200 && $bytes == $((s * 1048576)) ]] || ok=false
                log "$s MiB $kind round $r $row: HTTP $code, $bytes bytes, $(awk -v b="$speed" 'BEGIN{printf "%.0f", b / 1e6}') MB/s, ${secs}s, peak RSS ${peak} kB (before ${idle})"
                echo "{\"size_mb\":$s,\"round\":$r,\"kind\":\"$kind\",\"label\":\"$row\",\"code\":${code:-0},\"bytes\":${bytes:-0},\"speed_Bps\":${speed:-0},\"time_s\":${secs:-0},\"rss_before_kb\":$idle,\"peak_rss_kb\":$peak,\"proxy_ticks\":$cpu,\"ok\":$ok}" >>"$RES"
                sleep 0.5
            done
        done
    done
done
for row in "${rows[@]}"; do
    [[ $row == direct ]] && continue
    kill -0 "$(pid_of "$row")" 2>/dev/null || log "WARNING: $row exited during the run"
    cp "$WORK/$row"/*.log "$OUT_DIR/configs/$row/" 2>/dev/null || true
done

{
    cat "$OUT_DIR/env.txt"
    echo
    IDLE_JSON=$(for k in "${!IDLE[@]}"; do echo "$k=${IDLE[$k]}"; done | paste -sd, -)
    python3 "$HERE/lib/summarize_large.py" "$RES" "$IDLE_JSON" --json "$OUT_DIR/summary.json" --env "$OUT_DIR/env.txt"
    echo
    echo "wall time: $(($(date +%s) - t_start)) s; host load at end: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
} | tee "$OUT_DIR/summary.md"
