#!/usr/bin/env python3
"""Tables for bench/throughput.sh. Usage: summarize_throughput.py CONNS=results.jsonl ... [--json OUT] [--env env.txt]"""
import json
import os
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_json import Results, env_arg, json_arg  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    argv = sys.argv[1:]
    jpath, env = json_arg(argv), env_arg(argv)
    out = Results("throughput")
    sets = []
    for arg in argv:
        c, path = arg.split("=", 1)
        rows = [json.loads(l) for l in open(path) if l.strip()]
        sets.append((int(c), rows))

    print("### Medians over rounds (wrk -t1, keep-alive, 100-byte body)\n")
    print("| conns | target | rounds | req/s median | req/s min-max | p50 ms | p99 ms | p99 min-max "
          "| proxy CPU us/req | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for c, rows in sets:
        targets = []
        for r in rows:
            if r["target"] not in targets:
                targets.append(r["target"])
        for t in targets:
            rs = [r for r in rows if r["target"] == t]
            rps = [r["rps"] for r in rs]
            p50 = med([r["p50_us"] / 1000 for r in rs])
            p99s = [r["p99_us"] / 1000 for r in rs]
            cpu = [r["proxy_ticks"] * 1e6 / CLK / r["requests"] for r in rs if r.get("proxy_ticks") is not None]
            errs = sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
                       for r in rs)
            summary[(c, t)] = dict(rps=med(rps), p50=p50, p99=med(p99s), cpu=med(cpu) if cpu else None,
                                   by_round={r["round"]: r["rps"] for r in rs})
            cpu_s = f"{med(cpu):.2f}" if cpu else "-"
            for fig, v, unit in (("rps_median", med(rps), "req/s"), ("rps_min", min(rps), "req/s"),
                                 ("rps_max", max(rps), "req/s"), ("p50_ms", p50, "ms"), ("p99_ms", med(p99s), "ms"),
                                 ("p99_min_ms", min(p99s), "ms"), ("p99_max_ms", max(p99s), "ms"),
                                 ("proxy_cpu_us_per_request", med(cpu) if cpu else None, "us"),
                                 ("errors", errs, "count"), ("rounds", len(rs), "count")):
                out.add(t, fig, v, unit, conns=c)
            print(f"| {c} | {t} | {len(rs)} | {med(rps):,.0f} | {min(rps):,.0f}-{max(rps):,.0f} | {p50:.3f} "
                  f"| {med(p99s):.3f} | {min(p99s):.3f}-{max(p99s):.3f} | {cpu_s} | {errs} |")

    print("\n### Ratios for edge522\n")
    print("req/s ratio = median req/s of edge522 / median req/s of the other row; 'paired' = median over "
          "rounds of the same-round ratio (the rows of a round run back to back). CPU ratio = the other "
          "proxy's CPU us/req / edge522's (> 1: edge522 spends less CPU per request).\n")
    print("| conns | vs | req/s ratio | paired req/s ratio | p50 edge522 / other ms | p99 edge522 / other ms "
          "| CPU us/req edge522 / other | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|")
    verdicts = []
    for c, _ in sets:
        e = summary.get((c, "edge522"))
        if not e:
            continue
        for o in ("nginx", "haproxy", "direct"):
            s = summary.get((c, o))
            if not s:
                continue
            paired = [e["by_round"][r] / s["by_round"][r] for r in e["by_round"] if r in s["by_round"]]
            cpu = f"{e['cpu']:.2f} / {s['cpu']:.2f}" if s["cpu"] else f"{e['cpu']:.2f} / -"
            cr = f"{s['cpu'] / e['cpu']:.2f}" if s["cpu"] else "-"
            out.add("edge522", "rps_ratio", e["rps"] / s["rps"], "ratio", conns=c, vs=o)
            out.add("edge522", "rps_ratio_paired", med(paired), "ratio", conns=c, vs=o)
            if s["cpu"]:
                out.add("edge522", "cpu_ratio", s["cpu"] / e["cpu"], "ratio", conns=c, vs=o)
            print(f"| {c} | {o} | {e['rps'] / s['rps']:.3f} | {med(paired):.3f} | {e['p50']:.3f} / {s['p50']:.3f} "
                  f"| {e['p99']:.3f} / {s['p99']:.3f} | {cpu} | {cr} |")
        best = [summary[(c, o)] for o in ("nginx", "haproxy") if (c, o) in summary]
        if best:
            b = max(best, key=lambda s: s["rps"])
            ratio = e["rps"] / b["rps"]
            p99_ok = all(e["p99"] <= s["p99"] for s in best)
            out.add("edge522", "target_rps_vs_best_peer", ratio, "ratio", conns=c, met=ratio >= 1.10)
            out.add("edge522", "target_p99_le_peers", 1 if p99_ok else 0, "bool", conns=c, met=p99_ok)
            verdicts.append(f"* conns={c}: edge522 / better of nginx and HAProxy = {ratio:.3f} "
                            f"(target >= 1.10: {'MET' if ratio >= 1.10 else 'NOT met'}); p99 {e['p99']:.3f} ms vs "
                            + " / ".join(f"{s['p99']:.3f}" for s in best)
                            + f" ms (target <= theirs: {'MET' if p99_ok else 'NOT met'})")
        lg = summary.get((c, "edge522-log"))
        if lg:
            # What the access log costs: req/s lost against the same edge with it off (median and
            # paired over rounds), and CPU per request added.
            paired = [1 - lg["by_round"][r] / e["by_round"][r] for r in lg["by_round"] if r in e["by_round"]]
            cost = 1 - lg["rps"] / e["rps"]
            out.add("edge522-log", "access_log_rps_cost", cost, "fraction", conns=c, met=cost <= 0.05)
            out.add("edge522-log", "access_log_rps_cost_paired", med(paired), "fraction", conns=c)
            if e["cpu"] and lg["cpu"]:
                out.add("edge522-log", "access_log_cpu_us_per_request", lg["cpu"] - e["cpu"], "us", conns=c)
            cpu = f"; CPU {lg['cpu']:.2f} vs {e['cpu']:.2f} us/req" if e["cpu"] and lg["cpu"] else ""
            verdicts.append(f"* conns={c}: the access log costs {100 * cost:.1f} % of req/s (paired "
                            f"{100 * med(paired):.1f} %; {lg['rps']:,.0f} vs {e['rps']:,.0f}{cpu}; target <= 5 %: "
                            f"{'MET' if cost <= 0.05 else 'NOT met'})")
    if verdicts:
        print("\n### Target\n")
        print("\n".join(verdicts))
    out.write(jpath, env)


if __name__ == "__main__":
    main()
