#!/usr/bin/env python3
"""Per-request profile from two callgrind runs of the same proxy (bench/instructions.sh keeps them in
OUT_DIR/callgrind/ROW-rREP-nN.out): every figure is (cost(N2) - cost(N1)) / (N2 - N1), so start-up,
connection setup and shutdown cancel out, as in the instructions table.

Usage: callgrind_profile.py N1.out N2.out [--top 25] [--json OUT] [--calls FN,FN...]
       (N1 and N2 are read from the files' names, ...-nN.out, or given as --n1 / --n2)

Prints: total instructions per request; the top functions by exclusive and by inclusive cost; the
cost by group (Beast parser, Beast fields, Asio reactor/scheduler, timers, coroutine frames,
malloc/free, mem/string ops, our code by source file, ...); calls per request of malloc, free,
operator new/delete, aligned_alloc, memcpy and of the syscall wrappers.
Inclusive cost = exclusive cost + the cost of the calls the function makes (recursive calls not
added twice); coroutine resumption makes some inclusive figures overlap, as in callgrind_annotate.
"""
import collections
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_json import Results, json_arg  # noqa: E402


def parse(path):
    """-> (total Ir, {fn: self Ir}, {fn: inclusive Ir}, {fn: calls into fn}, {fn: file}, {fn: object})"""
    names = {"fl": {}, "fn": {}, "ob": {}}
    kind_of = {"fl": "fl", "fi": "fl", "fe": "fl", "cfl": "fl", "cfi": "fl", "fn": "fn", "cfn": "fn",
               "ob": "ob", "cob": "ob"}
    npos = 1
    self_cost = collections.Counter()
    self_by_file = collections.Counter()   # (fn, source file of the instructions) -> self cost
    call_cost = collections.Counter()   # (caller, callee) -> inclusive cost of those calls
    calls_in = collections.Counter()
    calls_edge = collections.Counter()  # (caller, callee) -> number of calls
    file_of, obj_of = {}, {}
    total = None
    fn = fl = ob = None
    cur_file = None
    cfn = cob = None
    pending_call = None
    comp = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def name(kind, v):
        m = comp.match(v)
        if not m:
            return v
        ident, nm = m.group(1), m.group(2)
        table = names[kind_of[kind]]
        if nm is not None:
            table[ident] = nm
            return nm
        return table.get(ident, "(" + ident + ")")

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                costs = parts[npos:]
                ir = int(costs[0]) if costs else 0
                if pending_call is not None:
                    call_cost[(fn, pending_call[0])] += ir
                    calls_in[pending_call[0]] += pending_call[1]
                    calls_edge[(fn, pending_call[0])] += pending_call[1]
                    pending_call = None
                else:
                    self_cost[fn] += ir
                    self_by_file[(fn, cur_file)] += ir
                continue
            if "=" in line:
                key, _, val = line.partition("=")
                if key == "fn":
                    fn = name("fn", val)
                    cur_file = fl
                    file_of.setdefault(fn, fl)
                    obj_of.setdefault(fn, ob)
                    cfn = None
                elif key == "fl":
                    fl = cur_file = name("fl", val)
                elif key in ("fi", "fe"):
                    cur_file = name(key, val)
                elif key == "ob":
                    ob = name("ob", val)
                elif key == "cfn":
                    cfn = name("cfn", val)
                elif key in ("cfl", "cfi"):
                    name(key, val)
                elif key == "cob":
                    cob = name("cob", val)
                elif key == "calls":
                    cnt = int(val.split()[0])
                    pending_call = (cfn, cnt)
                    if cob is not None:
                        obj_of.setdefault(cfn, cob)
                    cob = None
                continue
            if line.startswith("positions:"):
                npos = len(line.split()[1:])
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    incl = collections.Counter(self_cost)
    for (a, b), v in call_cost.items():
        if a != b:
            incl[a] += v
    if total is None:
        total = sum(self_cost.values())
    # a function's own source file: the proxy/ or config/ file most of its instructions come from
    # (callgrind's fl is the file of its first instruction, often an inlined header), else fl
    ours = {}
    for (f_, src), v in self_by_file.items():
        if src and re.search(r"/(proxy|config)/", src) and v > ours.get(f_, ("", -1))[1]:
            ours[f_] = (src, v)
    for f_, (src, _) in ours.items():
        file_of[f_] = src
    parse.edges = (call_cost, calls_edge)
    return total, self_cost, incl, calls_in, file_of, obj_of


