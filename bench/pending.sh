#!/usr/bin/env bash
# bench/pending.sh -- what one request pending on a blackholed origin costs edge522, in RSS, and
# (MASSIF=1) where it goes, block by block.
#
# One edge (threads = 1, access log off, connect deadline 25 s, so nothing expires while it is
# measured) in front of a blackholed origin (bench/peers/lib/blackhole_origin.py). Per round: N
# clients connect and wait (RSS "idle"), then each sends one GET and waits; 3 s later RSS
# "pending". Reported per request: (idle - start) / N, (pending - start) / N and (pending -
# idle) / N, in KiB, where start is the edge's RSS before the clients came. Unlike deadline.sh
# (peak RSS over a 522 storm, beside nginx and HAProxy) this is the steady cost while the connects
# pend, in a fresh process each round.
#
# MASSIF=1: one more run of a build without Asio's frame recycling and without mimalloc
# (MASSIF_BIN, default /tmp/build-sz/edge522: add BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=0 to
# edge522_core's definitions in CMakeLists.txt, -DBOOST_ASIO_DISABLE_SMALL_BLOCK_RECYCLING -g, -DEDGE522_MIMALLOC=OFF) under
# valgrind --tool=massif with MASSIF_N requests: every live block of the peak snapshot, bytes per
# request, by the site that allocated it (coroutine frames by their function). With recycling on,
# a frame takes any cached block big enough, and massif names the block's first owner.
#
# Knobs (env): N=1000 ROUNDS=3 BASE_PORT=61900 EDGE522_BIN=build/edge522 MASSIF=0 MASSIF_N=500
#              OUT_DIR=/tmp/edge522-bench/pending-<timestamp>
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
: "${BASE_PORT:=61900}"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
: "${N:=1000}"
: "${ROUNDS:=3}"
: "${MASSIF:=0}"
: "${MASSIF_N:=500}"
: "${MASSIF_BIN:=/tmp/build-sz/edge522}"
: "${OUT_DIR:=/tmp/edge522-bench/pending-$(date +%Y%m%d-%H%M%S)}"

ORIGIN_PORT=$BASE_PORT
EDGE_PORT=$((BASE_PORT + 1))
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
((N + 200 <= $(ulimit -Hn))) || die "N=$N needs N+200 fds; RLIMIT_NOFILE hard limit is $(ulimit -Hn)"

make_workdir edge522-bench-pending
mkdir -p "$OUT_DIR"
ensure_edge522
check_ports_free "$ORIGIN_PORT" "$EDGE_PORT"
{
    env_header
    echo "command: $0 (N=$N ROUNDS=$ROUNDS MASSIF=$MASSIF MASSIF_N=$MASSIF_N)"
} | tee "$OUT_DIR/env.txt" >&2

python3 "$BENCH_DIR/lib/blackhole_origin.py" "$ORIGIN_PORT" >"$WORK/blackhole.log" 2>&1 &
register_pid blackhole $!
for ((i = 0; i < 100; i++)); do grep -qs READY "$WORK/blackhole.log" && break; sleep 0.1; done
grep -qs READY "$WORK/blackhole.log" || die "the blackholed origin did not come up"

cat >"$WORK/edge522.toml" <<EOF
[edge]
listen = ["127.0.0.1:$EDGE_PORT"]
threads = 1
log_level = "warn"
access_log = "off"
[admin]
listen = ""
[timeouts]
connect = "25s"
[[origins]]
name = "blackholed"
hosts = ["*"]
servers = ["127.0.0.1:$ORIGIN_PORT"]
failover = false
EOF

# clients.py N PORT HOLD_S: N connections ("CONNECTED"); 2 s later one GET on each ("SENDING"); then
# HOLD_S s of waiting before it exits (and closes them).
cat >"$WORK/clients.py" <<'PY'
import socket, sys, time
n, port, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print("CONNECTED", flush=True)
time.sleep(2.0)
print("SENDING", flush=True)
for s in socks:
    s.sendall(b"GET / HTTP/1.1\r\nHost: pending.test\r\nUser-Agent: pending.sh\r\n\r\n")
time.sleep(hold)
PY

