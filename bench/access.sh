#!/usr/bin/env bash
# The cost of 50,000 IP access rules (Cloudflare's account limit) against none: edge522 twice, same
# origin, wrk keep-alive at 50 connections, interleaved rounds (A B A B ...), medians and the ratio.
#   bench/access.sh                   ROUNDS=5 DURATION=8 RULES=50000 CONNS=50
# The table goes to stdout and, with the per-round results, to OUT_DIR (default
# /tmp/edge522-bench/access-<timestamp>): summary.md, summary.json (one object per row and figure), results.txt.
# Needs nginx (the origin), wrk, python3 (scripts/install-deps.sh --bench installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ROUNDS:=5}" "${DURATION:=8}" "${RULES:=50000}" "${CONNS:=50}"
: "${OUT_DIR:=/tmp/edge522-bench/access-$(date +%Y%m%d-%H%M%S)}"
BIN="${EDGE522_BIN:-build/edge522}"
scripts/install-deps.sh --bench
[ -x "$BIN" ] || scripts/build.sh
work="$(mktemp -d /tmp/edge522-access-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 never answered" >&2; exit 1; }

origin_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGX
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:$origin_port;
        location / { return 200 "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"; }
    }
}
NGX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
wait_port "$origin_port"

# RULES random IPv4 prefixes (/16 to /32) outside 127.0.0.0/8, one in ten an allow rule.
python3 - "$RULES" "$work/access-rules.toml" <<'PY'
import random, sys, ipaddress
n, out = int(sys.argv[1]), sys.argv[2]
random.seed(522)
allow, block = [], []
while len(allow) + len(block) < n:
    prefix = random.randint(16, 32)
    a = random.getrandbits(32) & ((0xffffffff << (32 - prefix)) & 0xffffffff)
    net = ipaddress.ip_network((a, prefix))
    if net.overlaps(ipaddress.ip_network("127.0.0.0/8")):
        continue
    (allow if len(allow) * 9 < len(block) else block).append(str(net))
with open(out, "w") as f:
    f.write("[access]\nallow = [%s]\nblock = [%s]\n" % (",".join('"%s"' % x for x in allow), ",".join('"%s"' % x for x in block)))
PY

start_edge() {  # name extra_toml_file
    local port; port=$(free_port)
    {
        printf '[edge]\nlisten = ["127.0.0.1:%s"]\nthreads = 1\nlog_level = "warn"\n[admin]\nlisten = ""\n' "$port"
        [ -n "$2" ] && cat "$2"
        printf '[[origins]]\nname = "bench"\nservers = ["127.0.0.1:%s"]\nfailover = false\n' "$origin_port"
    } > "$work/$1.toml"
    "$BIN" --config "$work/$1.toml" > "$work/$1.log" 2>&1 &
    pids+=($!)
    eval "PORT_$1=$port; PID_$1=$!"
    wait_port "$port"
}
start_edge none ""
start_edge rules "$work/access-rules.toml"
# Sanity: 127.0.0.1 is allowed under both.
for p in "$PORT_none" "$PORT_rules"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/"); [ "$code" = 200 ] || { echo "edge on $p answered $code" >&2; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {  # name -> "rps cpu_us_per_req"
    local port pid t0 t1 out req rps
    eval "port=\$PORT_$1; pid=\$PID_$1"
    t0=$(ticks "$pid")
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/")
    t1=$(ticks "$pid")
    req=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    awk -v r="$rps" -v d="$((t1 - t0))" -v n="$req" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f %.2f\n", r, d * 1e6 / hz / n}'
}
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT_none/" >/dev/null
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT_rules/" >/dev/null
: > "$work/results"
for r in $(seq "$ROUNDS"); do
    order="none rules"; [ $((r % 2)) = 0 ] && order="rules none"
    for t in $order; do
        read -r rps cpu < <(run "$t")
        echo "$t $rps $cpu" >> "$work/results"
        echo "round $r $t: $rps req/s, $cpu us/req" >&2
    done
done

mkdir -p "$OUT_DIR"
cp "$work/results" "$OUT_DIR/results.txt"
{
echo "edge522 access-rule cost, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "command: ROUNDS=$ROUNDS DURATION=$DURATION RULES=$RULES CONNS=$CONNS bench/access.sh"
cmdline="ROUNDS=$ROUNDS DURATION=$DURATION RULES=$RULES CONNS=$CONNS bench/access.sh"
RULES="$RULES" python3 - "$work/results" "$PWD/bench/lib" "$OUT_DIR/summary.json" "$cmdline" "$BIN" <<'PY'
import sys, statistics
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, sys.argv[2])
from results_json import Results
js = Results("access")
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for name in ("none", "rules"):
    rps = [float(r[1]) for r in rows if r[0] == name]
    cpu = [float(r[2]) for r in rows if r[0] == name]
    med[name] = (statistics.median(rps), statistics.median(cpu), min(rps), max(rps))
print()
print("| edge522 | req/s median | req/s min-max | CPU us/req median |")
print("|---|---|---|---|")
for name, label in (("none", "no rules"), ("rules", "%s rules" % format(int(__import__("os").environ.get("RULES", "50000")), ","))):
    m = med[name]
    for fig, v, unit in (("rps_median", m[0], "req/s"), ("rps_min", m[2], "req/s"), ("rps_max", m[3], "req/s"),
                         ("cpu_us_per_request", m[1], "us")):
        js.add("edge522", fig, v, unit, rules=0 if name == "none" else int(__import__("os").environ.get("RULES", "50000")))
    print("| %s | %.0f | %.0f-%.0f | %.2f |" % (label, m[0], m[2], m[3], m[1]))
print()
print("throughput ratio (rules / none): %.3f; CPU per request ratio: %.3f" % (med["rules"][0] / med["none"][0], med["rules"][1] / med["none"][1]))
js.add("edge522", "rps_ratio_rules_over_none", med["rules"][0] / med["none"][0], "ratio")
js.add("edge522", "cpu_ratio_rules_over_none", med["rules"][1] / med["none"][1], "ratio")
js.write(sys.argv[3], {"command": sys.argv[4], "edge522": sys.argv[5]})
PY
} | tee "$OUT_DIR/summary.md"
