#!/usr/bin/env python3
"""Tables for bench/large.sh. Usage: summarize_large.py results.jsonl 'row=idle_kb,...'"""
import json
import os
import statistics
import sys

CLK = os.sysconf("SC_CLK_TCK")


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    idle = dict(kv.split("=") for kv in sys.argv[2].split(",") if kv) if len(sys.argv) > 2 else {}
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
                if rs[0]["peak_rss_kb"] is not None:
                    cpu = statistics.median(r["proxy_ticks"] / CLK / (r["bytes"] / 2**30) for r in rs if r["bytes"])
                    peak = max(r["peak_rss_kb"] for r in rs)
                    growth = max(r["peak_rss_kb"] - r["rss_before_kb"] for r in rs)
                    summ[(s, kind, lab)] = (peak, growth)
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


if __name__ == "__main__":
    main()
