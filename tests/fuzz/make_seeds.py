#!/usr/bin/env python3
"""Writes the generated seeds of tests/fuzz/corpus/: heads with fields around and past 64 KiB (the
most one field of Beast's basic_fields can hold: larger throws std::length_error), obs-fold past
64 KiB, long targets, absolute-form targets, bytes >= 0x80, and the fuzz_exchange seeds.
The hand-written seeds beside them are not touched. Run from anywhere:

    python3 tests/fuzz/make_seeds.py

Formats: fuzz_request_head = client bytes; fuzz_origin_response = one flag byte (1 HEAD, 2 client
HTTP/1.0, 4 client keep-alive) then the origin's bytes; fuzz_exchange = client bytes, "<<<ORIGIN>>>",
origin bytes.
"""
import pathlib

here = pathlib.Path(__file__).resolve().parent
corpus = here / "corpus"
SEP = b"<<<ORIGIN>>>"


def filler(n, alphabet=b"abcdefghijklmnopqrstuvwxyz0123456789"):
    return (alphabet * (n // len(alphabet) + 1))[:n]


def req(target=b"/", fields=(), method=b"GET", version=b"HTTP/1.1", host=b"example.test"):
    out = method + b" " + target + b" " + version + b"\r\n"
    if host is not None:
        out += b"Host: " + host + b"\r\n"
    for name, value in fields:
        out += name + b": " + value + b"\r\n"
    return out + b"\r\n"


def res(status=b"200 OK", fields=(), body=b"ok"):
    out = b"HTTP/1.1 " + status + b"\r\n"
    for name, value in fields:
        out += name + b": " + value + b"\r\n"
    if body is not None:
        out += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    return out + b"\r\n" + (body or b"")


def xff(n):
    # "10.0.0.1, 10.0.0.2, ..." cut to exactly n bytes, ending on a digit
    s = bytearray(b", ".join(b"10.0.%d.%d" % (i // 250, i % 250 + 1) for i in range(n // 8 + 2))[:n])
    i = len(s) - 1
    while s[i] in b", .":
        s[i] = ord("1")
        i -= 1
    return bytes(s)


def folded(total, pieces=4):
    # One field value of `total` bytes as obs-fold continuation lines (Beast joins them into one value).
    per = total // pieces
    return b"\r\n ".join(filler(per) for _ in range(pieces))


cookie_70000 = b"session=" + filler(70000 - 8)
high = b"caf\xc3\xa9 \xff\xfe\x80 na\xefve"

request_head = {
    "huge_cookie_70000.http": req(fields=[(b"Cookie", cookie_70000)]),
    "field_65536.http": req(fields=[(b"X-Big", filler(65536))]),
    # 65,530 fits in basic_fields; 65,540 does not: one keep-alive connection, one after the other
    "pipelined_65530_65540.http": req(fields=[(b"X-Big", filler(65530))]) + req(fields=[(b"X-Big", filler(65540))]),
    "name_65540.http": req(fields=[(b"X-" + filler(65538, b"abcdefghij-"), b"v")]),
    "xff_65500.http": req(fields=[(b"X-Forwarded-For", xff(65500))]),
    # fits as read, but the edge appends ", cloudflare": 65,537 bytes
    "cdn_loop_65525.http": req(fields=[(b"CDN-Loop", filler(65525))]),
    "obs_fold_66000.http": req(fields=[(b"X-Folded", folded(66000))]),
    "many_fields_70000.http": req(fields=[(b"X-F%d" % i, filler(990)) for i in range(70)]),
    "target_20000.http": req(target=b"/" + filler(20000 - 1) + b"?q=1"),
    "absolute_targets.http": req(target=b"http://example.test/x")
    + req(target=b"https://u@example.test/")
    + req(target=b"ftp://example.test/")
    + req(target=b"http://example.test:8080"),
    "high_bytes.http": req(target=b"/caf\xc3\xa9/\xff", fields=[(b"X-Value", high), (b"X-\xe9t\xe9", b"v")]),
}

origin_response = {
    "set_cookie_70000.http": b"\x04" + res(fields=[(b"Set-Cookie", cookie_70000)]),
    "field_65530.http": b"\x04" + res(fields=[(b"X-Big", filler(65530))]),
    "field_65536.http": b"\x00" + res(fields=[(b"X-Big", filler(65536))]),
    "field_65540_head.http": b"\x05" + res(fields=[(b"X-Big", filler(65540))], body=None),
    "obs_fold_66000.http": b"\x04" + res(fields=[(b"X-Folded", folded(66000))]),
    "many_fields_140000.http": b"\x00" + res(fields=[(b"X-F%d" % i, filler(990)) for i in range(140)]),
    "high_bytes.http": b"\x04" + res(status=b"200 \xc3\x96K \xff", fields=[(b"X-Value", high), (b"Set-Cookie", b"a=\x80\xfe")]),
}

exchange = {
    "get_ok.bin": req() + SEP + res(fields=[(b"Server", b"nginx"), (b"Connection", b"keep-alive")]),
    "post_chunked.bin": req(method=b"POST", fields=[(b"Transfer-Encoding", b"chunked")])
    + b"5\r\nhello\r\n0\r\n\r\n" + SEP + res(status=b"201 Created"),
    "pipelined_keep_alive.bin": req(target=b"/a") + req(target=b"/b", fields=[(b"Connection", b"close")])
    + SEP + res(),
    "chunked_response_http10.bin": req(version=b"HTTP/1.0")
    + SEP + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "informational_head.bin": req(method=b"HEAD", fields=[(b"Expect", b"100-continue")])
    + SEP + b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + res(status=b"204 No Content", body=None),
    "upgrade.bin": req(fields=[(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket")]) + b"client frame"
    + SEP + b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\norigin frame",
    "error_paths.bin": req(target=b"/cdn-cgi/error/522") + req(host=b"refused.test")
    + req(method=b"POST", fields=[(b"Transfer-Encoding", b"gzip")]),
    "absolute_targets.bin": req(target=b"http://example.test/x") + req(target=b"https://u@h/")
    + req(target=b"ftp://h/") + SEP + res(),
    "high_bytes.bin": req(target=b"/caf\xc3\xa9", fields=[(b"X-Value", high)])
    + SEP + res(status=b"200 \xff", fields=[(b"X-Value", high)]),
    "target_20000.bin": req(target=b"/" + filler(19999)) + SEP + res(),
    "request_cookie_70000.bin": req(fields=[(b"Cookie", cookie_70000)]) + SEP + res(),
    "xff_65525.bin": req(fields=[(b"X-Forwarded-For", xff(65525))]) + SEP + res(),
    "cdn_loop_65525.bin": req(fields=[(b"CDN-Loop", filler(65525))]) + SEP + res(),
    "set_cookie_70000.bin": req() + SEP + res(fields=[(b"Set-Cookie", cookie_70000)]),
    "obs_fold_66000.bin": req() + SEP + res(fields=[(b"X-Folded", folded(66000))]),
}

for name, files in (("fuzz_request_head", request_head), ("fuzz_origin_response", origin_response),
                    ("fuzz_exchange", exchange)):
    d = corpus / name
    d.mkdir(parents=True, exist_ok=True)
    for f, data in files.items():
        (d / f).write_bytes(data)
        print(f"{d.relative_to(here)}/{f}: {len(data)} bytes")
