// benchtool: the small loopback clients and servers of edge522's benchmark suite (bench/).
// One file, no dependencies beyond libc/libstdc++; the bench scripts compile it with
//   g++ -O2 -std=c++17 -pthread -o bench/.bin/benchtool bench/tools/benchtool.cpp
//
// Subcommands (all on 127.0.0.1 unless told otherwise):
//
//   burst  --port P --n N [--host H] [--label L] [--rep R] [--out FILE] [--src IP]
//          [--settle S] [--timeout S] [--conn-window W] [--send-spread-ms D]
//          [--probe-port P --probe-host H --probe-count K --probe-gap-ms G]
//     Opens N keep-alive connections to P (at most W connects in flight), waits until all are
//     established, sleeps S seconds (the proxy accepts them all), then writes one
//     "GET / HTTP/1.1 Host: H, Connection: close" on each, back to back, stamping
//     CLOCK_MONOTONIC before each send() (or paced evenly over D ms when --send-spread-ms is
//     given: request i leaves at t0 + i*D/N, busy-waiting). An epoll loop stamps each answer at the epoll_wait
//     return and parses its status code (EPOLLONESHOT: no syscall per answer but one recv;
//     sockets are closed only at the end so the loop stays cheap).
//     Probe (optional): K sequential keep-alive GETs with Host: probe-host on one extra
//     connection to probe-port, G ms apart, once before the burst ("idle", with no other
//     traffic) and once starting right after the last burst send ("during"). Each probe
//     line records whether it finished before the first burst answer came back (that is,
//     while every one of the N requests was still pending).
//     Output: one JSON line per request / probe appended to FILE; a summary on stderr.
//
//   idle   --port P --n N [--host H] [--window W] [--src IP] [--hold-s S]
//     Opens N keep-alive connections, each sends one GET and reads the whole response
//     (Content-Length or chunked), at most W connections in flight at a time; then prints
//     "READY n=N ok=K codes=..." on stdout and holds every connection open, idle, until
//     SIGTERM/SIGINT arrives or S seconds (default 600) have passed.
//
//   sink   --port P
//     HTTP/1.1 origin that reads each request body (Content-Length or chunked) and discards
//     it, answering "200 OK" with a 2-byte body; keep-alive; answers "Expect: 100-continue";
//     one thread per connection. Prints "READY" when listening.
//
//   ideal  --port P --delay-ms D
//     Calibration responder: answers 504 exactly D ms after it read each request (no
//     upstream), single epoll loop with a timer heap. The floor of the burst measurement.
//
//   count  --port P --n N [--conns C] [--host H] [--body-bytes B] [--timeout S]
//     Exactly N keep-alive "GET / HTTP/1.1" requests over C connections (default 50), one in
//     flight per connection, as wrk sends them (Host: 127.0.0.1:P unless --host). The C
//     connections are opened first; requests go out until N have been sent. Every answer must be
//     a 200 with a B-byte body (B given) on a connection that stays open; else exit 1. Prints one
//     JSON line on stdout: {"n":N,"conns":C,"ok":K,"codes":{...},"elapsed_s":T}. Used by
//     bench/instructions.sh, which counts what the proxy executes for a fixed number of requests.
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <algorithm>
#include <map>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <queue>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace {

long long now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& m) {
    fprintf(stderr, "benchtool: %s\n", m.c_str());
    exit(1);
}

struct Args {
    std::map<std::string, std::string> kv;
    std::string get(const std::string& k, const std::string& d = "") const {
        auto it = kv.find(k);
        return it == kv.end() ? d : it->second;
    }
    long num(const std::string& k, long d) const {
        auto it = kv.find(k);
        return it == kv.end() ? d : strtol(it->second.c_str(), nullptr, 10);
    }
    double real(const std::string& k, double d) const {
        auto it = kv.find(k);
        return it == kv.end() ? d : strtod(it->second.c_str(), nullptr);
    }
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 2; i < argc; i++) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0 || i + 1 >= argc) die("bad argument " + k);
        a.kv[k.substr(2)] = argv[++i];
    }
    return a;
}

