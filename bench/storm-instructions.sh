#!/usr/bin/env bash
# bench/storm-instructions.sh -- user-space instructions per connect-timeout answer (edge522's 522,
# nginx's 504), counted by callgrind: the noise-free twin of deadline.sh's "CPU per 522".
#
# Behind each proxy a blackholed origin (bench/peers/lib/blackhole_origin.py: a full accept queue,
# so every SYN is dropped). For each N in N1, N2: a fresh proxy under `valgrind --tool=callgrind`,
# N connections opened at once by bench/peers/lib/bh_client.py, one "GET /" each (Connection:
# close), every one answered at the connect deadline; then the proxy is stopped. Instructions per
# answer = (Ir(N2) - Ir(N1)) / (N2 - N1): start-up and shutdown cancel out; what stays is accept,
# read and parse the request, the connect and its deadline, the answer, the close. One worker each,
# access logs off. The deadline (CTO) is long because callgrind runs the proxy ~50x slower: every
# request must be sent before the first deadline passes.
#
# Knobs (env): N1=500 N2=1500 REPS=1 CTO_S=8 ONLY="edge522 nginx" BASE_PORT=61390
#              EDGE522_BIN=build/edge522 OUT_DIR=/tmp/edge522-bench/storm-instructions-<timestamp>
#              KEEP_TMP=0 (callgrind.out files stay in OUT_DIR/callgrind/ for bench/lib/callgrind_profile.py
#              with --n1 N1 --n2 N2)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
: "${BASE_PORT:=61390}"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

: "${N1:=500}"
: "${N2:=1500}"
: "${REPS:=1}"
: "${CTO_S:=8}"
: "${ONLY:=edge522 nginx}"
: "${OUT_DIR:=/tmp/edge522-bench/storm-instructions-$(date +%Y%m%d-%H%M%S)}"
((N2 > N1 && N1 > 0)) || die "need N2 > N1 > 0 (N1=$N1 N2=$N2)"
BH_PORT=$BASE_PORT
declare -A PORT=([edge522]=$((BASE_PORT + 1)) [nginx]=$((BASE_PORT + 2)))

trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ensure_deps
command -v valgrind >/dev/null 2>&1 || "$REPO_ROOT/scripts/install-deps.sh" --bench >&2 || true
command -v valgrind >/dev/null 2>&1 || die "valgrind missing (scripts/install-deps.sh --bench installs it)"
make_workdir edge522-bench-storm-instr
mkdir -p "$OUT_DIR/callgrind" "$OUT_DIR/configs"
for r in $ONLY; do [[ -n ${PORT[$r]:-} ]] || die "unknown row $r (known: ${!PORT[*]})"; done
[[ " $ONLY " == *" edge522 "* ]] && ensure_edge522
check_ports_free "$BH_PORT" "${PORT[@]}"
t_start=$(date +%s)
{
    env_header
    echo "valgrind: $(valgrind --version)"
    echo "command: $0 (N1=$N1 N2=$N2 REPS=$REPS CTO_S=$CTO_S ONLY=\"$ONLY\")"
} | tee "$OUT_DIR/env.txt" >&2

python3 "$BENCH_DIR/lib/blackhole_origin.py" "$BH_PORT" >"$WORK/blackhole.log" 2>&1 &
register_pid blackhole $!
for _ in $(seq 50); do grep -q READY "$WORK/blackhole.log" && break; sleep 0.2; done
grep -q READY "$WORK/blackhole.log" || die "the blackholed origin did not come up (see $WORK/blackhole.log)"

write_config() {   # write_config ROW DIR -> config path
    local row=$1 d=$2 p=${PORT[$1]}
    mkdir -p "$d/tmp"
    case $row in
    edge522)
        cat >"$d/edge522.toml" <<EOF
[edge]
listen = ["127.0.0.1:$p"]
threads = 1
access_log = "off"
[admin]
listen = ""
[timeouts]
connect = "${CTO_S}s"
[[origins]]
name = "bench"
hosts = ["*"]
servers = ["127.0.0.1:$BH_PORT"]
failover = false
EOF
        echo "$d/edge522.toml" ;;
    nginx)
        cat >"$d/nginx.conf" <<EOF
