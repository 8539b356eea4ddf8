#!/usr/bin/env python3
"""Load checks of the real edge522 binary on loopback (bounded in count and time).

  loadcheck.py slowloris --bin build/edge522 [--n 5000] [--client-header 4]
      N connections that send one byte a second must not stop others being served (healthy p50
      stays under 2x its idle value) and each is closed at client_header (408), never early.
  loadcheck.py soak --bin build/edge522 [--seconds 600] [--n 32]
      N clients loop over mixed traffic for the given time: healthy, large downloads and uploads,
      origins that refuse, blackhole, stall, reset or send garbage, and clients that abort
      mid-request and mid-response. Afterwards: no crash, open fds back to the baseline, RSS
      growth under 5% from the end of the warm-up to the end.
  loadcheck.py drain --bin build/edge522 [--n 200]
      SIGTERM while N requests are in flight: every request already accepted completes (counted on
      both sides), new connects are refused, the process exits 0 within drain_timeout.

Exit status 0 when every check holds; the figures are printed either way.
"""
import argparse
import asyncio
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BODY = b"x" * 100


class Origin:
    """A fast origin: 200 with a 100-byte body, keep-alive; optionally slow by `delay` seconds."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.requests = 0
        self.answered = 0

    async def start(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, backlog=4096)
        self.port = self.server.sockets[0].getsockname()[1]

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
                await writer.drain()
                self.answered += 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def start_edge(binary, toml):
    d = tempfile.mkdtemp(prefix="edge522-load-")
    cfg = os.path.join(d, "edge.toml")
    with open(cfg, "w") as f:
        f.write(toml)
    log = open(os.path.join(d, "edge.log"), "w+")
    proc = subprocess.Popen([binary, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline:
        log.seek(0)
        text = log.read()
        if "listening on http://" in text:
            port = int(text.split("listening on http://")[1].split("\n")[0].rsplit(":", 1)[1])
            return proc, port, log
        if proc.poll() is not None:
            raise SystemExit("edge522 exited at start:\n" + text)
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("edge522 did not start")


def edge_toml(origin_port, extra_timeouts="", extra_edge=""):
    return (f'[edge]\nlisten = ["127.0.0.1:0"]\nthreads = 1\nlog_level = "warn"\n{extra_edge}\n'
            f'[admin]\nlisten = ""\n[timeouts]\n{extra_timeouts}\n'
            f'[[origins]]\nname = "app"\nservers = ["127.0.0.1:{origin_port}"]\n')


async def get(port, reader_writer=None):
    """One GET; returns (status, seconds, (reader, writer)) reusing the connection if given."""
    t0 = time.perf_counter()
    if reader_writer is None:
        reader_writer = await asyncio.open_connection("127.0.0.1", port)
    reader, writer = reader_writer
    writer.write(b"GET / HTTP/1.1\r\nHost: load.test\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status, time.perf_counter() - t0, reader_writer


async def latency_p50(port, n=200):
    rw = None
    samples = []
    for _ in range(n):
        status, s, rw = await get(port, rw)
        assert status == 200, status
        samples.append(s)
    rw[1].close()
    return statistics.median(samples)


async def slowloris(args):
    origin = Origin()
    await origin.start()
    proc, port, log = start_edge(args.bin, edge_toml(origin.port, f'client_header = "{args.client_header}s"'))
    ok = True
    try:
        idle = await latency_p50(port)
        request = b"GET / HTTP/1.1\r\nHost: slow.test\r\nX-Pad: " + b"a" * 64 + b"\r\n\r\n"
        results = []  # per slow connection: (closed_after_seconds, got_408)

        async def slow_client():
            t0 = time.perf_counter()  # before the connect: the edge's accept is never earlier
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                results.append((None, False))
                return
            got = b""
            read_task = asyncio.ensure_future(reader.read(65536))
            for i in range(len(request)):
                if read_task.done():
                    break
                try:
                    writer.write(request[i:i + 1])
                    await writer.drain()
                except ConnectionError:
                    break
                done, _ = await asyncio.wait([read_task], timeout=1.0)
                if done:
                    break
            try:
                got = await asyncio.wait_for(read_task, timeout=args.client_header + 5)
                while True:  # read until the edge closes
                    more = await asyncio.wait_for(reader.read(65536), timeout=5)
                    if not more:
                        break
                    got += more
            except (asyncio.TimeoutError, ConnectionError):
                pass
            results.append((time.perf_counter() - t0, got.startswith(b"HTTP/1.1 408")))
            writer.close()

        tasks = [asyncio.ensure_future(slow_client()) for _ in range(args.n)]
        await asyncio.sleep(1.5)  # every slow client connected and trickling
        during = await latency_p50(port)
        await asyncio.gather(*tasks)
        closed = [r for r in results if r[0] is not None]
        got408 = sum(1 for r in results if r[1])
        early = [r[0] for r in closed if r[0] < args.client_header - 0.01]
        latest = max(r[0] for r in closed) if closed else float("nan")
        print(f"slowloris: {args.n} connections trickling 1 byte/s, client_header {args.client_header}s")
        print(f"  healthy p50 idle {idle * 1000:.3f} ms, during {during * 1000:.3f} ms, ratio {during / idle:.2f}")
        print(f"  slow connections answered 408 and closed: {got408}/{args.n}; closed early: {len(early)}; "
              f"latest close {latest:.2f}s after connect")
        # 2x, with 1 ms of absolute slack for sub-millisecond loopback figures on a shared machine.
        if during > max(2 * idle, idle + 0.001):
            print("  FAIL: healthy latency more than doubled")
            ok = False
        if got408 != args.n or early:
            print("  FAIL: not every slow connection got its 408 at client_header")
            ok = False
        if latest > args.client_header + 3:
            print("  FAIL: a slow connection outlived client_header by over 3 s")
            ok = False
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    return ok


async def drain(args):
    origin = Origin(delay=0.5)
    await origin.start()
    proc, port, log = start_edge(args.bin, edge_toml(origin.port, "", 'drain_timeout = "5s"'))
    ok = True
    try:
        statuses = []

        async def one():
            try:
                status, _, rw = await get(port)
                rw[1].close()
                statuses.append(status)
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                statuses.append(repr(e))

        tasks = [asyncio.ensure_future(one()) for _ in range(args.n)]
        deadline = time.time() + 5
        while origin.requests < args.n and time.time() < deadline:
            await asyncio.sleep(0.01)
        accepted = origin.requests
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.1)
        refused = False
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
        except OSError:
            refused = True
        await asyncio.gather(*tasks)
        while proc.poll() is None and time.perf_counter() - t0 < 10:
            await asyncio.sleep(0.02)
        exit_s = time.perf_counter() - t0
        ok200 = statuses.count(200)
        print(f"drain: {args.n} requests in flight ({accepted} at the origin) when SIGTERM came")
        print(f"  client side: {ok200}/{args.n} got 200; origin side: {origin.answered} answered; "
              f"new connect refused: {refused}; exit code {proc.returncode} after {exit_s:.2f}s")
        if ok200 != args.n or origin.answered != args.n or not refused or proc.returncode != 0 or exit_s > 5.5:
            print("  FAIL")
            ok = False
    finally:
        if proc.poll() is None:
            proc.kill()
    return ok


async def behaviour_server(kind):
    """Origins that misbehave: 'garbage', 'reset', 'silent', 'big' (1 MiB body), 'sink' (reads bodies)."""
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                if kind == "garbage":
                    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
                    await writer.drain()
                    break
                if kind == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    break
                if kind == "silent":
                    await reader.read()  # until the edge gives up and closes
                    break
                body = BODY if kind != "big" else b"b" * (1 << 20)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    return server, server.sockets[0].getsockname()[1]


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


async def soak(args):
    servers = {}
    for kind in ("ok", "big", "sink", "garbage", "reset", "silent"):
        servers[kind] = await behaviour_server("ok" if kind == "sink" else kind)
    refuse = socket.socket()
    refuse.bind(("127.0.0.1", 0))  # bound, never listening: RST
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    filler = socket.socket()
    filler.connect(blackhole.getsockname())  # accept queue full: SYNs dropped
    ports = {k: v[1] for k, v in servers.items()}
    ports["refuse"] = refuse.getsockname()[1]
    ports["blackhole"] = blackhole.getsockname()[1]
    toml = ('[edge]\nlisten = ["127.0.0.1:0"]\nthreads = 2\nlog_level = "warn"\n[admin]\nlisten = ""\n'
            '[timeouts]\nconnect = "300ms"\nread = "300ms"\norigin_idle = "1s"\nclient_header = "2s"\n')
    for kind, port in ports.items():
        toml += f'[[origins]]\nname = "{kind}"\nhosts = ["{kind}.test"]\nservers = ["127.0.0.1:{port}"]\nfailover = false\n'
    proc, port, log = start_edge(args.bin, toml)
    ok = True
    counts = {}
    try:
        await asyncio.sleep(0.3)
        fd_base = fd_count(proc.pid)
        expect = {"ok": 200, "big": 200, "sink": 200, "garbage": 520, "reset": 520, "silent": 524,
                  "refuse": 521, "blackhole": 522}
        import random
        rng = random.Random(522)
        stop_at = time.time() + args.seconds
        wrong = []

        async def client_loop():
            while time.time() < stop_at:
                kind = rng.choice(list(expect) + ["abort_request", "abort_response"])
                try:
                    r, w = await asyncio.open_connection("127.0.0.1", port)
                    if kind == "abort_request":
                        w.write(b"POST / HTTP/1.1\r\nHost: sink.test\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
                        await w.drain()
                    elif kind == "abort_response":
                        w.write(b"GET / HTTP/1.1\r\nHost: big.test\r\n\r\n")
                        await r.readexactly(4096)
                    elif kind == "sink":
                        up = b"u" * 200000
                        w.write(b"POST / HTTP/1.1\r\nHost: sink.test\r\nContent-Length: %d\r\n\r\n" % len(up) + up)
                    else:
                        w.write(f"GET / HTTP/1.1\r\nHost: {kind}.test\r\n\r\n".encode())
                    if kind in expect:
                        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
                        status = int(head.split(b" ", 2)[1])
                        length = 0
                        for line in head.split(b"\r\n"):
                            if line.lower().startswith(b"content-length:"):
                                length = int(line.split(b":")[1])
                        await asyncio.wait_for(r.readexactly(length), 10)
                        if status != expect[kind]:
                            wrong.append((kind, status))
                    counts[kind] = counts.get(kind, 0) + 1
                    w.close()
                except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
                    wrong.append((kind, repr(e)))

        warm = asyncio.ensure_future(asyncio.gather(*[client_loop() for _ in range(args.n)]))
        await asyncio.sleep(min(10, args.seconds * 0.1))
        rss_warm = rss_kib(proc.pid)
        samples = [rss_warm]
        while not warm.done():  # RSS every tenth of the run: a plateau or a trend shows
            await asyncio.sleep(max(1.0, args.seconds / 10))
            if proc.poll() is None:
                samples.append(rss_kib(proc.pid))
        await warm
        await asyncio.sleep(2.5)  # idle origin connections close (origin_idle 1s, swept each second)
        alive = proc.poll() is None
        fd_end = fd_count(proc.pid) if alive else -1
        rss_end = rss_kib(proc.pid) if alive else -1
        total = sum(counts.values())
        growth = (rss_end - rss_warm) / rss_warm * 100 if rss_warm > 0 else float("nan")
        print(f"soak: {args.seconds}s, {args.n} clients, {total} exchanges: " +
              ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print(f"  wrong answers: {len(wrong)} {wrong[:5]}")
        print(f"  RSS KiB over the run: {' '.join(str(x) for x in samples)}")
        print(f"  alive: {alive}; fds baseline {fd_base}, after {fd_end}; RSS after warm-up {rss_warm} KiB, "
              f"at the end {rss_end} KiB ({growth:+.1f}%)")
        if args.no_rss_check:
            print("  (RSS growth not judged: a sanitizer build holds freed memory in quarantine)")
            growth = 0
        if not alive or wrong or fd_end > fd_base or growth >= 5:
            print("  FAIL")
            ok = False
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = -9
            if rc != 0:
                print(f"  FAIL: exit code {rc} after SIGTERM")
                ok = False
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["slowloris", "drain", "soak"])
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--no-rss-check", action="store_true")
    p.add_argument("--bin", required=True)
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--client-header", type=float, default=4.0)
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.n is None:
        args.n = {"slowloris": 5000, "drain": 200, "soak": 32}[args.mode]
    modes = {"slowloris": slowloris, "drain": drain, "soak": soak}
    ok = asyncio.run(modes[args.mode](args))
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