sockaddr_in addr(const std::string& ip, int port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) die("bad IP " + ip);
    return sa;
}

int nb_socket(const std::string& src) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die(std::string("socket: ") + strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!src.empty() && src != "127.0.0.1") {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in sa = addr(src, 0);
        if (bind(fd, (sockaddr*)&sa, sizeof sa) != 0) die(std::string("bind src: ") + strerror(errno));
    }
    return fd;
}

// Minimal HTTP/1.1 response framing: is `buf` one complete response? Sets status.
// Returns bytes consumed when complete, 0 when more is needed, -1 on garbage.
long response_complete(const std::string& buf, int& status) {
    size_t he = buf.find("\r\n\r\n");
    if (he == std::string::npos) return 0;
    if (buf.compare(0, 5, "HTTP/") != 0) return -1;
    status = atoi(buf.c_str() + 9);
    std::string head = buf.substr(0, he);
    for (auto& c : head) c = tolower(c);
    size_t body = he + 4;
    size_t p = head.find("\r\ncontent-length:");
    if (p != std::string::npos) {
        long cl = atol(head.c_str() + p + 17);
        return buf.size() >= body + cl ? long(body + cl) : 0;
    }
    if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
        size_t e = buf.find("\r\n0\r\n\r\n", body - 2);
        return e == std::string::npos ? 0 : long(e + 7);
    }
    if (status == 204 || status == 304 || (status >= 100 && status < 200)) return long(body);
    return -1;  // close-delimited: not used by the bench targets
}

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return o;
}

// ------------------------------------------------------------------------------- probe --
struct Probe {
    int fd = -1;
    std::string req, buf;
    long long t0 = 0, next_at = 0;
    int done = 0, count = 0;
    long gap_ns = 0;
    bool inflight = false;
    std::vector<std::pair<long long, long long>> lat;  // (start ns, end ns)
    std::vector<int> status;
};

void probe_send(Probe& p) {
    p.buf.clear();
    p.t0 = now_ns();
    if (send(p.fd, p.req.data(), p.req.size(), MSG_NOSIGNAL) != (ssize_t)p.req.size())
        die(std::string("probe send: ") + strerror(errno));
    p.inflight = true;
}

// read what is there; returns true when the response completed
bool probe_read(Probe& p, long long t) {
    char b[65536];
    for (;;) {
        ssize_t r = recv(p.fd, b, sizeof b, 0);
        if (r > 0) { p.buf.append(b, r); continue; }
        if (r == 0) die("probe connection closed by the proxy");
        if (errno == EAGAIN) break;
        die(std::string("probe recv: ") + strerror(errno));
    }
    int st = 0;
    long c = response_complete(p.buf, st);
    if (c < 0) die("probe: bad response: " + p.buf.substr(0, 200));
    if (c == 0) return false;
    p.lat.emplace_back(p.t0, t);
    p.status.push_back(st);
    p.inflight = false;
    p.done++;
    p.next_at = t + p.gap_ns;
    return true;
}

int connect_blocking(const std::string& src, int port) {
    int fd = nb_socket(src);
    sockaddr_in sa = addr("127.0.0.1", port);
    if (connect(fd, (sockaddr*)&sa, sizeof sa) != 0 && errno != EINPROGRESS) die(std::string("connect: ") + strerror(errno));
    pollfd pf{fd, POLLOUT, 0};
    if (poll(&pf, 1, 5000) != 1) die("probe connect timed out");
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) die(std::string("probe connect: ") + strerror(err));
    return fd;
}

// run the probe alone (idle phase): K paced GETs, blocking with poll
void probe_run_alone(Probe& p) {
    while (p.done < p.count) {
        long long t = now_ns();
        if (t < p.next_at) {
            timespec ts{0, long(p.next_at - t)};
            nanosleep(&ts, nullptr);
        }
        probe_send(p);
        for (;;) {
            pollfd pf{p.fd, POLLIN, 0};
            if (poll(&pf, 1, 5000) != 1) die("probe: no answer in 5 s");
            if (probe_read(p, now_ns())) break;
        }
    }
}

