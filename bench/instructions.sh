#!/usr/bin/env bash
# bench/instructions.sh -- instructions per request under callgrind, and syscalls per request,
# edge522 against nginx and HAProxy, for a fixed number of keep-alive requests.
#
# Same origin as throughput.sh (nginx `return 200`, 100-byte body, keep-alive; never under
# valgrind). Each proxy runs alone with one worker: edge522 threads=1, nginx `master_process off`
# (one process does everything, so callgrind sees the process that does the work), HAProxy
# nbthread 1 in the foreground (-db, no master). Access logs off everywhere (edge522
# `[edge].access_log = "off"`, nginx `access_log off`, HAProxy without `log`), plus rows with the
# access log on: edge522 to stdout (redirected to a file) and to a file path, nginx to a file.
# Upstream keep-alive pools on for all three, as in throughput.sh.
#
# The client is `benchtool count`: exactly N `GET /` over CONNS keep-alive connections, one in
# flight per connection (as wrk does); every answer must be a 200 with the 100-byte body.
#
# Instructions: per row and rep, the proxy is started fresh under
#   valgrind --tool=callgrind
# twice: once for N1 requests, once for N2, then stopped with SIGTERM (callgrind writes its
# totals at exit). Everything but the requests -- start-up, config parsing, the sanity request,
# opening and closing the CONNS connections and the origin pool, shutdown -- is the same in both
# runs, so
#   instructions per request = (Ir(N2) - Ir(N1)) / (N2 - N1)
# Ir = user-space instructions executed by the proxy's process, all threads (the kernel's work
# is not in it: see the syscall table). Timer work that runs per second rather than per request
# is counted for the longer wall time of the N2 run too; it is a few thousand instructions per
# second, well under 0.1 % here. callgrind counts are deterministic up to how many events one
# epoll_wait returns, so REPS=1 is enough; REPS>1 shows the spread.
#
# Syscalls (SYSCALLS="perf strace", native speed, no valgrind): the proxy is started once per row;
# for N1 and then N2 requests the counter is attached just before the client starts and detached
# after it ends, and the table is (count(N2) - count(N1)) / (N2 - N1) per syscall:
#   perf   perf stat -e syscalls:sys_enter_* tracepoints on the proxy's pid (all threads);
#          EAGAIN reads = sys_exit_{read,recvfrom,recvmsg} with ret == -11. Cheap: the timing,
#          and so the batching per epoll_wait, stays close to an unobserved run.
#   strace strace -f -c -p PID: every syscall, with its error count (the errors of the reads are
#          EAGAIN). ptrace slows each syscall down, so the proxy sees more ready events per
#          epoll_wait than unobserved: fewer epoll_waits and EAGAINs per request than perf shows.
#
# Rows (ONLY): edge522 edge522-log-stdout edge522-log-file nginx nginx-log haproxy
#
# Knobs (env): N1=2000 N2=22000 CONNS=50 REPS=1 ONLY="..." SYSCALLS="perf strace"
#              VALGRIND_OPTS= PROXY_ENV= (VAR=value ... for the proxies only, e.g. an LD_PRELOAD'ed
#              allocator) STOP_WAIT=300 PROXY_CPUS= CLIENT_CPUS= BASE_PORT=61140
#              EDGE522_BIN=build/edge522 OUT_DIR=/tmp/edge522-bench/instructions-<timestamp>
#              KEEP_TMP=0 KEEP_CALLGRIND=1 (callgrind.out files kept in OUT_DIR/callgrind/ for
#              bench/lib/callgrind_profile.py; a few MB each)
# Quick run: N1=500 N2=2500 SYSCALLS= ONLY="edge522 nginx haproxy" bench/instructions.sh
# Syscalls only: REPS=0 bench/instructions.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
: "${BASE_PORT:=61140}"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

: "${N1:=2000}"
: "${N2:=22000}"
: "${CONNS:=50}"
: "${REPS:=1}"
: "${ONLY:=edge522 edge522-log-stdout edge522-log-file nginx nginx-log haproxy}"
: "${SYSCALLS=perf strace}"   # empty: no syscall tables
: "${VALGRIND_OPTS:=}"
: "${PROXY_ENV:=}"   # e.g. PROXY_ENV=LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 (the proxies only)
: "${STOP_WAIT:=300}"
: "${KEEP_CALLGRIND:=1}"
: "${OUT_DIR:=/tmp/edge522-bench/instructions-$(date +%Y%m%d-%H%M%S)}"