RES="$OUT_DIR/rounds.jsonl"
: >"$RES"
for ((round = 1; round <= ROUNDS; round++)); do
    start_edge522 edge "$EDGE_PORT" "$WORK/edge522.toml"
    pid=$(pid_of edge)
    start=$(rss_kb "$pid")
    python3 "$WORK/clients.py" "$N" "$EDGE_PORT" 8 >"$WORK/clients.log" 2>&1 &
    register_pid clients $!
    for ((i = 0; i < 300; i++)); do grep -qs CONNECTED "$WORK/clients.log" && break; sleep 0.1; done
    sleep 1
    idle=$(rss_kb "$pid")
    for ((i = 0; i < 100; i++)); do grep -qs SENDING "$WORK/clients.log" && break; sleep 0.1; done
    sleep 3
    pending=$(rss_kb "$pid")
    echo "{\"round\":$round,\"n\":$N,\"start_kb\":$start,\"idle_kb\":$idle,\"pending_kb\":$pending}" >>"$RES"
    stop_named clients
    stop_named edge
done

if [[ $MASSIF == 1 ]]; then
    [[ -x $MASSIF_BIN ]] || die "MASSIF_BIN=$MASSIF_BIN is not a binary (see the header for how to build it)"
    (cd "$WORK" && valgrind --tool=massif --massif-out-file="$OUT_DIR/massif.out" --detailed-freq=1 \
        --max-snapshots=200 --threshold=0.5 "$MASSIF_BIN" --config "$WORK/edge522.toml" >"$WORK/massif.log" 2>&1) &
    mpid=$!
    wait_tcp "$EDGE_PORT" 30 || die "edge522 under massif did not come up"
    python3 "$WORK/clients.py" "$MASSIF_N" "$EDGE_PORT" 8 >"$WORK/clients.log" 2>&1
    pkill -TERM -P "$mpid" 2>/dev/null || true  # massif writes its file as the edge exits: no KILL
    wait "$mpid" || true
fi

{
    cat "$OUT_DIR/env.txt"
    echo
    python3 - "$RES" "$HERE/lib" "$OUT_DIR/summary.json" "$OUT_DIR/env.txt" "$OUT_DIR/massif.out" "$MASSIF_N" <<'PY'
import json, os, re, statistics, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[2])
from results_json import Results
js = Results("pending")
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
per = lambda k0, k1: [(r[k1] - r[k0]) / r["n"] for r in rows]
print("### RSS per request pending on a blackholed origin (KiB; fresh edge per round)\n")
print("| N | rounds | idle connection (median) | pending request (median) | per round | above idle (median) |")
print("|---|---|---|---|---|---|")
idle, pend, above = per("start_kb", "idle_kb"), per("start_kb", "pending_kb"), per("idle_kb", "pending_kb")
print(f"| {rows[0]['n']} | {len(rows)} | {statistics.median(idle):.2f} | **{statistics.median(pend):.2f}** "
      f"| {' / '.join(f'{x:.2f}' for x in pend)} | {statistics.median(above):.2f} |")
for fig, v in (("kib_idle_connection", statistics.median(idle)), ("kib_pending_request", statistics.median(pend)),
               ("kib_pending_request_max", max(pend)), ("kib_pending_above_idle", statistics.median(above))):
    js.add("edge522", fig, v, "KiB", n=rows[0]["n"])
print(f"\n* target (issue 11, 4.): <= 5 KiB per pending request: "
      f"{'MET' if statistics.median(pend) <= 5 else 'NOT met'} ({statistics.median(pend):.2f})")
js.add("edge522", "target_kib_pending_request", statistics.median(pend), "KiB", met=statistics.median(pend) <= 5)
mf, mn = sys.argv[5], int(sys.argv[6])
if os.path.exists(mf):
    f = open(mf).read().split("\n")
    snaps, cur = [], None
    for i, l in enumerate(f):
        if l.startswith("snapshot="): cur = {}; snaps.append(cur)
        elif l.startswith("mem_heap_B="): cur["heap"] = int(l.split("=")[1])
        elif l.startswith("heap_tree=detailed"): cur["det"] = i
    best = max((s for s in snaps if "det" in s), key=lambda s: s["heap"])
    pat = re.compile(r"^( *)n(\d+): (\d+) (.*)$")
    blocks = []
    for l in f[best["det"] + 1:]:
        m = pat.match(l)
        if not m: break
        if len(m.group(1)) == 4:  # the allocating site: two levels under the allocation function
            blocks.append((int(m.group(3)) / mn, re.sub(r"^0x[0-9A-F]+: |boost::asio::|edge522::|std::", "", m.group(4))))
    print(f"\n### Live blocks at the peak, bytes per request (massif, {mn} requests)\n")
    print("| bytes | allocated by |\n|---|---|")
    for b, w in sorted(blocks, reverse=True):
        if b >= 20:
            print(f"| {b:.0f} | `{w[:110]}` |")
            js.add("edge522", "massif_block", b, "bytes", site=w[:200])
js.write(sys.argv[3], sys.argv[4])
PY
    echo
    echo "host load at end: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT_DIR"
} | tee "$OUT_DIR/summary.md"
