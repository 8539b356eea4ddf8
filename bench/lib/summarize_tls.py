#!/usr/bin/env python3
"""Tables for bench/tls.sh.

Usage: summarize_tls.py results.jsonl --negotiated negotiated.jsonl [--json OUT] [--env env.txt]
       summarize_tls.py --line JSON        (one progress line for one measurement)

results.jsonl: one object per (round, mode, target): mode new | resumed | keepalive, requests,
duration_s, rps, proxy_ticks (utime+stime of the proxy's processes over the run), and for wrk runs
p50_us/p99_us/err_*; for `new` full_handshakes/resumed_handshakes (s_time's '*' / 'r'),
bytes_per_conn/expected_bytes_per_conn and failed_runs (s_time runs that ended at a failed
connection: one failed connection each).
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_json import Results, env_arg, json_arg  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
ORDER = ("edge522", "nginx", "haproxy")
WRK_ERRS = ("err_connect", "err_read", "err_write", "err_status", "err_timeout")


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cpu_us(r):
    return r["proxy_ticks"] * 1e6 / CLK / r["requests"] if r.get("requests") else None


def errors(r):
    e = sum(r.get(k, 0) for k in WRK_ERRS) + r.get("failed_runs", 0)
    if r["mode"] == "new":
        e += r.get("resumed_handshakes", 0)  # a resumed handshake in the `new` test is a defect of the test
        if r.get("bytes_per_conn") != r.get("expected_bytes_per_conn"):
            e += 1
    return e


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def line(d):
    cpu = cpu_us(d)
    lat = f"  p50 {d['p50_us'] / 1000:.3f} ms  p99 {d['p99_us'] / 1000:.3f} ms" if "p50_us" in d else ""
    extra = ""
    if "full_handshakes" in d:
        extra = (f"  full {d['full_handshakes']} resumed {d['resumed_handshakes']} failed connections "
                 f"{d['failed_runs']} bytes/conn {d['bytes_per_conn']} (expected {d['expected_bytes_per_conn']})")
    err = sum(d.get(k, 0) for k in WRK_ERRS)
    print(f"round {d['round']} {d['mode']:9} {d['target']:8} {d['rps']:>9,.0f}/s{lat}  proxy CPU "
          f"{fmt(cpu, '.1f')} us each{extra}" + (f"  wrk errors {err}" if "err_read" in d else ""))


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--line":
        line(json.loads(argv[1]))
        return
    jpath, env = json_arg(argv), env_arg(argv)
    neg_path = None
    if "--negotiated" in argv:
        i = argv.index("--negotiated")
        neg_path = argv[i + 1]
        del argv[i:i + 2]
    out = Results("tls")
    rows = [json.loads(l) for l in open(argv[0]) if l.strip()]
    targets = [t for t in ORDER if any(r["target"] == t for r in rows)]
    targets += sorted({r["target"] for r in rows} - set(targets))
    modes = [m for m in ("new", "resumed", "keepalive") if any(r["mode"] == m for r in rows)]

    # ---------------------------------------------------------------- negotiated
    if neg_path and os.path.exists(neg_path):
        neg = [json.loads(l) for l in open(neg_path) if l.strip()]
        variants = []
        for n in neg:
            if n["variant"] != "resumption" and n["variant"] not in variants:
                variants.append(n["variant"])
        print("### Negotiated (openssl s_client against each proxy, before the run)\n")
        print("| proxy | " + " | ".join(variants) + " | resumes a TLS 1.3 session (ticket) |")
        print("|---|" + "---|" * (len(variants) + 1))
        by = {(n["target"], n["variant"]): n for n in neg}
        for t in targets:
            cells = []
            for v in variants:
                n = by.get((t, v))
                if not n:
                    cells.append("-")
                    continue
                cells.append(f"{n['protocol'] or '?'} {n['cipher'] or '?'}, {(n['temp_key'] or '?').split(',')[0]}"
                             + (f", ALPN {n['alpn']}" if n["alpn"] else ""))
                out.add(t, "negotiated", 1 if n["cipher"] else 0, "bool", variant=v, protocol=n["protocol"],
                        cipher=n["cipher"], temp_key=n["temp_key"], alpn=n["alpn"])
            res = by.get((t, "resumption"), {}).get("resumed", "?")
            out.add(t, "resumes_tls13_session", 1 if res == "Reused" else 0, "bool")
            print(f"| {t} | " + " | ".join(cells) + f" | {'yes' if res == 'Reused' else 'no (' + res + ')'} |")
        # the same cipher everywhere?
        for v in variants:
            ciphers = {t: by[(t, v)]["cipher"] for t in targets if (t, v) in by}
            keys = {t: (by[(t, v)]["temp_key"] or "").split(",")[0] for t in targets if (t, v) in by}
            if len(set(ciphers.values())) > 1 or len(set(keys.values())) > 1:
                print(f"\n**Different negotiation with the {v}:** "
                      + "; ".join(f"{t} {ciphers[t]} {keys[t]}" for t in ciphers) + ".")
        print()

    # ------------------------------------------------------------------ medians
    summary = {}
    for t in targets:
        for m in modes:
            rs = [r for r in rows if r["target"] == t and r["mode"] == m]
            if not rs:
                continue
            rps = [r["rps"] for r in rs]
            s = dict(rps=med(rps), lo=min(rps), hi=max(rps), cpu=med([cpu_us(r) for r in rs]),
                     errs=sum(errors(r) for r in rs), n=len(rs), by_round={r["round"]: r["rps"] for r in rs},
                     client_cpu=med([r["client_cpu_s"] * 1e6 / r["requests"] for r in rs if r["requests"]]),
                     busy=med([r.get("host_busy_pct") for r in rs]))
            if "p50_us" in rs[0]:
                s["p50"] = med([r["p50_us"] / 1000 for r in rs])
                s["p99"] = med([r["p99_us"] / 1000 for r in rs])
                s["p99_lo"] = min(r["p99_us"] / 1000 for r in rs)
                s["p99_hi"] = max(r["p99_us"] / 1000 for r in rs)
            summary[(t, m)] = s
            unit = {"new": "handshakes/s", "resumed": "handshakes/s", "keepalive": "req/s"}[m]
            dims = {"mode": m}
            if m == "keepalive":
                dims["conns"] = rs[0].get("conns")
            else:
                dims["clients"] = rs[0].get("clients")
            for fig, v, u in (("rate_median", s["rps"], unit), ("rate_min", s["lo"], unit), ("rate_max", s["hi"], unit),
                              ("proxy_cpu_us_per_request", s["cpu"], "us"),
                              ("client_cpu_us_per_request", s["client_cpu"], "us"),
                              ("p50_ms", s.get("p50"), "ms"), ("p99_ms", s.get("p99"), "ms"),
                              ("errors", s["errs"], "count"), ("rounds", s["n"], "count")):
                if fig in ("p50_ms", "p99_ms") and m == "new":
                    continue
                out.add(t, fig, v, u, **dims)

    def cell(t, m, key, spec):
        s = summary.get((t, m))
        return fmt(s.get(key) if s else None, spec)

    def rng(t, m):
        s = summary.get((t, m))
        return f"{s['lo']:,.0f}-{s['hi']:,.0f}" if s else "-"

    print("### Medians over rounds (one worker each; 100-byte body; CPU = utime+stime of the proxy's processes / count)\n")
    print("| proxy | new TLS handshakes/s | min-max | CPU us / new handshake | resumed handshakes/s | CPU us / resumed "
          "| keep-alive req/s | min-max | p50 ms | p99 ms | p99 min-max | CPU us / req | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t in targets:
        errs = sum(summary[(t, m)]["errs"] for m in modes if (t, m) in summary)
        ka = summary.get((t, "keepalive"))
        p99r = f"{ka['p99_lo']:.3f}-{ka['p99_hi']:.3f}" if ka else "-"
        print(f"| {t} | {cell(t, 'new', 'rps', ',.0f')} | {rng(t, 'new')} | {cell(t, 'new', 'cpu', '.1f')} "
              f"| {cell(t, 'resumed', 'rps', ',.0f')} | {cell(t, 'resumed', 'cpu', '.1f')} "
              f"| {cell(t, 'keepalive', 'rps', ',.0f')} | {rng(t, 'keepalive')} | {cell(t, 'keepalive', 'p50', '.3f')} "
              f"| {cell(t, 'keepalive', 'p99', '.3f')} | {p99r} | {cell(t, 'keepalive', 'cpu', '.2f')} | {errs} |")

    # ------------------------------------------------------------------- ratios
    if "edge522" in targets and len(targets) > 1:
        print("\n### Ratios edge522 / other\n")
        print("Rates: median of edge522 / median of the other (> 1: edge522 faster); 'paired' = median over rounds "
              "of the same-round ratio. CPU: edge522's CPU per handshake or request / the other's "
              "(> 1: edge522 spends more). p99: edge522 / other.\n")
        print("| vs | new hs/s | paired | CPU / new hs | resumed hs/s | paired | CPU / resumed | keep-alive req/s "
              "| paired | p99 ms edge522 / other | p99 ratio | CPU / req |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for o in targets:
            if o == "edge522":
                continue
            cells = []
            for m in ("new", "resumed", "keepalive"):
                e, s = summary.get(("edge522", m)), summary.get((o, m))
                if not e or not s:
                    cells += ["-", "-", "-"] if m != "keepalive" else ["-", "-", "-", "-"]
                    continue
                ratio = e["rps"] / s["rps"] if s["rps"] else None
                paired = med([e["by_round"][r] / s["by_round"][r] for r in e["by_round"]
                              if r in s["by_round"] and s["by_round"][r]])
                cr = e["cpu"] / s["cpu"] if e["cpu"] and s["cpu"] else None
                out.add("edge522", "rate_ratio", ratio, "ratio", mode=m, vs=o)
                out.add("edge522", "rate_ratio_paired", paired, "ratio", mode=m, vs=o)
                out.add("edge522", "cpu_ratio_edge_over_other", cr, "ratio", mode=m, vs=o)
                cells += [fmt(ratio, ".3f"), fmt(paired, ".3f")]
                if m == "keepalive":
                    pr = e["p99"] / s["p99"] if s.get("p99") else None
                    out.add("edge522", "p99_ratio", pr, "ratio", mode=m, vs=o)
                    cells += [f"{e['p99']:.3f} / {s['p99']:.3f}", fmt(pr, ".2f")]
                cells.append(fmt(cr, ".2f"))
            print(f"| {o} | " + " | ".join(cells) + " |")

    # ------------------------------------------------------------------- checks
    print("\n### Checks\n")
    for t in targets:
        rs = [r for r in rows if r["target"] == t]
        new = [r for r in rs if r["mode"] == "new"]
        notes = []
        if new:
            full = sum(r["full_handshakes"] for r in new)
            resumed = sum(r["resumed_handshakes"] for r in new)
            bad = [r for r in new if r["bytes_per_conn"] != r["expected_bytes_per_conn"]]
            notes.append(f"new: {full:,} full handshakes, {resumed} resumed, "
                         f"{sum(r['failed_runs'] for r in new)} failed (s_time: 'unexpected eof' etc.), bytes per connection "
                         + ("as expected" if not bad else
                            "OFF in " + ", ".join(f"round {r['round']} ({r['bytes_per_conn']} vs "
                                                   f"{r['expected_bytes_per_conn']})" for r in bad)))
        for m in ("resumed", "keepalive"):
            w = [r for r in rs if r["mode"] == m]
            if w:
                errs = {k: sum(r.get(k, 0) for r in w) for k in WRK_ERRS}
                notes.append(f"{m}: wrk errors " + (", ".join(f"{k[4:]} {v}" for k, v in errs.items() if v) or "none"))
        cc = {m: summary[(t, m)]["client_cpu"] for m in modes if (t, m) in summary}
        notes.append("client CPU us each: " + ", ".join(f"{m} {fmt(v, '.0f')}" for m, v in cc.items()))
        notes.append("host busy %: " + ", ".join(f"{m} {fmt(summary[(t, m)]['busy'], '.0f')}"
                                                 for m in modes if (t, m) in summary))
        print(f"* {t}: " + "; ".join(notes))
    out.write(jpath, env)


if __name__ == "__main__":
    main()