// ------------------------------------------------------------------------------- burst --
int cmd_burst(const Args& a) {
    int port = a.num("port", 0), n = a.num("n", 100);
    std::string host = a.get("host", "bench"), label = a.get("label", "x"), out = a.get("out", "");
    std::string src = a.get("src", "127.0.0.1");
    int rep = a.num("rep", 1), window = a.num("conn-window", 500);
    double settle = a.real("settle", 0.5), timeout = a.real("timeout", 30);
    int pport = a.num("probe-port", 0), pcount = a.num("probe-count", 200);
    double pgap = a.real("probe-gap-ms", 2);
    std::string phost = a.get("probe-host", "fast.test");
    long long spread_ns = (long long)(a.real("send-spread-ms", 0) * 1e6);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    std::vector<int> fds(n, -1);
    std::map<int, int> idx;  // fd -> i
    sockaddr_in sa = addr("127.0.0.1", port);

    Probe pr;
    if (pport) {
        pr.fd = connect_blocking(src, pport);
        pr.req = "GET / HTTP/1.1\r\nHost: " + phost + "\r\nUser-Agent: edge522-bench-probe\r\n\r\n";
        pr.count = 3;  // warm-up (not recorded)
        pr.gap_ns = 0;
        probe_run_alone(pr);
        pr = Probe{pr.fd, pr.req};
        pr.count = pcount;
        pr.gap_ns = long(pgap * 1e6);
        probe_run_alone(pr);  // idle phase
    }
    Probe idle = pr;
    pr.lat.clear();
    pr.status.clear();
    pr.done = 0;

    // phase 1: connect all, at most `window` in flight
    long long tc0 = now_ns();
    int started = 0, established = 0, inflight = 0;
    std::vector<epoll_event> evs(4096);
    while (established < n) {
        while (started < n && inflight < window) {
            int fd = nb_socket(src);
            int r = connect(fd, (sockaddr*)&sa, sizeof sa);
            if (r != 0 && errno != EINPROGRESS) die(std::string("connect: ") + strerror(errno));
            fds[started] = fd;
            idx[fd] = started;
            epoll_event ev{};
            ev.events = EPOLLOUT;
            ev.data.fd = fd;
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            started++;
            inflight++;
        }
        int k = epoll_wait(ep, evs.data(), evs.size(), 1000);
        for (int j = 0; j < k; j++) {
            int fd = evs[j].data.fd, err = 0;
            socklen_t l = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err) die("connect " + std::to_string(idx[fd]) + " to the proxy failed: " + strerror(err));
            epoll_event ev{};
            ev.data.fd = fd;
            ev.events = 0;
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            established++;
            inflight--;
        }
        if (now_ns() - tc0 > 60e9) die("connections to the proxy not established in 60 s");
    }
    double connect_s = (now_ns() - tc0) / 1e9;
    {
        timespec ts{long(settle), long((settle - long(settle)) * 1e9)};
        nanosleep(&ts, nullptr);
    }

    // phase 2: one request per connection, back to back
    std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: edge522-bench-burst\r\nConnection: close\r\n\r\n";
    std::vector<long long> t_send(n), t_recv(n, 0);
    std::vector<int> status(n, 0);
    for (int i = 0; i < n; i++) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.fd = fds[i];
        epoll_ctl(ep, EPOLL_CTL_MOD, fds[i], &ev);
        if (spread_ns > 0 && i > 0) {  // pace: request i leaves at t_send[0] + i * spread / n
            long long due = t_send[0] + spread_ns * i / n;
            while (now_ns() < due) {
            }
        }
        t_send[i] = now_ns();
        if (send(fds[i], req.data(), req.size(), MSG_NOSIGNAL) != (ssize_t)req.size())
            die(std::string("send: ") + strerror(errno));
    }
    long long t_last_send = now_ns();

    // phase 3: answers (+ the probe, started now)
    if (pport) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = pr.fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, pr.fd, &ev);
        pr.next_at = 0;
        probe_send(pr);
    }
    long long first_answer = 0;
    int answered = 0;
    long long end = now_ns() + long(timeout * 1e9);
    char b[4096];
    while ((answered < n || (pport && pr.done < pr.count)) && now_ns() < end) {
        int wait_ms = 500;
        if (pport && !pr.inflight && pr.done < pr.count) {
            long long d = pr.next_at - now_ns();
            wait_ms = d <= 0 ? 0 : int(d / 1000000) + 1;
        }
        int k = epoll_wait(ep, evs.data(), evs.size(), wait_ms);
        long long t = now_ns();
        for (int j = 0; j < k; j++) {
            int fd = evs[j].data.fd;
            if (fd == pr.fd) { probe_read(pr, t); continue; }
            int i = idx[fd];
            ssize_t r = recv(fd, b, sizeof b, 0);
            int st = -1;  // closed without a status line
            if (r >= 12 && memcmp(b, "HTTP/", 5) == 0) st = atoi(b + 9);
            else if (r > 0) st = -2;
            status[i] = st;
            t_recv[i] = t;
            if (!first_answer) first_answer = t;
            answered++;
        }
        if (pport && !pr.inflight && pr.done < pr.count && now_ns() >= pr.next_at) probe_send(pr);
    }
    for (int fd : fds) close(fd);

    FILE* f = out.empty() ? nullptr : fopen(out.c_str(), "a");
    if (!out.empty() && !f) die("cannot open " + out);
    std::map<int, int> codes;
    std::vector<double> el;
    for (int i = 0; i < n; i++) {
        codes[status[i]]++;
        double e = t_recv[i] ? (t_recv[i] - t_send[i]) / 1e6 : -1;
        if (t_recv[i]) el.push_back(e);
        if (f)
            fprintf(f, "{\"kind\":\"req\",\"label\":\"%s\",\"n\":%d,\"rep\":%d,\"i\":%d,\"status\":%d,\"elapsed_ms\":%s,\"send_offset_ms\":%.4f}\n",
                    esc(label).c_str(), n, rep, i, status[i], t_recv[i] ? std::to_string(e).c_str() : "null",
                    (t_send[i] - t_send[0]) / 1e6);
    }
    auto dump_probe = [&](const Probe& p, const char* phase) {
        for (size_t j = 0; j < p.lat.size(); j++) {
            bool pending = std::string(phase) == "during" && (first_answer == 0 || p.lat[j].second < first_answer);
            if (f)
                fprintf(f, "{\"kind\":\"probe\",\"label\":\"%s\",\"n\":%d,\"rep\":%d,\"phase\":\"%s\",\"j\":%zu,\"status\":%d,\"lat_ms\":%.4f,\"start_ms\":%.3f,\"all_pending\":%s}\n",
                        esc(label).c_str(), n, rep, phase, j, p.status[j], (p.lat[j].second - p.lat[j].first) / 1e6,
                        (p.lat[j].first - t_send[0]) / 1e6, pending ? "true" : "false");
        }
    };
    if (pport) {
        dump_probe(idle, "idle");
        dump_probe(pr, "during");
        close(pr.fd);
    }
    if (f) {
        fprintf(f, "{\"kind\":\"run\",\"label\":\"%s\",\"n\":%d,\"rep\":%d,\"connect_s\":%.3f,\"send_spread_ms\":%.3f,\"first_answer_ms\":%.3f}\n",
                esc(label).c_str(), n, rep, connect_s, (t_last_send - t_send[0]) / 1e6,
                first_answer ? (first_answer - t_send[0]) / 1e6 : -1.0);
        fclose(f);
    }
    std::sort(el.begin(), el.end());
    std::string cs;
    for (auto& [c, k] : codes) cs += std::to_string(c) + ":" + std::to_string(k) + " ";
    fprintf(stderr, "%s n=%d rep=%d: codes=%s elapsed ms min=%.2f med=%.2f max=%.2f send_spread_ms=%.2f connect_s=%.2f%s\n",
            label.c_str(), n, rep, cs.c_str(), el.empty() ? -1 : el.front(), el.empty() ? -1 : el[el.size() / 2],
            el.empty() ? -1 : el.back(), (t_last_send - t_send[0]) / 1e6, connect_s,
            pport ? (" probes idle=" + std::to_string(idle.done) + " during=" + std::to_string(pr.done)).c_str() : "");
    return 0;
}