((N2 > N1 && N1 >= CONNS)) || die "need N2 > N1 >= CONNS (N1=$N1 N2=$N2 CONNS=$CONNS)"
ORIGIN_PORT=$BASE_PORT
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [nginx-log]=$((BASE_PORT + 2)) [haproxy]=$((BASE_PORT + 3))
    [edge522]=$((BASE_PORT + 4)) [edge522-log-stdout]=$((BASE_PORT + 5)) [edge522-log-file]=$((BASE_PORT + 6)))

trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ensure_deps
for c in valgrind strace perf; do   # perf and strace are optional (their syscall tables are skipped)
    command -v "$c" >/dev/null 2>&1 || { "$REPO_ROOT/scripts/install-deps.sh" --bench >&2 || true; break; }
done
command -v valgrind >/dev/null 2>&1 || die "valgrind missing (scripts/install-deps.sh --bench installs it)"
make_workdir edge522-bench-instr
mkdir -p "$OUT_DIR/configs"
rows=()
for r in $ONLY; do
    [[ -n ${PORT[$r]:-} ]] || die "unknown row $r (known: ${!PORT[*]})"
    rows+=("$r")
done
[[ " $ONLY " == *" edge522"* ]] && ensure_edge522
ensure_benchtool
check_ports_free "$ORIGIN_PORT" "${PORT[@]}"
sys_methods=()
for m in $SYSCALLS; do
    case $m in
    perf) if perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then sys_methods+=(perf); else log "perf tracepoints unavailable: perf syscall table skipped"; fi ;;
    strace) if command -v strace >/dev/null 2>&1; then sys_methods+=(strace); else log "strace missing: strace syscall table skipped"; fi ;;
    *) die "SYSCALLS: unknown method $m (perf, strace)" ;;
    esac
done
perf_instr=$(perf stat -x, -e instructions:u true 2>&1 >/dev/null | cut -d, -f1 || true)
t_start=$(date +%s)
{
    env_header
    echo "valgrind: $(valgrind --version)  strace: $(strace -V 2>/dev/null | head -1 | awk '{print $NF}')  perf instructions counter: ${perf_instr:-none} (hence callgrind)"
    echo "command: $0 (N1=$N1 N2=$N2 CONNS=$CONNS REPS=$REPS ONLY=\"$ONLY\" SYSCALLS=\"$SYSCALLS\" VALGRIND_OPTS=\"$VALGRIND_OPTS\" PROXY_ENV=\"$PROXY_ENV\" PROXY_CPUS=${PROXY_CPUS:-any} CLIENT_CPUS=${CLIENT_CPUS:-any})"
} | tee "$OUT_DIR/env.txt" >&2

start_origin "$ORIGIN_PORT"

write_config() {   # write_config ROW DIR -> config path
    local row=$1 d=$2 p=${PORT[$1]} alog
    mkdir -p "$d/tmp"
    case $row in
    edge522*)
        case $row in
        edge522) alog='"off"' ;;
        edge522-log-stdout) alog='"stdout"' ;;
        edge522-log-file) alog='"./access.log"' ;;
        esac
        cat >"$d/edge522.toml" <<EOF
# bench/instructions.sh row $row: as bench/peers/edge522.toml.in, with the access log set explicitly
[edge]
listen = ["127.0.0.1:$p"]
threads = 1
access_log = $alog

[admin]
listen = ""

[timeouts]
connect = "5000ms"

[[origins]]
name = "bench"
hosts = ["*"]
servers = ["127.0.0.1:$ORIGIN_PORT"]
failover = false
EOF
        echo "$d/edge522.toml" ;;
    nginx | nginx-log)
        alog="access_log off;"
        [[ $row == nginx-log ]] && alog="access_log $d/access.log combined;"
        cat >"$d/nginx.conf" <<EOF
# bench/instructions.sh row $row: the bench-ref proxy config (peers/lib/common.sh), one process
master_process off;
daemon off;
user root;
worker_rlimit_nofile 16384;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
    $alog
    default_type text/plain;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$p backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 5s;
            proxy_read_timeout 30s;
            proxy_send_timeout 30s;
        }
    }
}
EOF
        echo "$d/nginx.conf" ;;
    haproxy)
        cat >"$d/haproxy.cfg" <<EOF
# bench/instructions.sh row haproxy: the bench-ref config (peers/lib/common.sh)
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    maxconn 8000
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 75s
frontend fe
    bind 127.0.0.1:$p backlog 4096
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN_PORT
EOF
        echo "$d/haproxy.cfg" ;;
    esac
}