def qualname(n):
    """'void ns::cls<T>::fn<U>(args) const' -> 'ns::cls::fn' (no return type, template args or arguments)"""
    n = n or ""
    n = n.replace("operator()", "operator_call").replace("(anonymous namespace)", "{anon}")
    out, depth = [], 0
    for ch in n:
        if ch == "<":
            depth += 1
            continue
        if ch == ">":
            depth = max(0, depth - 1)
            continue
        if depth:
            continue
        if ch == "(":
            break
        out.append(ch)
    q = "".join(out).strip()
    # drop a return type ('void ns::f', 'unsigned long ns::f'): the last space-separated word
    if " " in q and not q.startswith("operator"):
        q = q.split(" ")[-1] if "operator" not in q else q[q.rfind(" ", 0, q.find("operator")) + 1:]
    return q.replace("operator_call", "operator()")


GROUPS = [   # (group, test on the function's qualified name q, source file f, object o); first match wins
    ("malloc/free (glibc, operator new/delete)",
     lambda q, f, o: re.match(r"^(malloc|free|cfree|calloc|realloc|aligned_alloc|memalign|posix_memalign|"
                              r"_int_\w+|_mid_memalign|malloc_consolidate|unlink_chunk|tcache_\w+|"
                              r"__libc_(malloc|free|calloc|realloc|memalign)|operator new|operator delete|"
                              r"sysmalloc|arena_\w+)\b", q)),
    ("coroutine frames (Asio awaitable machinery)",
     lambda q, f, o: re.match(r"^(boost::)?asio::(detail::)?(awaitable\w*|co_spawn\w*|thread_info_base|"
                              r"as_tuple_handler|async_result|append_handler|co_composed\w*)", q)),
    ("timers (steady_timer, timer queue: the watchdog and the pool)",
     lambda q, f, o: re.search(r"timer_queue|deadline_timer_service|basic_waitable_timer|chrono_time_traits|"
                               r"wait_handler|client_session::arm$|client_session::watchdog$|"
                               r"epoll_reactor::(schedule_timer|cancel_timer|update_timeout|get_timeout)", q)),
    ("Asio reactor/scheduler/socket ops", lambda q, f, o: re.match(r"^(boost::)?asio::", q)),
    ("Beast parser", lambda q, f, o: re.match(r"^(boost::)?beast::http::(basic_parser|parser|detail::basic_parser)", q)),
    ("Beast fields (basic_fields, its intrusive tree)",
     lambda q, f, o: re.match(r"^(boost::)?(beast::http::basic_fields|intrusive::)", q)),
    ("Beast other (flat_buffer, iequals, rfc7230)", lambda q, f, o: re.match(r"^(boost::)?beast::", q)),
    ("Boost.URL (request_target's host checks)", lambda q, f, o: re.match(r"^(boost::)?urls::", q)
     or "libboost_url" in (o or "")),
    ("mem/string ops (memcpy, memchr, std::string)",
     lambda q, f, o: re.match(r"^(__)?(mem(cpy|move|set|chr|cmp|rchr)|str(len|chr|cmp|ncmp|casecmp|ncasecmp)|"
                              r"wmem\w+)", q) or re.match(r"^std::(__cxx11::)?basic_string", q)),
    ("access log", lambda q, f, o: "access_log" in (f or "") or re.search(r"access_log|log_access", q)),
    ("fmt/spdlog", lambda q, f, o: re.match(r"^(fmt|spdlog)::", q)),
    ("metrics", lambda q, f, o: "metrics" in (f or "") or "metrics" in q),
    ("locks (pthread_mutex)", lambda q, f, o: re.match(r"^(__)?pthread_mutex", q)),
]