// -------------------------------------------------------------------------------- idle --
volatile sig_atomic_t g_stop = 0;

int cmd_idle(const Args& a) {
    int port = a.num("port", 0), n = a.num("n", 100), window = a.num("window", 50);
    std::string host = a.get("host", "bench"), src = a.get("src", "127.0.0.1");
    std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: edge522-bench-idle\r\n\r\n";
    signal(SIGTERM, [](int) { g_stop = 1; });
    signal(SIGINT, [](int) { g_stop = 1; });
    signal(SIGPIPE, SIG_IGN);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    sockaddr_in sa = addr("127.0.0.1", port);
    struct C { int fd; int state; std::string buf; };  // 0 connecting, 1 waiting response, 2 done
    std::vector<C> cs(n);
    std::map<int, int> idx;
    std::map<int, int> codes;
    int started = 0, finished = 0, inflight = 0;
    long long t0 = now_ns();
    std::vector<epoll_event> evs(1024);
    char b[65536];
    while (finished < n) {
        while (started < n && inflight < window) {
            int fd = nb_socket(src);
            if (connect(fd, (sockaddr*)&sa, sizeof sa) != 0 && errno != EINPROGRESS) die(std::string("connect: ") + strerror(errno));
            cs[started] = {fd, 0, {}};
            idx[fd] = started;
            epoll_event ev{};
            ev.events = EPOLLOUT;
            ev.data.fd = fd;
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            started++;
            inflight++;
        }
        int k = epoll_wait(ep, evs.data(), evs.size(), 1000);
        for (int j = 0; j < k; j++) {
            int fd = evs[j].data.fd;
            C& c = cs[idx[fd]];
            if (c.state == 0) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) die(std::string("connect failed: ") + strerror(err));
                if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != (ssize_t)req.size()) die("send failed");
                c.state = 1;
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.fd = fd;
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                continue;
            }
            ssize_t r;
            while ((r = recv(fd, b, sizeof b, 0)) > 0) c.buf.append(b, r);
            int st = 0;
            long done = response_complete(c.buf, st);
            if (r == 0 && done == 0) { st = -1; done = 1; }
            if (done != 0) {
                codes[done < 0 ? -2 : st]++;
                c.state = 2;
                c.buf.clear();
                c.buf.shrink_to_fit();
                epoll_event ev{};
                ev.events = 0;
                ev.data.fd = fd;
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                finished++;
                inflight--;
            }
        }
        if (now_ns() - t0 > 120e9) die("idle: not all responses in 120 s");
        if (g_stop) return 1;
    }
    std::string s;
    int ok = 0;
    for (auto& [c, k] : codes) {
        s += std::to_string(c) + ":" + std::to_string(k) + " ";
        if (c == 200) ok = k;
    }
    printf("READY n=%d ok=%d codes=%s setup_s=%.2f\n", n, ok, s.c_str(), (now_ns() - t0) / 1e9);
    fflush(stdout);
    // hold every connection, idle, until SIGTERM/SIGINT or --hold-s seconds (bounded)
    long long hold_end = now_ns() + (long long)(a.real("hold-s", 600) * 1e9);
    while (!g_stop && now_ns() < hold_end) poll(nullptr, 0, 200);
    return 0;
}

