#!/usr/bin/env python3
"""Tables for bench/large.sh. Usage: summarize_large.py results.jsonl 'row=idle_kb,...' [--json OUT] [--env env.txt]"""
import json
import os
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_json import Results, env_arg, json_arg  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def main():
    argv = sys.argv[1:]
    jpath, env = json_arg(argv), env_arg(argv)
    js = Results("large")
    rows = [json.loads(l) for l in open(argv[0]) if l.strip()]
    idle = dict(kv.split("=") for kv in argv[1].split(",") if kv) if len(argv) > 1 else {}
    labels, sizes = [], sorted({r["size_mb"] for r in rows})
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    print("### Throughput and proxy peak RSS (medians over rounds; MB = 10^6 bytes)\n")
    print("peak RSS = VmHWM of the proxy during the transfer (reset right before it); growth = peak - RSS "
          "right before the transfer; idle = RSS after one small warm-up transfer each way.\n")
    print("| size MiB | kind | target | rounds | ok | MB/s median | MB/s min-max | vs direct | proxy CPU s / GiB "
          "| idle RSS kB | peak RSS kB (max) | growth kB (max) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    summ = {}
    for s in sizes:
        for kind in ("download", "upload"):
            d = [r for r in rows if r["size_mb"] == s and r["kind"] == kind and r["label"] == "direct"]
            dmed = statistics.median(r["speed_Bps"] for r in d) if d else None
            for lab in labels:
                rs = [r for r in rows if r["size_mb"] == s and r["kind"] == kind and r["label"] == lab]
                if not rs:
                    continue
                sp = [r["speed_Bps"] / 1e6 for r in rs]
                m = statistics.median(sp)
                ok = sum(1 for r in rs if r["ok"])
                vs = f"{m * 1e6 / dmed:.2f}" if dmed else "-"
                dims = dict(size_mb=s, kind=kind)
                for fig, v, unit in (("mbps_median", m, "MB/s"), ("mbps_min", min(sp), "MB/s"),
                                     ("mbps_max", max(sp), "MB/s"), ("ok", ok, "count"), ("rounds", len(rs), "count"),
                                     ("vs_direct", m * 1e6 / dmed if dmed else None, "ratio")):
                    js.add(lab, fig, v, unit, **dims)
                if rs[0]["peak_rss_kb"] is not None:
                    cpu = statistics.median(r["proxy_ticks"] / CLK / (r["bytes"] / 2**30) for r in rs if r["bytes"])
                    peak = max(r["peak_rss_kb"] for r in rs)
                    growth = max(r["peak_rss_kb"] - r["rss_before_kb"] for r in rs)
                    summ[(s, kind, lab)] = (peak, growth)
                    js.add(lab, "proxy_cpu_s_per_gib", cpu, "s", **dims)
                    js.add(lab, "idle_rss_kb", int(idle[lab]) if lab in idle else None, "kB", **dims)
                    js.add(lab, "peak_rss_kb", peak, "kB", **dims)
                    js.add(lab, "growth_kb", growth, "kB", **dims)
                    print(f"| {s} | {kind} | {lab} | {len(rs)} | {ok}/{len(rs)} | {m:,.0f} | {min(sp):,.0f}-{max(sp):,.0f} "
                          f"| {vs} | {cpu:.2f} | {idle.get(lab, '-')} | {peak} | {growth} |")
                else:
                    print(f"| {s} | {kind} | {lab} | {len(rs)} | {ok}/{len(rs)} | {m:,.0f} | {min(sp):,.0f}-{max(sp):,.0f} "
                          f"| {vs} | - | - | - | - |")
    if len(sizes) > 1:
        print(f"\n### Constant memory? Peak RSS growth (kB) at {sizes[0]} MiB vs {sizes[-1]} MiB\n")
        print("| target | kind | growth small | growth large | peak small | peak large |")
        print("|---|---|---|---|---|---|")
        for lab in labels:
            for kind in ("download", "upload"):
                a, b = summ.get((sizes[0], kind, lab)), summ.get((sizes[-1], kind, lab))
                if a and b:
                    print(f"| {lab} | {kind} | {a[1]} | {b[1]} | {a[0]} | {b[0]} |")

    js.write(jpath, env)


if __name__ == "__main__":
    main()
