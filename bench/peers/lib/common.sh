# shellcheck shell=bash
# bench-ref/lib/common.sh -- shared helpers, sourced by run.sh and blackhole.sh.
#
# Rules this file enforces:
#   * every server is started by us, in the foreground (no daemonising, no
#     systemd), with its own config under a private temp dir ($WORK);
#   * every PID we start is recorded in STARTED_PIDS and stopped by PID on exit
#     (never by process name);
#   * everything listens on 127.0.0.1 only.

BENCH_DIR=${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LIB_DIR="$BENCH_DIR/lib"

: "${BASE_PORT:=61080}"        # above the ephemeral range (32768-60999) on purpose
: "${PROXY_WORKERS:=1}"        # nginx worker_processes / haproxy nbthread / edge522 threads
: "${PIN_WORKERS:=0}"          # 1 = each proxy binds worker i to the i-th CPU of PROXY_CPUS (default: all):
                               #   nginx worker_cpu_affinity auto, haproxy cpu-map, edge522 cpu_affinity = "auto"
: "${KEEP_TMP:=0}"             # 1 = keep $WORK (configs, logs, raw output) after exit
: "${NGINX_KEEPALIVE:=128}"     # nginx `upstream { keepalive N; }`: idle upstream connections kept per worker
# optional CPU pinning (taskset -c LIST); empty = let the scheduler decide
: "${ORIGIN_CPUS:=}"
: "${PROXY_CPUS:=}"
: "${CLIENT_CPUS:=}"

# The CPUs a pinned proxy's workers are bound to, as a taskset / cpu-map list.
pin_cpu_list() { echo "${PROXY_CPUS:-0-$(($(nproc) - 1))}"; }
# The same as nginx's worker_cpu_affinity mask: "0110" for CPUs 1-2 (the highest CPU first).
pin_cpu_mask() {
    python3 - "$(pin_cpu_list)" <<'PY'
import sys
cpus = set()
for part in sys.argv[1].split(","):
    lo, _, hi = part.partition("-")
    cpus.update(range(int(lo), int(hi or lo) + 1))
print("".join("1" if c in cpus else "0" for c in range(max(cpus), -1, -1)))
PY
}

STARTED_PIDS=()
STARTED_NAMES=()

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

pin() {   # pin CPULIST cmd... ; runs cmd (via exec) pinned if CPULIST non-empty
    local cpus=$1; shift
    if [[ -n $cpus ]]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

make_workdir() {   # make_workdir PREFIX
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$WORK"
    export WORK
    log "work dir: $WORK"
}

port_in_use() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

check_ports_free() {
    local p
    for p in "$@"; do
        port_in_use "$p" && die "port $p on loopback already in use (set BASE_PORT=...)"
    done
    return 0
}

wait_tcp() {   # wait_tcp PORT [timeout_s]  -- TCP connect succeeds
    local port=$1 t=${2:-10} i
    for ((i = 0; i < t * 20; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

wait_http() {   # wait_http PORT [timeout_s] -- an HTTP response (any status) comes back
    local port=$1 t=${2:-10} i code
    for ((i = 0; i < t * 10; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null || true)
        [[ -n $code && $code != 000 ]] && { echo "$code"; return 0; }
        sleep 0.1
    done
    return 1
}

register_pid() {   # register_pid NAME PID
    STARTED_NAMES+=("$1")
    STARTED_PIDS+=("$2")
}

stop_pid() {   # stop_pid PID -- TERM, wait up to 5 s, then KILL. Only PIDs we started.
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not exit on TERM, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

stop_named() {   # stop_named NAME -- stop the process we registered under NAME
    local i
    for i in "${!STARTED_NAMES[@]}"; do
        if [[ ${STARTED_NAMES[$i]} == "$1" ]]; then
            stop_pid "${STARTED_PIDS[$i]}"
            unset 'STARTED_NAMES[i]' 'STARTED_PIDS[i]'
        fi
    done
}

cleanup() {   # stop everything we started, newest first
    local idx=("${!STARTED_PIDS[@]}") k
    for ((k = ${#idx[@]} - 1; k >= 0; k--)); do
        stop_pid "${STARTED_PIDS[${idx[$k]}]}"
    done
    if [[ -n ${WORK:-} && -d $WORK ]]; then
        if [[ $KEEP_TMP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    fi
}

proc_tree() {   # proc_tree PID -> PID and its direct children (nginx master+workers)
    local pid=$1 c
    echo "$pid"
    for c in /proc/"$pid"/task/*/children; do
        [[ -r $c ]] && tr ' ' '\n' <"$c" | grep -E '^[0-9]+$' || true
    done
}

cpu_ticks() {   # cpu_ticks PID... -> sum of utime+stime (clock ticks) over PIDs and children
    local total=0 p t
    for p in "$@"; do
        for t in $(proc_tree "$p"); do
            [[ -r /proc/$t/stat ]] || continue
            # fields after the "(comm)" : state=1 ... utime=12 stime=13 (1-based after ')')
            total=$((total + $(sed 's/^.*) //' "/proc/$t/stat" | awk '{print $12 + $13}')))
        done
    done
    echo "$total"
}

host_cpu_jiffies() {   # -> "busy total steal" jiffies summed over all CPUs (/proc/stat)
    awk '/^cpu /{t=0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t, $9}' /proc/stat
}

rss_kb() {   # rss_kb PID... -> sum of VmRSS (kB) over PIDs and their children
    local total=0 p t v
    for p in "$@"; do
        for t in $(proc_tree "$p"); do
            v=$(awk '/^VmRSS:/{print $2}' "/proc/$t/status" 2>/dev/null || true)
            total=$((total + ${v:-0}))
        done
    done
    echo "$total"
}

hwm_kb() {   # hwm_kb PID... -> sum of VmHWM (peak RSS, kB) over PIDs and their children
    local total=0 p t v
    for p in "$@"; do
        for t in $(proc_tree "$p"); do
            v=$(awk '/^VmHWM:/{print $2}' "/proc/$t/status" 2>/dev/null || true)
            total=$((total + ${v:-0}))
        done
    done
    echo "$total"
}

hwm_reset() {   # hwm_reset PID... -> reset VmHWM (peak RSS) of PIDs and children to current RSS
    local p t
    for p in "$@"; do
        for t in $(proc_tree "$p"); do
            echo 5 >"/proc/$t/clear_refs" 2>/dev/null || true
        done
    done
}

# ---------------------------------------------------------------- origin --
# start_origin PORT  -- nginx answering `return 200` with a 100-byte body
ORIGIN_BODY='0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz01'   # 100 bytes
start_origin() {
    local port=$1 d="$WORK/origin"
    mkdir -p "$d/tmp"
    cat >"$d/nginx.conf" <<EOF
# bench-ref origin: fast fixed 100-byte response, keep-alive on
daemon off;
user root;
worker_processes 1;
worker_rlimit_nofile 16384;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / { return 200 "$ORIGIN_BODY"; }
    }
}
EOF
    (pin "$ORIGIN_CPUS" nginx -p "$d/" -e "$d/error.log" -c "$d/nginx.conf") &
    register_pid origin $!
    wait_tcp "$port" || die "origin did not come up on $port (see $d/error.log)"
}

# ------------------------------------------------------------ nginx proxy --
# start_nginx_proxy NAME LISTEN_PORT UPSTREAM_PORT CONNECT_TIMEOUT [ACCESS_LOG(0|1)]
start_nginx_proxy() {
    local name=$1 port=$2 up=$3 cto=$4 alog=${5:-0} d="$WORK/$1"
    mkdir -p "$d/tmp"
    local access="access_log off;"
    if [[ $alog == 1 ]]; then
        access="log_format bench '\$msec \$status \$request_time uct=\$upstream_connect_time urt=\$upstream_response_time us=\$upstream_status';
    access_log $d/access.log bench;"
    fi
    cat >"$d/nginx.conf" <<EOF
# bench-ref: nginx as reverse proxy, upstream keep-alive pool, HTTP/1.1 upstream
daemon off;
user root;
worker_processes $PROXY_WORKERS;
$([[ $PIN_WORKERS == 1 ]] && echo "worker_cpu_affinity auto $(pin_cpu_mask);")
worker_rlimit_nofile 16384;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
    $access
    default_type text/plain;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    upstream origin {
        server 127.0.0.1:$up;
        keepalive $NGINX_KEEPALIVE;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout $cto;
            proxy_read_timeout 30s;
            proxy_send_timeout 30s;
        }
    }
}
EOF
    (pin "$PROXY_CPUS" nginx -p "$d/" -e "$d/error.log" -c "$d/nginx.conf") &
    register_pid "$name" $!
    wait_tcp "$port" || die "$name did not come up on $port (see $d/error.log)"
}

# ---------------------------------------------------------------- haproxy --
# start_haproxy NAME LISTEN_PORT UPSTREAM_PORT CONNECT_TIMEOUT RETRIES(n|default) [LOG(0|1)]
start_haproxy() {
    local name=$1 port=$2 up=$3 cto=$4 retries=$5 hlog=${6:-0} d="$WORK/$1"
    mkdir -p "$d"
    local rline="" gl="" dl=""
    [[ $retries != default ]] && rline="retries $retries"
    if [[ $hlog == 1 ]]; then
        gl="log stdout format raw local0 info"
        # %Ta active time (request first byte -> response end), %Tt total incl. idle
        # before the request (%Ti), %Tw queue, %Tc connect (-1 = failed), %rc retries
        dl="log global
    option httplog
    log-format \"%ST Ta=%Ta Tt=%Tt Ti=%Ti TR=%TR Tw=%Tw Tc=%Tc Tr=%Tr rc=%rc ts=%tsc\""
    fi
    cat >"$d/haproxy.cfg" <<EOF
# bench-ref: haproxy in http mode
global
    nbthread $PROXY_WORKERS
    $([[ $PIN_WORKERS == 1 ]] && echo "cpu-map auto:1/1-$PROXY_WORKERS $(pin_cpu_list)")
    maxconn 8000
    $gl
defaults
    mode http
    maxconn 8000
    timeout connect $cto
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 75s
    $rline
    $dl
frontend fe
    bind 127.0.0.1:$port backlog 4096
    default_backend be
backend be
    server origin 127.0.0.1:$up
EOF
    (pin "$PROXY_CPUS" haproxy -db -f "$d/haproxy.cfg" >"$d/stdout.log" 2>"$d/stderr.log") &
    register_pid "$name" $!
    wait_tcp "$port" || die "$name did not come up on $port (see $d/stderr.log)"
}

# -------------------------------------------------------- edge522 / custom --
# Hook for the future proxy.  Two ways to add a row:
#   EDGE522_BIN=/path/to/edge522   -> started as "$EDGE522_BIN --config FILE", FILE
#                                     rendered from EDGE522_CONFIG_TEMPLATE
#                                     (default: bench-ref/edge522.toml.in)
#   PROXY_CMD='cmd ... @LISTEN_PORT@ ... @ORIGIN_PORT@' [PROXY_PORT=N] [PROXY_NAME=x]
#                                  -> any other proxy; placeholders are substituted.
# Placeholders: @LISTEN_PORT@ @ORIGIN_PORT@ @CONNECT_TIMEOUT_MS@ @THREADS@ @CPU_AFFINITY@ @WORKDIR@
: "${EDGE522_BIN:=}"
: "${EDGE522_CONFIG_TEMPLATE:=$BENCH_DIR/edge522.toml.in}"
: "${PROXY_CMD:=}"
: "${PROXY_NAME:=}"

custom_enabled() { [[ -n $EDGE522_BIN || -n $PROXY_CMD ]]; }
custom_name() {
    if [[ -n $PROXY_NAME ]]; then echo "$PROXY_NAME"
    elif [[ -n $EDGE522_BIN ]]; then echo edge522
    else echo custom; fi
}

render() {   # render < template; placeholders in lines starting with '#' are left alone
    sed -e "/^[[:space:]]*#/!{s|@LISTEN_PORT@|$R_LISTEN_PORT|g; s|@ORIGIN_PORT@|$R_ORIGIN_PORT|g;
            s|@CONNECT_TIMEOUT_MS@|$R_CTO_MS|g; s|@THREADS@|$PROXY_WORKERS|g; s|@WORKDIR@|$R_DIR|g;
            s|@CPU_AFFINITY@|$([[ $PIN_WORKERS == 1 ]] && echo auto || echo off)|g}"
}

# start_custom NAME LISTEN_PORT UPSTREAM_PORT CONNECT_TIMEOUT_MS
start_custom() {
    local name=$1 d="$WORK/$1" cmd
    R_LISTEN_PORT=$2 R_ORIGIN_PORT=$3 R_CTO_MS=$4 R_DIR=$d
    mkdir -p "$d"
    if [[ -n $PROXY_CMD ]]; then
        cmd=$(printf '%s' "$PROXY_CMD" | render)
    else
        [[ -x $EDGE522_BIN ]] || die "EDGE522_BIN=$EDGE522_BIN is not executable"
        [[ -r $EDGE522_CONFIG_TEMPLATE ]] || die "no config template $EDGE522_CONFIG_TEMPLATE"
        render <"$EDGE522_CONFIG_TEMPLATE" >"$d/edge522.toml"
        cmd="$(printf '%q' "$EDGE522_BIN") --config $(printf '%q' "$d/edge522.toml")"
    fi
    echo "$cmd" >"$d/cmdline"
    log "starting $name: $cmd"
    (cd "$d" && pin "$PROXY_CPUS" bash -c "exec $cmd" >"$d/stdout.log" 2>"$d/stderr.log") &
    register_pid "$name" $!
    wait_tcp "$2" 20 || die "$name did not come up on $2 (see $d/stderr.log)"
}