// -------------------------------------------------------------------------------- sink --
void sink_conn(int fd) {
    std::vector<char> buf(1 << 20);
    std::string head;
    const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
    size_t have = 0;  // bytes in buf not yet consumed (start at 0)
    auto fill = [&]() -> bool {
        ssize_t r = recv(fd, buf.data() + have, buf.size() - have, 0);
        if (r <= 0) return false;
        have += r;
        return true;
    };
    for (;;) {
        // read the head
        size_t he;
        for (;;) {
            std::string_view v(buf.data(), have);
            he = v.find("\r\n\r\n");
            if (he != std::string_view::npos) break;
            if (have == buf.size() || !fill()) { close(fd); return; }
        }
        std::string h(buf.data(), he);
        for (auto& c : h) c = tolower(c);
        size_t consumed = he + 4;
        memmove(buf.data(), buf.data() + consumed, have - consumed);
        have -= consumed;
        if (h.find("\r\nexpect: 100-continue") != std::string::npos)
            send(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
        size_t p = h.find("\r\ncontent-length:");
        if (p != std::string::npos) {
            long long left = atoll(h.c_str() + p + 17);
            while (left > 0) {
                if (have == 0 && !fill()) { close(fd); return; }
                size_t take = std::min<long long>(left, have);
                memmove(buf.data(), buf.data() + take, have - take);
                have -= take;
                left -= take;
            }
        } else if (h.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
            for (;;) {  // chunk-size line, data, CRLF; ends with 0 CRLF CRLF (no trailers expected)
                size_t le;
                for (;;) {
                    std::string_view v(buf.data(), have);
                    le = v.find("\r\n");
                    if (le != std::string_view::npos) break;
                    if (!fill()) { close(fd); return; }
                }
                long long sz = strtoll(std::string(buf.data(), le).c_str(), nullptr, 16);
                memmove(buf.data(), buf.data() + le + 2, have - le - 2);
                have -= le + 2;
                long long left = sz + 2;  // data + CRLF
                if (sz == 0) left = 2;    // final CRLF (no trailers)
                while (left > 0) {
                    if (have == 0 && !fill()) { close(fd); return; }
                    size_t take = std::min<long long>(left, have);
                    memmove(buf.data(), buf.data() + take, have - take);
                    have -= take;
                    left -= take;
                }
                if (sz == 0) break;
            }
        }
        if (send(fd, ok, sizeof ok - 1, MSG_NOSIGNAL) < 0) { close(fd); return; }
        if (h.find("\r\nconnection: close") != std::string::npos) { close(fd); return; }
    }
}

int listen_on(int port, int backlog) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa = addr("127.0.0.1", port);
    if (bind(ls, (sockaddr*)&sa, sizeof sa) != 0) die(std::string("bind: ") + strerror(errno));
    if (listen(ls, backlog) != 0) die(std::string("listen: ") + strerror(errno));
    return ls;
}