master_process off;
daemon off;
user root;
worker_rlimit_nofile 16384;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log crit;
events { worker_connections 8192; }
http {
$(nginx_common_http "$d")
    server {
        listen 127.0.0.1:$p backlog=4096;
        location / {
            proxy_pass http://127.0.0.1:$BH_PORT;
            proxy_connect_timeout ${CTO_S}s;
        }
    }
}
EOF
        echo "$d/nginx.conf" ;;
    esac
}

# run_one ROW N REP -> prints Ir; the callgrind file stays in OUT_DIR/callgrind
run_one() {
    local row=$1 n=$2 rep=$3 d="$WORK/$1-$2-$3" cfg out pid ir
    cfg=$(write_config "$row" "$d")
    cp "$cfg" "$OUT_DIR/configs/" 2>/dev/null || true
    out="$OUT_DIR/callgrind/$row-r$rep-n$n.out"
    case $row in
    edge522) valgrind --tool=callgrind --callgrind-out-file="$out" "$EDGE522_RUN" --config "$cfg" >"$d/stdout.log" 2>&1 & ;;
    nginx) valgrind --tool=callgrind --callgrind-out-file="$out" nginx -p "$d/" -e "$d/error.log" -c "$cfg" >"$d/stdout.log" 2>&1 & ;;
    esac
    pid=$!
    register_pid "$row-$n-$rep" "$pid"
    wait_tcp "${PORT[$row]}" 120 || die "$row did not come up (see $d/stdout.log)"
    python3 "$BENCH_DIR/lib/bh_client.py" --port "${PORT[$row]}" --n "$n" --label "$row" --rep "$rep" \
        --out "$OUT_DIR/requests.jsonl" --settle 2 --timeout $((CTO_S * 10)) >"$d/client.log" 2>&1 ||
        die "$row: the client failed (see $d/client.log)"
    log "$row N=$n rep $rep: $(tail -1 "$d/client.log")"
    stop_pid "$pid"
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
    [[ -n $ir ]] || die "$row: no callgrind total in $out"
    echo "$ir"
}

: >"$OUT_DIR/raw.tsv"
for rep in $(seq "$REPS"); do
    for row in $ONLY; do
        for n in "$N1" "$N2"; do
            ir=$(run_one "$row" "$n" "$rep")
            printf '%s\t%s\t%s\t%s\n' "$row" "$rep" "$n" "$ir" >>"$OUT_DIR/raw.tsv"
        done
    done
done

python3 - "$OUT_DIR" "$N1" "$N2" "$HERE/lib" <<'PY' | tee "$OUT_DIR/summary.md"
import json, statistics, sys
out, n1, n2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from results_json import Results
raw = {}
for line in open(f"{out}/raw.tsv"):
    row, rep, n, ir = line.split()
    raw.setdefault(row, {}).setdefault(int(rep), {})[int(n)] = int(ir)
codes = {}
for line in open(f"{out}/requests.jsonl"):
    r = json.loads(line)
    c = codes.setdefault(r.get("label"), {})
    k = str(r.get("status"))
    c[k] = c.get(k, 0) + 1
print(open(f"{out}/env.txt").read())
print("### Instructions per connect-timeout answer (callgrind, user space, one worker)\n")
print(f"(Ir(N2) - Ir(N1)) / (N2 - N1), N1 = {n1}, N2 = {n2}; each N in a fresh process; the answers' status codes over all runs.\n")
print("| proxy | answer | reps | instructions / answer (median) | min-max | vs nginx | status codes |")
print("|---|---|---|---|---|---|---|")
per = {}
for row, reps in raw.items():
    per[row] = [(v[n2] - v[n1]) / (n2 - n1) for v in reps.values() if n1 in v and n2 in v]
results = Results("storm-instructions")
for row, vals in per.items():
    med = statistics.median(vals)
    vs = f"{med / statistics.median(per['nginx']):.2f}x" if "nginx" in per and row != "nginx" else "-"
    ans = "522 (Cloudflare page)" if row == "edge522" else "504 (nginx page)"
    print(f"| {row} | {ans} | {len(vals)} | **{med:,.0f}** | {min(vals):,.0f}-{max(vals):,.0f} | {vs} | {codes.get(row, {})} |")
    results.add(row, "instructions_per_answer", med, "instructions", n1=n1, n2=n2)
results.write(f"{out}/summary.json", f"{out}/env.txt")
PY
echo "wall time: $(($(date +%s) - t_start)) s; raw output: $OUT_DIR" | tee -a "$OUT_DIR/summary.md"