# start_row ROW DIR CFG [callgrind-out-file] -> registers the proxy as ROW; valgrind'ed if the 4th arg is set
start_row() {
    local row=$1 d=$2 cfg=$3 cg=${4:-} pre=() cmd=()
    # shellcheck disable=SC2206
    [[ -n $PROXY_ENV ]] && pre=(env $PROXY_ENV)
    if [[ -n $cg ]]; then
        # shellcheck disable=SC2206
        pre+=(valgrind --tool=callgrind "--callgrind-out-file=$cg" "--log-file=$cg.log" $VALGRIND_OPTS)
    fi
    case $row in
    edge522*) "$EDGE522_RUN" check --config "$cfg" >&2 || die "$row: config $cfg rejected"
              cmd=("$EDGE522_RUN" --config "$cfg") ;;
    nginx*) cmd=(nginx -p "$d/" -e "$d/error.log" -c "$cfg") ;;
    haproxy) cmd=(haproxy -db -f "$cfg") ;;
    esac
    (cd "$d" && pin "$PROXY_CPUS" "${pre[@]}" "${cmd[@]}" >"$d/stdout.log" 2>"$d/stderr.log") &
    register_pid "$row" $!
    wait_tcp "${PORT[$row]}" 120 || die "$row did not come up on ${PORT[$row]} (see $d/stderr.log)"
    local got
    got=$(curl -s -w ' %{http_code}' --max-time 60 "http://127.0.0.1:${PORT[$row]}/") || die "$row: curl failed"
    [[ $got == "$ORIGIN_BODY 200" ]] || die "$row: unexpected response: $got"
}

# stop_row ROW -- SIGTERM and wait (callgrind writes its output at exit: no KILL unless it hangs)
stop_row() {
    local row=$1 pid i
    pid=$(pid_of "$row") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_WAIT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && log "WARNING: $row (pid $pid) still running after ${STOP_WAIT}s; stopping it"
    stop_named "$row"
}

run_client() {   # run_client ROW N OUTFILE -> the client's JSON line in OUTFILE; dies unless all 200
    (pin "$CLIENT_CPUS" "$BENCHTOOL" count --port "${PORT[$1]}" --n "$2" --conns "$CONNS" --body-bytes "${#ORIGIN_BODY}" \
        --timeout 3600) >"$3" || die "$1: client failed for N=$2: $(cat "$3")"
}

RES="$OUT_DIR/results.jsonl"
: >"$RES"
[[ $KEEP_CALLGRIND == 1 ]] && mkdir -p "$OUT_DIR/callgrind"

# ---- instructions: callgrind, fresh process per (row, N, rep) ----
for ((rep = 1; rep <= REPS; rep++)); do
    mapfile -t order < <(rotate_order "$rep" "${rows[@]}")
    for row in "${order[@]}"; do
        for n in "$N1" "$N2"; do
            d="$WORK/$row-cg-r$rep-n$n"
            cfg=$(write_config "$row" "$d")
            mkdir -p "$OUT_DIR/configs/$row"
            cp "$cfg" "$OUT_DIR/configs/$row/"
            cg="$d/callgrind.out"
            t0=$(date +%s.%N)
            start_row "$row" "$d" "$cfg" "$cg"
            run_client "$row" "$n" "$d/client.json"
            sleep 0.5
            stop_row "$row"
            wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
            [[ -s $cg ]] || die "$row: no callgrind output $cg (see $cg.log)"
            ir=$(awk '/^(summary|totals):/{print $2; exit}' "$cg")
            [[ -n $ir ]] || die "$row: no totals in $cg"
            if [[ $KEEP_CALLGRIND == 1 ]]; then
                cp "$cg" "$OUT_DIR/callgrind/$row-r$rep-n$n.out"
                cp "$cg.log" "$OUT_DIR/callgrind/$row-r$rep-n$n.log"
            fi
            log "callgrind rep $rep $row N=$n: Ir $ir; client $(cat "$d/client.json"); ${wall}s"
            echo "{\"kind\":\"ir\",\"row\":\"$row\",\"rep\":$rep,\"n\":$n,\"conns\":$CONNS,\"ir\":$ir,\"wall_s\":$wall,\"client\":$(cat "$d/client.json")}" >>"$RES"
            if [[ $row == edge522-log-* ]]; then   # the log must have one line per request
                lines=$(cat "$d/access.log" "$d/stdout.log" 2>/dev/null | grep -c ' 200 ' || true)
                ((lines >= n)) || log "WARNING: $row wrote $lines access lines with ' 200 ' for $n requests"
            fi
        done
    done