int cmd_sink(const Args& a) {
    signal(SIGPIPE, SIG_IGN);
    int ls = listen_on(a.num("port", 0), 4096);
    printf("READY\n");
    fflush(stdout);
    for (;;) {
        int fd = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::thread(sink_conn, fd).detach();
    }
}

// ------------------------------------------------------------------------------- ideal --
int cmd_ideal(const Args& a) {
    signal(SIGPIPE, SIG_IGN);
    long long delay = a.num("delay-ms", 1000) * 1000000LL;
    int ls = listen_on(a.num("port", 0), 4096);
    fcntl(ls, F_SETFL, O_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    const char resp[] = "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    std::priority_queue<std::pair<long long, int>, std::vector<std::pair<long long, int>>, std::greater<>> heap;
    std::vector<epoll_event> evs(4096);
    printf("READY\n");
    fflush(stdout);
    char b[4096];
    for (;;) {
        int wait_ms = -1;
        if (!heap.empty()) {
            long long d = heap.top().first - now_ns();
            wait_ms = d <= 0 ? 0 : int((d + 999999) / 1000000);
        }
        int k = epoll_wait(ep, evs.data(), evs.size(), wait_ms);
        for (int j = 0; j < k; j++) {
            int fd = evs[j].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    epoll_event e{};
                    e.events = EPOLLIN;
                    e.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
                }
                continue;
            }
            long long t = now_ns();
            ssize_t r = recv(fd, b, sizeof b, 0);
            if (r <= 0) { close(fd); continue; }
            if (memmem(b, r, "\r\n\r\n", 4)) {  // the bench client sends its head in one segment
                epoll_event e{};
                e.data.fd = fd;
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
                heap.emplace(t + delay, fd);
            }
        }
        long long t = now_ns();
        while (!heap.empty() && heap.top().first <= t) {
            int fd = heap.top().second;
            heap.pop();
            send(fd, resp, sizeof resp - 1, MSG_NOSIGNAL);
            close(fd);
        }
    }
}

