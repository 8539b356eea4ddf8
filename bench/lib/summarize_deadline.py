#!/usr/bin/env python3
"""Tables for bench/deadline.sh. Usage: summarize_deadline.py OUT_DIR DEADLINE_MS [--json OUT] [--env env.txt]"""
import json
import math
import os
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_json import Results, env_arg, json_arg  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def pct(xs, p):
    """nearest rank; xs sorted"""
    if not xs:
        return float("nan")
    return xs[max(1, math.ceil(p / 100 * len(xs))) - 1]


def codes_str(codes):
    return " ".join(f"{k}:{v}" for k, v in sorted(codes.items()))


def main():
    argv = sys.argv[1:]
    jpath, env = json_arg(argv), env_arg(argv)
    js = Results("deadline")
    out, deadline = argv[0], float(argv[1])
    lines = [json.loads(l) for l in open(os.path.join(out, "requests.jsonl")) if l.strip()]
    meta = [json.loads(l) for l in open(os.path.join(out, "runs.jsonl")) if l.strip()]
    reqs = [l for l in lines if l["kind"] == "req"]
    probes = [l for l in lines if l["kind"] == "probe"]
    runs = [l for l in lines if l["kind"] == "run"]
    labels = []
    for r in reqs:
        if r["label"] not in labels:
            labels.append(r["label"])
    ns = sorted({r["n"] for r in reqs})

    print(f"### Lateness = client-observed elapsed - deadline ({deadline:g} ms), ms, pooled over reps\n")
    print("Nearest-rank percentiles. Negative = answered before the deadline (early). "
          "`ideal` is the calibration floor (answers exactly at the deadline, no upstream).\n")
    print("Proxy CPU = utime + stime of the proxy's processes over the rep (accepting N connections, N requests, "
          "N connects, N answers, closing everything, plus the probes), per blackholed request, median over reps.\n")
    print("| proxy | N | reps | requests | status codes | min | p50 | p99 | max | early | per-rep p50 | per-rep max "
          "| client send spread ms (max) | proxy CPU us/req |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    res = {}
    for lab in labels:
        for n in ns:
            rs = [r for r in reqs if r["label"] == lab and r["n"] == n]
            if not rs:
                continue
            codes = {}
            for r in rs:
                codes[r["status"]] = codes.get(r["status"], 0) + 1
            d = sorted(r["elapsed_ms"] - deadline for r in rs if r["elapsed_ms"] is not None)
            reps = sorted({r["rep"] for r in rs})
            pr50, prmax = [], []
            for k in reps:
                x = sorted(r["elapsed_ms"] - deadline for r in rs if r["rep"] == k and r["elapsed_ms"] is not None)
                if x:
                    pr50.append(statistics.median(x))
                    prmax.append(x[-1])
            spread = max((u["send_spread_ms"] for u in runs if u["label"] == lab and u["n"] == n), default=float("nan"))
            early = sum(1 for x in d if x < 0)
            tk = [m["proxy_ticks"] * 1e6 / CLK / n for m in meta if m["label"] == lab and m["n"] == n and "proxy_ticks" in m]
            cpu = f"{statistics.median(tk):.1f}" if tk else "-"
            res[(lab, n)] = dict(codes=codes, d=d, early=early, total=len(rs))
            js.add(lab, "requests", len(rs), "count", n=n, reps=len(reps))
            for code, k in sorted(codes.items()):
                js.add(lab, "status_count", k, "count", n=n, status=code)
            if d:
                for fig, v in (("lateness_min_ms", d[0]), ("lateness_p50_ms", pct(d, 50)),
                               ("lateness_p99_ms", pct(d, 99)), ("lateness_max_ms", d[-1])):
                    js.add(lab, fig, v, "ms", n=n)
                js.add(lab, "early_answers", early, "count", n=n)
            js.add(lab, "client_send_spread_max_ms", spread, "ms", n=n)
            js.add(lab, "proxy_cpu_us_per_request", statistics.median(tk) if tk else None, "us", n=n)
            if d:
                print(f"| {lab} | {n} | {len(reps)} | {len(rs)} | {codes_str(codes)} | {d[0]:.2f} | {pct(d, 50):.2f} "
                      f"| {pct(d, 99):.2f} | {d[-1]:.2f} | {early} | {' / '.join(f'{x:.2f}' for x in pr50)} "
                      f"| {' / '.join(f'{x:.2f}' for x in prmax)} | {spread:.2f} | {cpu} |")
            else:
                print(f"| {lab} | {n} | {len(reps)} | {len(rs)} | {codes_str(codes)} | - | - | - | - | - | - | - | - | - |")

    print("\n### Healthy origin through the same proxy: idle vs while the N blackholed requests are pending\n")
    print("Sequential keep-alive GETs (Host: fast.test) on one extra connection, paced; 'idle' = before the "
          "burst, proxy otherwise idle; 'during' = GETs that completed before the first blackholed answer came "
          "back (all N connects pending). Latency in ms, pooled over reps.\n")
    print("| proxy | N | idle probes | idle p50 | idle p99 | during probes | during p50 | during p99 | during max "
          "| during p50 / idle p50 | non-200 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    pres = {}
    for lab in labels:
        for n in ns:
            ps = [p for p in probes if p["label"] == lab and p["n"] == n]
            if not ps:
                continue
            idle = sorted(p["lat_ms"] for p in ps if p["phase"] == "idle")
            dur = sorted(p["lat_ms"] for p in ps if p["phase"] == "during" and p["all_pending"])
            bad = sum(1 for p in ps if p["status"] != 200)
            ratio = statistics.median(dur) / statistics.median(idle) if idle and dur else float("nan")
            pres[(lab, n)] = (ratio, bad, len(dur))
            for fig, v, unit in (("probe_idle_p50_ms", statistics.median(idle) if idle else None, "ms"),
                                 ("probe_idle_p99_ms", pct(idle, 99), "ms"),
                                 ("probe_during_count", len(dur), "count"),
                                 ("probe_during_p50_ms", statistics.median(dur) if dur else None, "ms"),
                                 ("probe_during_p99_ms", pct(dur, 99), "ms"),
                                 ("probe_during_max_ms", dur[-1] if dur else None, "ms"),
                                 ("probe_during_over_idle_p50", ratio, "ratio"), ("probe_non_200", bad, "count")):
                js.add(lab, fig, v, unit, n=n)
            print(f"| {lab} | {n} | {len(idle)} | {statistics.median(idle):.3f} | {pct(idle, 99):.3f} | {len(dur)} "
                  f"| {statistics.median(dur) if dur else float('nan'):.3f} | {pct(dur, 99):.3f} "
                  f"| {dur[-1] if dur else float('nan'):.3f} | {ratio:.2f} | {bad} |")

    print("\n### Proxy memory (kB, summed over the proxy's processes)\n")
    print("Peak = VmHWM reset (clear_refs 5) right before each rep, read right after the last answer.\n")
    print("| proxy | N | idle RSS (start) | peak RSS (max over reps) | peak RSS per rep | (peak - idle) / N "
          "| RSS after rep (last) | ListenOverflows per rep | SYN-SENT left |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lab in labels:
        for n in ns:
            ms = [m for m in meta if m["label"] == lab and m["n"] == n]
            if not ms:
                continue
            idle = ms[0]["idle_rss_kb"]
            peaks = [m["peak_rss_kb"] for m in ms]
            for fig, v, unit in (("idle_rss_kb", idle, "kB"), ("peak_rss_kb", max(peaks), "kB"),
                                 ("peak_minus_idle_per_request_kb", (max(peaks) - idle) / n, "kB"),
                                 ("rss_after_kb", ms[-1]["rss_after_kb"], "kB"),
                                 ("listen_overflows_max", max(m["listen_overflows"] for m in ms), "count"),
                                 ("syn_sent_left", max(m["syn_sent_left"] for m in ms), "count")):
                js.add(lab, fig, v, unit, n=n)
            print(f"| {lab} | {n} | {idle} | {max(peaks)} | {' / '.join(map(str, peaks))} "
                  f"| {(max(peaks) - idle) / n:.2f} | {ms[-1]['rss_after_kb']} "
                  f"| {' / '.join(str(m['listen_overflows']) for m in ms)} | {max(m['syn_sent_left'] for m in ms)} |")

    if any(l == "edge522" for l in labels):
        print("\n### Targets for edge522\n")
        for n in ns:
            r = res.get(("edge522", n))
            if not r:
                continue
            d = r["d"]
            all522 = r["codes"].get(522, 0) == r["total"]
            p99 = pct(d, 99)
            pr = pres.get(("edge522", n), (float("nan"), 0, 0))
            ideal = res.get(("ideal", n))
            floor = f" (calibration floor, ideal row: p99 {pct(ideal['d'], 99):.2f} ms)" if ideal and ideal["d"] else ""
            js.add("edge522", "target_all_522", 1 if all522 else 0, "bool", n=n, met=all522)
            js.add("edge522", "target_p99_lateness_ms", p99, "ms", n=n, met=p99 <= 5)
            js.add("edge522", "target_early_answers", r["early"], "count", n=n, met=r["early"] == 0)
            js.add("edge522", "target_probe_during_over_idle_p50", pr[0], "ratio", n=n, met=pr[0] < 2)
            print(f"* N={n}: every request a 522: {'MET' if all522 else 'NOT met'} ({codes_str(r['codes'])}); "
                  f"p99 lateness {p99:.2f} ms (target <= 5 ms: {'MET' if p99 <= 5 else 'NOT met'}){floor}; "
                  f"min {d[0]:.2f} ms, early answers: {r['early']} (target 0: {'MET' if r['early'] == 0 else 'NOT met'}); "
                  f"healthy p50 during/idle {pr[0]:.2f}x over {pr[2]} probes (target < 2x: "
                  f"{'MET' if pr[0] < 2 else 'NOT met'})")

    js.write(jpath, env)


if __name__ == "__main__":
    main()
