# shellcheck shell=bash
# bench/lib/common.sh -- shared by bench/throughput.sh, deadline.sh, memory.sh, large.sh.
#
# Builds on bench/peers/lib/common.sh (process registry, stop by PID, rss/hwm helpers, the fast
# nginx origin) and adds: dependency install, the edge522 binary (built if missing, then copied
# into the private work dir so a rebuild during the run cannot change what is measured), the
# benchtool helper (bench/tools/benchtool.cpp), and starters for servers with a config file of
# the caller's making.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$BENCH_ROOT/.." && pwd)
BENCH_DIR="$BENCH_ROOT/peers"
# shellcheck source=../peers/lib/common.sh
source "$BENCH_ROOT/peers/lib/common.sh"

: "${EDGE522_BIN:=$REPO_ROOT/build/edge522}"
: "${EDGE522_WAIT:=180}"   # s to wait for a binary that another build is about to (re)write

ensure_deps() {   # apt packages; idempotent (no network when everything is there)
    local need=0 c
    for c in nginx haproxy wrk curl python3 g++ cmake ss taskset; do
        command -v "$c" >/dev/null 2>&1 || need=1
    done
    if ((need)); then
        "$REPO_ROOT/scripts/install-deps.sh" --bench >&2 || die "scripts/install-deps.sh --bench failed"
    fi
}

# ensure_edge522: make sure $EDGE522_BIN exists (wait for a concurrent rebuild, else build it),
# then snapshot it to $WORK/edge522.bin and point EDGE522_RUN at the copy. Needs $WORK.
ensure_edge522() {
    local i
    if [[ ! -x $EDGE522_BIN ]]; then
        if [[ -f $REPO_ROOT/build/CMakeCache.txt && $EDGE522_BIN == "$REPO_ROOT/build/edge522" ]]; then
            log "$EDGE522_BIN missing; waiting up to ${EDGE522_WAIT}s (a rebuild may be under way)"
            for ((i = 0; i < EDGE522_WAIT; i++)); do [[ -x $EDGE522_BIN ]] && break; sleep 1; done
        fi
    fi
    if [[ ! -x $EDGE522_BIN ]]; then
        [[ $EDGE522_BIN == "$REPO_ROOT/build/edge522" ]] || die "EDGE522_BIN=$EDGE522_BIN is not executable"
        log "building edge522 (Release) in $REPO_ROOT/build"
        (cd "$REPO_ROOT" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >&2 &&
            cmake --build build -j2 --target edge522 >&2) || die "edge522 build failed"
    fi
    # copy it; if it is being rewritten right now, the copy may be torn: check it runs
    for ((i = 0; i < 30; i++)); do
        if cp "$EDGE522_BIN" "$WORK/edge522.bin" 2>/dev/null && "$WORK/edge522.bin" --version >/dev/null 2>&1; then
            EDGE522_RUN="$WORK/edge522.bin"
            EDGE522_SHA=$(sha256sum "$EDGE522_RUN" | cut -c1-12)
            EDGE522_REV=$(git -C "$REPO_ROOT" log -1 --format='%h %cI' 2>/dev/null || echo unknown)
            EDGE522_VERSION=$("$EDGE522_RUN" --version 2>&1 | head -1)
            export EDGE522_RUN EDGE522_SHA EDGE522_REV EDGE522_VERSION
            log "edge522: $EDGE522_BIN ($EDGE522_VERSION, sha256 $EDGE522_SHA, repo HEAD $EDGE522_REV) copied to $EDGE522_RUN"
            return 0
        fi
        sleep 2
    done
    die "could not copy a working $EDGE522_BIN"
}

# benchtool: compiled into bench/.bin (git-ignored) when missing or older than its source
ensure_benchtool() {
    BENCHTOOL="$BENCH_ROOT/.bin/benchtool"
    local src="$BENCH_ROOT/tools/benchtool.cpp"
    if [[ ! -x $BENCHTOOL || $src -nt $BENCHTOOL ]]; then
        mkdir -p "$BENCH_ROOT/.bin"
        log "compiling $src"
        g++ -O2 -std=c++17 -pthread -o "$BENCHTOOL.tmp.$$" "$src" || die "benchtool build failed"
        mv "$BENCHTOOL.tmp.$$" "$BENCHTOOL"
    fi
    export BENCHTOOL
}

env_header() {   # machine and versions, for the results file
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -srm), nproc=$(nproc), CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), RLIMIT_NOFILE hard=$(ulimit -Hn)"
    echo "nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //')  haproxy: $(haproxy -v 2>&1 | head -1 | awk '{print $3}')  wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')  curl: $(curl --version | head -1 | awk '{print $2}')"
    echo "host load at start: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load average; > 2 means other work shares the 2 cores)"
    [[ -n ${EDGE522_RUN:-} ]] && echo "edge522: $EDGE522_VERSION, binary sha256 $EDGE522_SHA, repo HEAD $EDGE522_REV"
    return 0
}

# start_edge522 NAME PORT CONFIG -- foreground, stopped by PID; ready at its "listening on" line
start_edge522() {
    local name=$1 port=$2 cfg=$3 d i
    d=$(dirname "$cfg")
    "$EDGE522_RUN" check --config "$cfg" >&2 || die "$name: config $cfg rejected"
    (cd "$d" && pin "$PROXY_CPUS" "$EDGE522_RUN" --config "$cfg" >"$d/stdout.log" 2>"$d/stderr.log") &
    register_pid "$name" $!
    for ((i = 0; i < 200; i++)); do
        grep -qs "listening on http://127.0.0.1:$port" "$d/stdout.log" "$d/stderr.log" && return 0
        kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null || break
        sleep 0.05
    done
    wait_tcp "$port" 2 || die "$name did not come up on $port (see $d/stderr.log)"
}

# start_nginx_cfg NAME PORT CONFIG -- nginx in the foreground with the caller's config file
start_nginx_cfg() {
    local name=$1 port=$2 cfg=$3 d
    d=$(dirname "$cfg")
    mkdir -p "$d/tmp"
    (pin "$PROXY_CPUS" nginx -p "$d/" -e "$d/error.log" -c "$cfg" >"$d/stdout.log" 2>&1) &
    register_pid "$name" $!
    wait_tcp "$port" || die "$name did not come up on $port (see $d/error.log)"
}

# start_haproxy_cfg NAME PORT CONFIG
start_haproxy_cfg() {
    local name=$1 port=$2 cfg=$3 d
    d=$(dirname "$cfg")
    (pin "$PROXY_CPUS" haproxy -db -f "$cfg" >"$d/stdout.log" 2>"$d/stderr.log") &
    register_pid "$name" $!
    wait_tcp "$port" || die "$name did not come up on $port (see $d/stderr.log)"
}

pid_of() {   # pid_of NAME -> PID we registered under NAME
    local i
    for i in "${!STARTED_NAMES[@]}"; do
        [[ ${STARTED_NAMES[$i]} == "$1" ]] && { echo "${STARTED_PIDS[$i]}"; return 0; }
    done
    return 1
}

nginx_common_http() {   # nginx_common_http DIR -> the http{} lines every bench nginx shares
    cat <<EOF
    access_log off;
    default_type text/plain;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    keepalive_timeout 400s;
    keepalive_requests 1000000;
EOF
}

rotate_order() {   # rotate_order ROUND ITEM... -> the items rotated by ROUND-1 (A B C, B C A, ...)
    local r=$1; shift
    local a=("$@") n=$# k
    for ((k = 0; k < n; k++)); do echo "${a[$(((k + r - 1) % n))]}"; done
}