def group_of(n, f, o):
    q = qualname(n)
    for g, test in GROUPS:
        if test(q, f, o):
            return g
    if f and re.search(r"/(proxy|config)/", f):
        return "ours: " + re.sub(r"^.*/((proxy|config)/.*)$", r"\1", f)
    base = os.path.basename(o or "")
    if base.startswith("libc.so") or base.startswith("libc-"):
        return "libc other (syscall wrappers, ...)"
    if base.startswith("libstdc++"):
        return "libstdc++ other"
    if base.startswith("ld-linux"):
        return "ld.so"
    return "other: " + (base or "?")


def short(n, width=110):
    n = re.sub(r"boost::asio::", "asio::", n)
    n = re.sub(r"boost::beast::", "beast::", n)
    n = re.sub(r"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string", n)
    return n if len(n) <= width else n[: width - 3] + "..."


def fshort(fl):
    """/usr/include/boost/x.hpp -> boost/x.hpp; /src/proxy/y.cpp -> proxy/y.cpp"""
    return re.sub(r"^.*/(include|proxy|config)/", lambda m: "" if m.group(1) == "include" else m.group(1) + "/", fl)


def main():
    argv = sys.argv[1:]
    jpath = json_arg(argv)
    opts = {}
    for k in ("--top", "--n1", "--n2", "--label", "--callers"):
        if k in argv:
            i = argv.index(k)
            opts[k] = argv[i + 1]
            del argv[i:i + 2]
    a, b = argv[0], argv[1]

    def n_of(p):
        m = re.search(r"-n(\d+)\.out$", p)
        return int(m.group(1)) if m else None
    n1 = int(opts.get("--n1") or n_of(a))
    n2 = int(opts.get("--n2") or n_of(b))
    top = int(opts.get("--top", 25))
    label = opts.get("--label", "edge522")
    dn = n2 - n1
    t1, s1, i1, c1, f1, o1 = parse(a)
    e1 = parse.edges
    t2, s2, i2, c2, f2, o2 = parse(b)
    e2 = parse.edges
    files = dict(f1)
    files.update(f2)
    objs = dict(o1)
    objs.update(o2)
    out = Results("callgrind_profile")

    per = (t2 - t1) / dn
    out.add(label, "instructions_per_request", per, "instructions", n1=n1, n2=n2)
    print(f"### {label}: {per:,.0f} instructions per request ((Ir(N2) - Ir(N1)) / (N2 - N1), N1 = {n1:,}, N2 = {n2:,})\n")

    fns = set(s1) | set(s2) | set(i1) | set(i2)
    ex = {fn: (s2.get(fn, 0) - s1.get(fn, 0)) / dn for fn in fns}
    inc = {fn: (i2.get(fn, 0) - i1.get(fn, 0)) / dn for fn in fns}
    calls = {fn: (c2.get(fn, 0) - c1.get(fn, 0)) / dn for fn in set(c1) | set(c2)}

    groups = collections.Counter()
    for fn, v in ex.items():
        groups[group_of(fn, files.get(fn), objs.get(fn))] += v
    print("#### By group (exclusive instructions per request; every function in exactly one group)\n")
    print("| group | instructions / request | share |")
    print("|---|---|---|")
    for g, v in sorted(groups.items(), key=lambda kv: -kv[1]):
        if abs(v) < 0.5:
            continue
        out.add(label, "group_instructions_per_request", v, "instructions", group=g)
        print(f"| {g} | {v:,.0f} | {v / per * 100:.1f} % |")
    print(f"| **total** | **{sum(groups.values()):,.0f}** | |")

    print(f"\n#### Top {top} functions by exclusive cost (per request)\n")
    print("| # | instructions | share | calls / request | group | function | file |")
    print("|---|---|---|---|---|---|---|")
    for k, (fn, v) in enumerate(sorted(ex.items(), key=lambda kv: -kv[1])[:top], 1):
        fl = files.get(fn) or "?"
        out.add(label, "exclusive_instructions_per_request", v, "instructions", function=fn, file=fl)
        print(f"| {k} | {v:,.0f} | {v / per * 100:.1f} % | {calls.get(fn, 0):.2f} | {group_of(fn, fl, objs.get(fn))} "
              f"| `{short(fn)}` | {fshort(fl)} |")

    roots = [fn for fn, v in inc.items() if v >= 0.99 * per]
    print(f"\n#### Top {top} functions by inclusive cost (per request)\n")
    if roots:
        print("Left out: the thread's root chain, 100 % each (" + ", ".join(f"`{short(r, 60)}`" for r in roots) + ").\n")
    print("| # | instructions | share | calls / request | function | file |")
    print("|---|---|---|---|---|---|")
    for k, (fn, v) in enumerate(sorted(((f_, v) for f_, v in inc.items() if f_ not in roots),
                                       key=lambda kv: -kv[1])[:top], 1):
        fl = files.get(fn) or "?"
        out.add(label, "inclusive_instructions_per_request", v, "instructions", function=fn, file=fl)
        print(f"| {k} | {v:,.0f} | {v / per * 100:.1f} % | {calls.get(fn, 0):.2f} | `{short(fn)}` "
              f"| {fshort(fl)} |")

    print("\n#### Our functions (files under proxy/ and config/), inclusive, per request\n")
    print("| instructions incl. | exclusive | calls / request | function | file |")
    print("|---|---|---|---|---|")
    ours = [(fn, v) for fn, v in inc.items()
            if re.search(r"/(proxy|config)/", files.get(fn) or "") and v >= 20 and fn not in roots]
    for fn, v in sorted(ours, key=lambda kv: -kv[1])[:40]:
        fl = re.sub(r"^.*/((proxy|config)/.*)$", r"\1", files.get(fn))
        out.add(label, "ours_inclusive_instructions_per_request", v, "instructions", function=fn, file=fl)
        print(f"| {v:,.0f} | {ex.get(fn, 0):,.0f} | {calls.get(fn, 0):.2f} | `{short(fn)}` | {fl} |")

    print("\n#### Calls per request\n")
    print("| function | calls / request | instructions / call (exclusive) |")
    print("|---|---|---|")
    want = re.compile(r"^(malloc|free|calloc|realloc|aligned_alloc|_mid_memalign|operator new|operator delete|"
                      r"__(memcpy|memmove|memset|memchr|memcmp|strlen)\w*|mem(cpy|move|set|chr)|"
                      r"epoll_wait|epoll_ctl|recv|recvfrom|recvmsg|read|send|sendto|sendmsg|write|writev|"
                      r"clock_gettime|__clock_gettime|timerfd_settime|pthread_mutex_lock|pthread_mutex_unlock)\b")
    rows = [(fn, v) for fn, v in calls.items() if fn and want.match(fn) and v >= 0.005]
    for fn, v in sorted(rows, key=lambda kv: -kv[1]):
        out.add(label, "calls_per_request", v, "calls", function=fn)
        print(f"| `{short(fn, 80)}` | {v:.2f} | {ex.get(fn, 0) / v if v else 0:,.0f} |")
    if "--callers" in opts:
        # who calls the functions matching a regex: calls and inclusive cost per request, per caller
        rx = re.compile(opts["--callers"])
        print(f"\n#### Callers of /{opts['--callers']}/ (per request)\n")
        print("| callee | caller | calls / request | instructions / request (inclusive, via these calls) |")
        print("|---|---|---|---|")
        keys = {k for k in set(e1[1]) | set(e2[1]) if k[1] and rx.search(k[1])}
        rows = []
        for k in keys:
            n = (e2[1].get(k, 0) - e1[1].get(k, 0)) / dn
            v = (e2[0].get(k, 0) - e1[0].get(k, 0)) / dn
            if abs(n) >= 0.005:
                rows.append((k, n, v))
        for (caller, callee), n, v in sorted(rows, key=lambda r: -r[1])[:60]:
            print(f"| `{short(callee, 60)}` | `{short(caller, 120)}` | {n:.2f} | {v:,.0f} |")
    out.write(jpath)


if __name__ == "__main__":
    main()
