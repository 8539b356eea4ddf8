#!/usr/bin/env bash
# Measures when edge522 answers each 52x case on loopback: N requests per case through curl,
# printing min / median / max seconds against the configured deadline.
#   bench/family.sh [N]        (default N=10; needs build/edge522, python3, curl)
# The table goes to stdout and to OUT_DIR (default /tmp/edge522-bench/family-<timestamp>): summary.md,
# and summary.json (one object per case and figure: min / median / max seconds, the status code).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10}"
: "${OUT_DIR:=/tmp/edge522-bench/family-$(date +%Y%m%d-%H%M%S)}"
BIN="${EDGE522_BIN:-build/edge522}"
work="$(mktemp -d /tmp/edge522-family-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Origins: blackholed (backlog 0 + one unaccepted connect), refusing (bound, not listening),
# silent (accepts and reads, never answers).
python3 - "$work/ports" <<'PY' &
import socket, sys, threading, time
bh = socket.socket(); bh.bind(("127.0.0.1", 0)); bh.listen(0)
filler = socket.socket(); filler.connect(bh.getsockname())
rf = socket.socket(); rf.bind(("127.0.0.1", 0))
si = socket.socket(); si.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); si.bind(("127.0.0.1", 0)); si.listen(128)
def silent():
    conns = []
    while True:
        c, _ = si.accept(); conns.append(c)
threading.Thread(target=silent, daemon=True).start()
open(sys.argv[1], "w").write(f"{bh.getsockname()[1]} {rf.getsockname()[1]} {si.getsockname()[1]}\n")
time.sleep(3600)
PY
pids+=($!)
for _ in $(seq 50); do [ -s "$work/ports" ] && break; sleep 0.1; done
read -r BH RF SI < "$work/ports"

edge_port=$(free_port)
cat > "$work/edge.toml" <<TOML
[edge]
listen = ["127.0.0.1:$edge_port"]
threads = 1
[admin]
listen = ""
[timeouts]
connect = "300ms"
read = "300ms"
[[origins]]
name = "blackholed"
hosts = ["bh.test"]
servers = ["127.0.0.1:$BH"]
[[origins]]
name = "refusing"
hosts = ["rf.test"]
servers = ["127.0.0.1:$RF"]
[[origins]]
name = "silent"
hosts = ["si.test"]
servers = ["127.0.0.1:$SI"]
[[origins]]
name = "blackholed-19s"
hosts = ["bh19.test"]
servers = ["127.0.0.1:$BH"]
connect_timeout = "19s"
TOML
"$BIN" --config "$work/edge.toml" > "$work/edge.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/edge.log" && break; sleep 0.05; done

measure() {  # host expected_code runs
    local host=$1 want=$2 runs=$3 out
    for _ in $(seq "$runs"); do
        out=$(curl -s -o /dev/null -H "Host: $host" -w '%{http_code} %{time_total}' "http://127.0.0.1:$edge_port/")
        [ "${out%% *}" = "$want" ] || { echo "unexpected: $host -> $out" >&2; exit 1; }
        echo "${out#* }"
    done | sort -n | awk -v h="$host" -v c="$want" -v f="$work/rows.tsv" '{a[NR]=$1} END {printf "| %s | %s | %d | %.4f | %.4f | %.4f |\n", c, h, NR, a[1], a[int((NR+1)/2)], a[NR]; printf "%s\t%s\t%d\t%.4f\t%.4f\t%.4f\n", c, h, NR, a[1], a[int((NR+1)/2)], a[NR] >> f}'
}

mkdir -p "$OUT_DIR"
: > "$work/rows.tsv"
{
echo "edge522 52x timings, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "| code | case (deadline) | n | min s | median s | max s |"
echo "|---|---|---|---|---|---|"
measure bh.test 522 "$N" | sed 's/bh.test/blackholed origin (connect 300ms)/'
measure rf.test 521 "$N" | sed 's/rf.test/refusing origin/'
measure si.test 524 "$N" | sed 's/si.test/silent origin (read 300ms)/'
if [ "${WITH_19S:-0}" = 1 ]; then
    measure bh19.test 522 1 | sed 's/bh19.test/blackholed origin (connect 19s, Cloudflare default)/'
fi
} | tee "$OUT_DIR/summary.md"
python3 - "$work/rows.tsv" "$PWD/bench/lib" "$OUT_DIR/summary.json" "bench/family.sh $N" "$BIN" <<'PY'
import sys
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, sys.argv[2])
from results_json import Results
what = {"bh.test": "blackholed origin (connect 300ms)", "rf.test": "refusing origin",
        "si.test": "silent origin (read 300ms)", "bh19.test": "blackholed origin (connect 19s)"}
js = Results("family")
for line in open(sys.argv[1]):
    code, host, n, lo, mid, hi = line.rstrip("\n").split("\t")
    d = dict(case=what.get(host, host), host=host, n=int(n))
    js.add("edge522", "status", int(code), "code", **d)
    for fig, v in (("min_s", lo), ("median_s", mid), ("max_s", hi)):
        js.add("edge522", fig, float(v), "s", **d)
js.write(sys.argv[3], {"command": sys.argv[4], "edge522": sys.argv[5]})
PY
