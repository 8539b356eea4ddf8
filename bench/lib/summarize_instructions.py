#!/usr/bin/env python3
"""Tables for bench/instructions.sh. Usage: summarize_instructions.py results.jsonl [--json OUT] [--env env.txt]

Instructions per request = (Ir(N2) - Ir(N1)) / (N2 - N1), per rep (a fresh process for each run);
syscalls per request the same way, from counters attached around each client run.
"""
import json
import os
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_json import Results, env_arg, json_arg  # noqa: E402

WHAT = {
    "edge522": 'access_log = "off"',
    "edge522-log-stdout": 'access_log = "stdout" (to a file)',
    "edge522-log-file": 'access_log = "./access.log"',
    "nginx": "access_log off",
    "nginx-log": "access_log FILE combined",
    "haproxy": "no log",
}
READS = ("read", "recvfrom", "recvmsg", "readv")
WRITES = ("write", "writev", "sendto", "sendmsg")


def main():
    argv = sys.argv[1:]
    jpath, env = json_arg(argv), env_arg(argv)
    rows = [json.loads(l) for l in open(argv[0]) if l.strip()]
    out = Results("instructions")
    ir = [r for r in rows if r["kind"] == "ir"]
    labels = []
    for r in rows:
        if r["row"] not in labels:
            labels.append(r["row"])

    print("### Instructions per request (callgrind, user space, all threads of the proxy)\n")
    print("Per rep: a fresh proxy under `valgrind --tool=callgrind` for N1 requests, another for N2; "
          "instructions/request = (Ir(N2) - Ir(N1)) / (N2 - N1): start-up, the sanity request, the "
          "connections and shutdown cancel out. fixed = Ir(N1) - N1 x instructions/request. Keep-alive, "
          "one request in flight per connection, 100-byte bodies, one worker each.\n")
    print("| proxy | access log | conns | N1 / N2 | reps | Ir(N1) | Ir(N2) | instructions / request (median) "
          "| min-max | vs nginx | fixed (start, conns, exit) | client s at N2 under callgrind |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    per = {}
    for lab in labels:
        rs = [r for r in ir if r["row"] == lab]
        if not rs:
            continue
        ns = sorted({r["n"] for r in rs})
        if len(ns) < 2:
            continue
        n1, n2 = ns[0], ns[-1]
        reps = sorted({r["rep"] for r in rs})
        xs, fixed, i1s, i2s, secs = [], [], [], [], []
        for k in reps:
            a = [r for r in rs if r["rep"] == k and r["n"] == n1]
            b = [r for r in rs if r["rep"] == k and r["n"] == n2]
            if not a or not b:
                continue
            x = (b[0]["ir"] - a[0]["ir"]) / (n2 - n1)
            xs.append(x)
            fixed.append(a[0]["ir"] - n1 * x)
            i1s.append(a[0]["ir"])
            i2s.append(b[0]["ir"])
            secs.append(b[0]["client"]["elapsed_s"])
        if not xs:
            continue
        per[lab] = statistics.median(xs)
        conns = rs[0].get("conns", "-")
        d = dict(conns=conns, n1=n1, n2=n2, reps=len(xs))
        out.add(lab, "instructions_per_request", per[lab], "instructions", **d)
        out.add(lab, "instructions_per_request_min", min(xs), "instructions", **d)
        out.add(lab, "instructions_per_request_max", max(xs), "instructions", **d)
        out.add(lab, "fixed_instructions", statistics.median(fixed), "instructions", **d)
        out.add(lab, "ir_n1", statistics.median(i1s), "instructions", **d)
        out.add(lab, "ir_n2", statistics.median(i2s), "instructions", **d)
        per[lab + "/row"] = (lab, conns, n1, n2, len(xs), statistics.median(i1s), statistics.median(i2s), xs,
                             statistics.median(fixed), statistics.median(secs))
    for lab in labels:
        if lab + "/row" not in per:
            continue
        lab, conns, n1, n2, nreps, i1, i2, xs, fx, sec = per[lab + "/row"]
        vs = f"{per[lab] / per['nginx']:.2f}" if "nginx" in per else "-"
        if "nginx" in per:
            out.add(lab, "instructions_ratio_vs_nginx", per[lab] / per["nginx"], "ratio", conns=conns)
        print(f"| {lab} | {WHAT.get(lab, '-')} | {conns} | {n1:,} / {n2:,} | {nreps} | {i1:,.0f} | {i2:,.0f} "
              f"| **{per[lab]:,.0f}** | {min(xs):,.0f}-{max(xs):,.0f} | {vs} | {fx:,.0f} | {sec:.1f} |")
    if "edge522" in per and "nginx" in per:
        e, n = per["edge522"], per["nginx"]
        h = per.get("haproxy")
        print("\n### Target\n")
        print(f"* edge522 {e:,.0f} instructions/request against nginx {n:,.0f}"
              + (f" and HAProxy {h:,.0f}" if h else "")
              + f" (target <= nginx's: {'MET' if e <= n else 'NOT met'}; edge522 / nginx = {e / n:.2f})")
        for lab in ("edge522-log-stdout", "edge522-log-file"):
            if lab in per:
                print(f"* {lab}: the access log costs {per[lab] - e:,.0f} instructions/request "
                      f"({(per[lab] - e) / e * 100:.0f} % on top)")
                out.add(lab, "access_log_instructions_per_request", per[lab] - e, "instructions")
        if "nginx-log" in per:
            print(f"* nginx-log: nginx's access log costs {per['nginx-log'] - n:,.0f} instructions/request")
            out.add("nginx-log", "access_log_instructions_per_request", per["nginx-log"] - n, "instructions")

    sysr = [r for r in rows if r["kind"] == "sys"]
    for method in ("perf", "strace"):
        ms = [r for r in sysr if r["method"] == method]
        if not ms:
            continue
        table = {}   # lab -> (counts per req, errors per req, n1, n2)
        for lab in labels:
            rs = [r for r in ms if r["row"] == lab]
            ns = sorted({r["n"] for r in rs})
            if len(ns) < 2:
                continue
            a = next(r for r in rs if r["n"] == ns[0])
            b = next(r for r in rs if r["n"] == ns[-1])
            dn = ns[-1] - ns[0]
            cnt = {k: (b["counts"].get(k) or 0) - (a["counts"].get(k) or 0)
                   for k in set(a["counts"]) | set(b["counts"])}
            err = {k: (b["errors"].get(k) or 0) - (a["errors"].get(k) or 0)
                   for k in set(a["errors"]) | set(b["errors"])}
            table[lab] = ({k: v / dn for k, v in cnt.items()}, {k: v / dn for k, v in err.items()}, ns[0], ns[-1])
        if not table:
            continue
        labs = list(table)
        n1, n2 = table[labs[0]][2], table[labs[0]][3]
        if method == "perf":
            print(f"\n### Syscalls per request (perf stat tracepoints, native speed; (count(N2) - count(N1)) / "
                  f"(N2 - N1), N = {n1:,} / {n2:,})\n")
            print("reads = read + recvfrom + recvmsg + readv; writes = write + writev + sendto + sendmsg; "
                  "EAGAIN reads = reads that returned -EAGAIN.\n")
        else:
            print(f"\n### Syscalls per request (strace -f -c, attached; (count(N2) - count(N1)) / (N2 - N1), "
                  f"N = {n1:,} / {n2:,})\n")
            print("strace slows every syscall down, so more events are ready per epoll_wait than unobserved. "
                  "errors: the reads' errors are EAGAIN.\n")
        print("| proxy | total | epoll_wait | reads | EAGAIN reads | writes | epoll_ctl | other |")
        print("|---|---|---|---|---|---|---|---|")
        for lab in labs:
            c, e, _, _ = table[lab]
            tot = c.get("total", 0)
            ew = c.get("epoll_wait", 0) + c.get("epoll_pwait", 0)
            rd = sum(c.get(k, 0) for k in READS)
            ea = sum(e.get(k, 0) for k in READS)
            wr = sum(c.get(k, 0) for k in WRITES)
            ctl = c.get("epoll_ctl", 0)
            other = tot - ew - rd - wr - ctl
            for fig, v in (("syscalls_total", tot), ("epoll_wait", ew), ("reads", rd), ("eagain_reads", ea),
                           ("writes", wr), ("epoll_ctl", ctl), ("other", other)):
                out.add(lab, f"{fig}_per_request", v, "syscalls", method=method, n1=n1, n2=n2)
            print(f"| {lab} | {tot:.2f} | {ew:.2f} | {rd:.2f} | {ea:.2f} | {wr:.2f} | {ctl:.2f} | {other:.2f} |")
        names = sorted({k for lab in labs for k, v in table[lab][0].items() if k != "total" and abs(v) >= 0.005},
                       key=lambda k: (-max(table[lab][0].get(k, 0) for lab in labs), k))
        print(f"\nPer syscall ({method}; calls per request, errors in parentheses):\n")
        print("| syscall | " + " | ".join(labs) + " |")
        print("|---|" + "---|" * len(labs))
        for k in names:
            cells = []
            for lab in labs:
                v = table[lab][0].get(k, 0)
                er = table[lab][1].get(k, 0)
                cells.append(f"{v:.3f}" + (f" ({er:.3f})" if abs(er) >= 0.0005 else ""))
                out.add(lab, f"{k}_per_request", v, "syscalls", method=method, errors=er)
            print(f"| {k} | " + " | ".join(cells) + " |")
    out.write(jpath, env)


if __name__ == "__main__":
    main()