// ------------------------------------------------------------------------------- count --
int cmd_count(const Args& a) {
    int port = a.num("port", 0), conns = a.num("conns", 50);
    long n = a.num("n", 1000), body_bytes = a.num("body-bytes", -1);
    double timeout = a.real("timeout", 600);
    std::string host = a.get("host", "127.0.0.1:" + std::to_string(port));
    if (port <= 0 || n <= 0 || conns <= 0) die("count: --port, --n and --conns must be > 0");
    if (conns > n) conns = int(n);
    std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
    signal(SIGPIPE, SIG_IGN);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct C { int fd; std::string buf; };
    std::vector<C> cs(conns);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = connect_blocking("127.0.0.1", port);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = uint32_t(i);
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    long sent = 0, answered = 0;
    std::map<int, long> codes;
    long long t0 = now_ns();
    auto send_one = [&](C& c) {
        if (send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != (ssize_t)req.size())
            die(std::string("count: send: ") + strerror(errno));
        sent++;
    };
    for (int i = 0; i < conns; i++) send_one(cs[i]);
    std::vector<epoll_event> evs(1024);
    char b[65536];
    while (answered < n) {
        int k = epoll_wait(ep, evs.data(), evs.size(), 1000);
        if (k < 0 && errno != EINTR) die(std::string("count: epoll_wait: ") + strerror(errno));
        for (int j = 0; j < k; j++) {
            C& c = cs[evs[j].data.u32];
            for (;;) {
                ssize_t r = recv(c.fd, b, sizeof b, 0);
                if (r > 0) { c.buf.append(b, r); continue; }
                if (r == 0) die("count: the proxy closed a keep-alive connection after " + std::to_string(answered) + " answers");
                if (errno == EAGAIN) break;
                die(std::string("count: recv: ") + strerror(errno));
            }
            for (;;) {
                int st = 0;
                long used = response_complete(c.buf, st);
                if (used < 0) die("count: bad response: " + c.buf.substr(0, 200));
                if (used == 0) break;
                size_t he = c.buf.find("\r\n\r\n");
                if (body_bytes >= 0 && used - long(he + 4) != body_bytes) st = -3;  // wrong body size
                codes[st]++;
                answered++;
                c.buf.erase(0, used);
                if (sent < n) send_one(c);
            }
        }
        if (now_ns() - t0 > timeout * 1e9) die("count: not all answers within the timeout");
    }
    double el = (now_ns() - t0) / 1e9;
    std::string cj;
    long ok = 0;
    for (auto& [c, k] : codes) {
        cj += (cj.empty() ? "\"" : ",\"") + std::to_string(c) + "\":" + std::to_string(k);
        if (c == 200) ok = k;
    }
    printf("{\"n\":%ld,\"conns\":%d,\"ok\":%ld,\"codes\":{%s},\"elapsed_s\":%.3f}\n", n, conns, ok, cj.c_str(), el);
    fflush(stdout);
    for (auto& c : cs) close(c.fd);
    return ok == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) die("usage: benchtool burst|idle|sink|ideal|count --key value ...");
    std::string c = argv[1];
    Args a = parse(argc, argv);
    if (c == "burst") return cmd_burst(a);
    if (c == "idle") return cmd_idle(a);
    if (c == "sink") return cmd_sink(a);
    if (c == "ideal") return cmd_ideal(a);
    if (c == "count") return cmd_count(a);
    die("unknown subcommand " + c);
}