done

# ---- syscalls: native speed, counters attached around each client run ----
perf_events() {   # "name event [filter]" lines, only the tracepoints this kernel has
    local sc
    echo "total raw_syscalls:sys_enter"
    for sc in epoll_wait epoll_pwait epoll_ctl read recvfrom recvmsg readv write writev sendto sendmsg \
        accept4 close setsockopt getsockopt connect timerfd_settime futex; do
        grep -qx "syscalls:sys_enter_$sc" /sys/kernel/tracing/available_events 2>/dev/null && echo "$sc syscalls:sys_enter_$sc"
    done
    for sc in read recvfrom recvmsg; do
        grep -qx "syscalls:sys_exit_$sc" /sys/kernel/tracing/available_events 2>/dev/null && echo "$sc.EAGAIN syscalls:sys_exit_$sc ret == -11"
    done
    return 0
}
if ((${#sys_methods[@]} > 0)); then
    mapfile -t PEV < <(perf_events)
    for row in "${rows[@]}"; do
        d="$WORK/$row-sys"
        cfg=$(write_config "$row" "$d")
        start_row "$row" "$d" "$cfg"
        pid=$(pid_of "$row")
        # warm-up: fills the upstream pool (CONNS connections), so neither measured run opens one
        run_client "$row" $((CONNS * 20)) "$d/client-warm.json"
        for m in "${sys_methods[@]}"; do
            for n in "$N1" "$N2"; do
                f="$d/$m-n$n.txt"
                if [[ $m == perf ]]; then
                    args=()
                    for e in "${PEV[@]}"; do
                        read -r _ ev filt <<<"$e"
                        args+=(-e "$ev")
                        [[ -n $filt ]] && args+=(--filter "$filt")
                    done
                    perf stat -x, -o "$f" -p "$pid" "${args[@]}" >/dev/null 2>"$f.err" &
                    mpid=$!
                    sleep 1
                else
                    strace -f -c -p "$pid" -o "$f" 2>"$f.err" &
                    mpid=$!
                    for ((i = 0; i < 100; i++)); do grep -qs attached "$f.err" && break; sleep 0.05; done
                    sleep 0.5
                fi
                register_pid "$m-$row" "$mpid"
                run_client "$row" "$n" "$d/client-$m-$n.json"
                sleep 0.3
                kill -INT "$mpid" 2>/dev/null || true
                wait "$mpid" 2>/dev/null || true
                stop_named "$m-$row"
                python3 - "$m" "$f" "$row" "$n" "$(cat "$d/client-$m-$n.json")" "${PEV[@]}" >>"$RES" <<'PY'
import json, sys
m, f, row, n, client, pev = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5]), sys.argv[6:]
counts, errors = {}, {}
if m == "perf":
    # perf stat -x, : value,unit,event,... in the order of the -e options
    vals = [l.split(",") for l in open(f) if l.strip() and not l.startswith("#")]
    for spec, v in zip(pev, vals):
        name = spec.split()[0]
        try:
            c = int(float(v[0]))
        except ValueError:
            c = None
        if name.endswith(".EAGAIN"):
            errors[name[:-7]] = c
        else:
            counts[name] = c
else:
    for l in open(f):
        t = l.split()
        if len(t) < 5 or not t[0][0].isdigit() or t[-1] == "total":
            continue
        nums = t[:-1]
        if len(nums) == 5:
            counts[t[-1]], errors[t[-1]] = int(nums[3]), int(nums[4])
        elif len(nums) == 4:
            counts[t[-1]] = int(nums[3])
    counts["total"] = sum(counts.values())
print(json.dumps({"kind": "sys", "method": m, "row": row, "n": n, "counts": counts, "errors": errors, "client": client}))
PY
                log "$m $row N=$n: $(tail -1 "$RES" | cut -c1-200)"
            done
        done
        mkdir -p "$OUT_DIR/syscalls/$row"
        cp "$d"/perf-n*.txt "$d"/strace-n*.txt "$OUT_DIR/syscalls/$row/" 2>/dev/null || true
        stop_row "$row"
    done
fi

{
    cat "$OUT_DIR/env.txt"
    echo
    python3 "$HERE/lib/summarize_instructions.py" "$RES" --json "$OUT_DIR/summary.json" --env "$OUT_DIR/env.txt"
    echo
    echo "wall time: $(($(date +%s) - t_start)) s; host load at end: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
} | tee "$OUT_DIR/summary.md"
