#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace edge522::test {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::uint16_t bound_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

int loopback_socket(std::uint16_t port, bool do_bind) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (do_bind) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind failed");
    }
    return fd;
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Sends `data` and the FIN in one segment: held back (TCP_CORK) until the shutdown, whose FIN then
// rides on the last queued segment. A peer reads the bytes and finds the end in the same wake.
bool send_then_fin(int fd, std::string_view data) {
    int on = 1, off = 0;
    ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
    bool const ok = send_all(fd, data);
    ::shutdown(fd, SHUT_WR);
    ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
    return ok;
}

// Reads until `buf` holds "\r\n\r\n"; returns the head length (incl. terminator) or 0 on EOF/error.
std::size_t read_head(int fd, std::string& buf) {
    for (;;) {
        if (auto p = buf.find("\r\n\r\n"); p != std::string::npos) return p + 4;
        char tmp[16384];
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) return 0;
        buf.append(tmp, static_cast<std::size_t>(n));
    }
}

bool fill(int fd, std::string& buf, std::size_t want) {
    while (buf.size() < want) {
        char tmp[65536];
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        buf.append(tmp, static_cast<std::size_t>(n));
    }
    return true;
}

std::string header_value(std::string const& head, std::string const& name) {
    std::istringstream is(head);
    std::string line;
    std::string const want = lower(name) + ":";
    while (std::getline(is, line)) {
        if (lower(line).rfind(want, 0) == 0) {
            auto v = line.substr(want.size());
            v.erase(0, v.find_first_not_of(" \t"));
            while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
            return v;
        }
    }
    return {};
}

// Consumes the request body from buf (after the head); returns its size, or -1 on error.
long long consume_body(int fd, std::string& buf, std::string const& head) {
    auto cl = header_value(head, "content-length");
    if (!cl.empty()) {
        auto n = std::stoull(cl);
        if (!fill(fd, buf, n)) return -1;
        buf.erase(0, n);
        return static_cast<long long>(n);
    }
    if (lower(header_value(head, "transfer-encoding")).find("chunked") != std::string::npos) {
        long long total = 0;
        for (;;) {
            std::size_t eol;
            while ((eol = buf.find("\r\n")) == std::string::npos)
                if (!fill(fd, buf, buf.size() + 1)) return -1;
            auto size = std::stoull(buf.substr(0, eol), nullptr, 16);
            buf.erase(0, eol + 2);
            if (size == 0) {
                while ((eol = buf.find("\r\n")) == std::string::npos)
                    if (!fill(fd, buf, buf.size() + 1)) return -1;
                buf.erase(0, eol + 2);  // no trailers from our clients
                return total;
            }
            if (!fill(fd, buf, size + 2)) return -1;
            buf.erase(0, size + 2);
            total += static_cast<long long>(size);
        }
    }
    return 0;
}

} // namespace

// ---------------------------------------------------------------- origins

origin::origin(behaviour b, std::chrono::milliseconds delay)
    : behaviour_(b), delay_(delay), acceptor_(ioc_) {
    int fd = loopback_socket(0, true);
    if (b == behaviour::stall) {
        int small = 4096;  // inherited by accepted sockets; set before listen so the window stays small
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    if (::listen(fd, 1024) != 0) throw std::runtime_error("listen failed");
    port_ = bound_port(fd);
    acceptor_.assign(boost::asio::ip::tcp::v4(), fd);
    thread_ = std::thread([this] {
        for (;;) {
            sockaddr_in peer{};
            socklen_t peer_len = sizeof peer;
            int c = ::accept4(acceptor_.native_handle(), reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
            if (c < 0) {
                if (stopping_) return;
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;
            }
            if (stopping_) {
                ::close(c);
                return;
            }
            connections_++;
            {
                char text[INET_ADDRSTRLEN] = {};
                ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
                std::lock_guard lk(mutex_);
                peers_.emplace_back(text);
            }
            boost::asio::ip::tcp::socket s(ioc_);
            s.assign(boost::asio::ip::tcp::v4(), c);
            std::lock_guard lk(mutex_);
            if (behaviour_ == behaviour::stall) {
                stalled_.push_back(std::move(s));
                continue;
            }
            conn_threads_.emplace_back([this, s = std::move(s)]() mutable { serve(std::move(s)); });
        }
    });
}

origin::~origin() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
    std::vector<std::thread> threads;
    {
        std::lock_guard lk(mutex_);
        threads.swap(conn_threads_);
    }
    for (auto& t : threads) t.join();
}

std::vector<std::string> origin::peers() const {
    std::lock_guard lk(mutex_);
    return peers_;
}

std::string origin::last_head() const {
    std::lock_guard lk(mutex_);
    return last_head_;
}

void origin::serve(boost::asio::ip::tcp::socket s) {
    int fd = s.native_handle();
    unsigned served = 0;  // requests answered on this connection
    timeval tv{0, 200 * 1000};  // wake up regularly to notice the test ending
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string buf;
    for (;;) {
        std::size_t head_len = 0;
        for (;;) {
            if (auto p = buf.find("\r\n\r\n"); p != std::string::npos) {
                head_len = p + 4;
                break;
            }
            char tmp[16384];
            ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !stopping_) continue;
            if (n == 0) closed_by_peer_++;
            if (n <= 0) return;
            buf.append(tmp, static_cast<std::size_t>(n));
        }
        std::string head = buf.substr(0, head_len);
        buf.erase(0, head_len);
        {
            std::lock_guard lk(mutex_);
            last_head_ = head;
        }
        requests_++;
        if (behaviour_ == behaviour::early) {
            send_all(fd, raw_response);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            return;  // closed with the body unread: the kernel answers further data with RST
        }
        long long body = consume_body(fd, buf, head);
        if (body < 0) return;

        switch (behaviour_) {
        case behaviour::silent:
            while (!stopping_) {
                char tmp[4096];
                ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return;
            }
            return;
        case behaviour::garbage:
            send_all(fd, "SSH-2.0-OpenSSH_9.2 this is not http\r\n\r\n");
            ::shutdown(fd, SHUT_WR);
            return;
        case behaviour::empty:
            ::shutdown(fd, SHUT_WR);
            return;
        case behaviour::reset: {
            linger l{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            return;  // the socket's destructor closes with RST
        }
        case behaviour::slow:
            std::this_thread::sleep_for(delay_);
            [[fallthrough]];
        case behaviour::healthy: {
            std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                              std::to_string(head.size()) + "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                              "X-Accel-Redirect: /internal\r\n\r\n" + head;
            if (!send_all(fd, out)) return;
            break;
        }
        case behaviour::stall:
        case behaviour::early:
            return;
        case behaviour::raw:
            if (raw_close_at != 0 && ++served == raw_close_at) {
                send_then_fin(fd, raw_last);
                return;
            }
            if (!send_all(fd, raw_response)) return;
            if (raw_close) {
                ::shutdown(fd, SHUT_WR);
                return;
            }
            break;
        case behaviour::upgrade: {
            if (!send_all(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
                return;
            if (!buf.empty() && !send_all(fd, buf)) return;
            buf.clear();
            for (;;) {
                char tmp[4096];
                ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !stopping_) continue;
                if (n <= 0) return;
                if (!send_all(fd, std::string_view(tmp, static_cast<std::size_t>(n)))) return;
            }
        }
        case behaviour::close_after: {
            std::string out = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
            send_all(fd, out);
            ::shutdown(fd, SHUT_RDWR);
            return;
        }
        case behaviour::one_shot:
            if (served++ > 0) return;  // closes without an answer
            [[fallthrough]];
        case behaviour::echo_size: {
            auto b = std::to_string(body);
            if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b)) return;
            break;
        }
        case behaviour::stream: {
            std::string h = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n";
            h += stream_chunked ? "Transfer-Encoding: chunked\r\n\r\n"
                                : "Content-Length: " + std::to_string(stream_bytes) + "\r\n\r\n";
            if (!send_all(fd, h)) return;
            if (head.rfind("HEAD ", 0) == 0) break;  // no body for HEAD (RFC 9110 9.3.2)
            std::string block(256 * 1024, 'x');
            std::uint64_t left = stream_bytes;
            while (left > 0) {
                auto n = std::min<std::uint64_t>(left, block.size());
                std::string_view part(block.data(), n);
                if (stream_chunked) {
                    char sz[32];
                    std::snprintf(sz, sizeof sz, "%llx\r\n", static_cast<unsigned long long>(n));
                    if (!send_all(fd, sz) || !send_all(fd, part) || !send_all(fd, "\r\n")) return;
                } else if (!send_all(fd, part)) {
                    return;
                }
                left -= n;
            }
            if (stream_chunked && !send_all(fd, "0\r\n\r\n")) return;
            break;
        }
        }
    }
}

refusing_origin::refusing_origin() {
    int fd = loopback_socket(0, true);  // bound, never listening
    port_ = bound_port(fd);
    socket_.assign(boost::asio::ip::tcp::v4(), fd);
}

blackholed_origin::blackholed_origin() {
    listen_fd_ = loopback_socket(0, true);
    if (::listen(listen_fd_, 0) != 0) throw std::runtime_error("listen failed");
    port_ = bound_port(listen_fd_);
    filler_fd_ = loopback_socket(0, false);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(filler_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("blackhole filler connect failed");
    // Give the handshake a moment so the accept queue is really full before the test connects.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

blackholed_origin::~blackholed_origin() {
    ::close(filler_fd_);
    ::close(listen_fd_);
}

// ---------------------------------------------------------------- the binary

std::string write_temp(std::string const& name, std::string const& content) {
    char tmpl[] = "/tmp/edge522-test-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    auto path = dir + "/" + name;
    std::ofstream(path) << content;
    return path;
}

namespace {

int spawn(std::vector<std::string> const& argv, std::string const& log_path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> args;
    for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot spawn " + argv[0]);
    return pid;
}

std::string slurp(std::string const& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

int wait_pid(int pid, std::chrono::milliseconds limit, bool& exited) {
    auto until = clock_type::now() + limit;
    int status = 0;
    while (clock_type::now() < until) {
        int r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            exited = true;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1000;  // still running
}

long proc_status_kib(int pid, std::string const& key) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
    return -1;
}

} // namespace

edge::edge(std::string const& toml, std::vector<std::string> extra_args, std::vector<std::string> wrapper) {
    auto cfg = write_temp("edge.toml", toml);
    dir_ = cfg.substr(0, cfg.rfind('/'));
    std::vector<std::string> argv = wrapper;
    argv.push_back(EDGE522_BIN);
    argv.push_back("--config");
    argv.push_back(cfg);
    for (auto& a : extra_args) argv.push_back(a);
    pid_ = spawn(argv, dir_ + "/edge.log");
    auto until = clock_type::now() + std::chrono::seconds(10);
    while (clock_type::now() < until) {
        auto text = slurp(dir_ + "/edge.log");
        static constexpr std::string_view marker = "listening on http://";
        if (auto p = text.find(marker); p != std::string::npos) {
            auto rest = text.substr(p + marker.size());
            auto colon = rest.find_last_of(':', rest.find('\n'));
            port_ = static_cast<std::uint16_t>(std::stoi(rest.substr(colon + 1)));
            return;
        }
        int status;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            throw std::runtime_error("edge522 exited at start:\n" + text);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    throw std::runtime_error("edge522 did not start:\n" + slurp(dir_ + "/edge.log"));
}

edge::~edge() {
    if (!exited_ && pid_ > 0) {
        ::kill(pid_, SIGTERM);
        bool exited = false;
        wait_pid(pid_, std::chrono::milliseconds(5000), exited);
        if (!exited) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
}

std::string edge::log() const { return slurp(dir_ + "/edge.log"); }

bool edge::log_contains(std::string const& text, std::chrono::milliseconds limit) const {
    auto until = clock_type::now() + limit;
    do {
        if (log().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (clock_type::now() < until);
    return false;
}

namespace {

// The port of the first `marker` line of an edge's log, waiting a moment for it: the lines after
// the first "listening on" (HTTPS listeners, admin) come a little later on a slow machine.
std::uint16_t port_after(edge const& e, std::string_view marker) {
    std::string text = e.log();
    for (int i = 0; i < 250 && text.find(marker) == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        text = e.log();
    }
    auto p = text.find(marker);
    if (p == std::string::npos) return 0;
    auto rest = text.substr(p + marker.size());
    auto colon = rest.find_last_of(':', rest.find('\n'));
    return static_cast<std::uint16_t>(std::stoi(rest.substr(colon + 1)));
}

} // namespace

std::uint16_t edge::admin_port() const { return port_after(*this, "admin listening on http://"); }
std::uint16_t edge::tls_port() const { return port_after(*this, "edge522 listening on https://"); }

void edge::signal(int sig) const { ::kill(pid_, sig); }
int edge::wait_exit(std::chrono::milliseconds limit) { return wait_pid(pid_, limit, exited_); }
long edge::rss_kib() const { return proc_status_kib(pid_, "VmRSS"); }
long edge::hwm_kib() const { return proc_status_kib(pid_, "VmHWM"); }

background::background(std::vector<std::string> args, std::string const& marker, std::size_t listeners) {
    char tmpl[] = "/tmp/edge522-bg-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    args.insert(args.begin(), EDGE522_BIN);
    pid_ = spawn(args, dir_ + "/out.log");
    auto until = clock_type::now() + std::chrono::seconds(10);
    while (clock_type::now() < until) {
        auto text = output();
        ports_.clear();
        for (std::size_t p = text.find(marker); p != std::string::npos; p = text.find(marker, p + 1)) {
            auto line = text.substr(p + marker.size(), text.find('\n', p) - p - marker.size());
            if (text.find('\n', p) == std::string::npos) break;  // a line still being written
            ports_.push_back(static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1))));
        }
        if (ports_.size() >= listeners) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    throw std::runtime_error("background process did not start:\n" + output());
}

background::~background() {
    ::kill(pid_, SIGTERM);
    bool exited = false;
    wait_pid(pid_, std::chrono::milliseconds(5000), exited);
    if (!exited) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

std::string background::output() const { return slurp(dir_ + "/out.log"); }

run_result run_edge(std::vector<std::string> args, std::chrono::milliseconds limit) {
    char tmpl[] = "/tmp/edge522-run-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    args.insert(args.begin(), EDGE522_BIN);
    int pid = spawn(args, dir + "/out.log");
    bool exited = false;
    run_result r;
    r.exit_code = wait_pid(pid, limit, exited);
    if (!exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    r.output = slurp(dir + "/out.log");
    return r;
}

// ---------------------------------------------------------------- client

std::string response::header(std::string const& name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string{} : it->second;
}

client::client(std::uint16_t port, std::chrono::milliseconds recv_timeout) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    timeval tv{static_cast<time_t>(recv_timeout.count() / 1000),
               static_cast<suseconds_t>((recv_timeout.count() % 1000) * 1000)};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

client::client(std::uint16_t port, std::string const& source, std::string const& target) {
    auto to = boost::asio::ip::make_address(target);
    socket_.open(to.is_v6() ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4());
    if (!source.empty()) socket_.bind({boost::asio::ip::make_address(source), 0});
    socket_.connect({to, port});
    timeval tv{10, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

response get_from(std::string const& source, std::uint16_t port, std::string const& host,
                  std::string const& extra, std::string const& target) {
    client c(port, source, target);
    return c.request("GET / HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n");
}

void client::send(std::string const& raw) {
    if (!send_all(socket_.native_handle(), raw)) throw std::runtime_error("send failed");
}

response client::read_response(bool head_request) {
    response r;
    int fd = socket_.native_handle();
    std::string& buf = pending_;
    auto head_len = read_head(fd, buf);
    if (head_len == 0) return r;
    std::string head = buf.substr(0, head_len);
    buf.erase(0, head_len);
    std::istringstream is(head);
    std::string line;
    std::getline(is, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    r.status_line = line;
    if (line.size() >= 12) r.status = std::stoi(line.substr(9, 3));
    while (std::getline(is, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto c = line.find(':');
        if (c == std::string::npos) continue;
        auto k = lower(line.substr(0, c));
        auto v = line.substr(c + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        auto& slot = r.headers[k];
        slot = slot.empty() ? v : slot + ", " + v;
    }
    if (head_request || r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200)) return r;
    if (auto cl = r.header("content-length"); !cl.empty()) {
        auto n = std::stoull(cl);
        if (!fill(fd, buf, n)) { r.status = 0; return r; }
        r.body = buf.substr(0, n);
        buf.erase(0, n);
    } else if (lower(r.header("transfer-encoding")).find("chunked") != std::string::npos) {
        for (;;) {
            std::size_t eol;
            while ((eol = buf.find("\r\n")) == std::string::npos)
                if (!fill(fd, buf, buf.size() + 1)) { r.status = 0; return r; }
            auto size = std::stoull(buf.substr(0, eol), nullptr, 16);
            buf.erase(0, eol + 2);
            if (!fill(fd, buf, size + 2)) { r.status = 0; return r; }
            if (size == 0) { buf.erase(0, 2); break; }
            r.body.append(buf, 0, size);
            buf.erase(0, size + 2);
        }
    } else {
        char tmp[65536];
        for (;;) {
            ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
            if (n <= 0) break;
            r.body.append(tmp, static_cast<std::size_t>(n));
        }
        r.body.insert(0, buf);
        buf.clear();
    }
    return r;
}

response client::request(std::string const& raw, bool head_request) {
    auto t0 = clock_type::now();
    send(raw);
    auto r = read_response(head_request);
    r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return r;
}

void client::send_with_fin(std::string const& raw) {
    if (!send_then_fin(socket_.native_handle(), raw)) throw std::runtime_error("send failed");
}

void client::shutdown_send() {
    ::shutdown(socket_.native_handle(), SHUT_WR);
}

void client::shutdown() { ::shutdown(socket_.native_handle(), SHUT_RDWR); }

std::string client::read_exactly(std::size_t n) {
    if (!fill(socket_.native_handle(), pending_, n)) return pending_;
    auto out = pending_.substr(0, n);
    pending_.erase(0, n);
    return out;
}

bool client::closed_within(std::chrono::milliseconds limit) {
    int fd = socket_.native_handle();
    timeval tv{static_cast<time_t>(limit.count() / 1000), static_cast<suseconds_t>((limit.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char tmp[4096];
    for (;;) {
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

response get(std::uint16_t port, std::string const& target, std::string const& host, std::string const& extra) {
    client c(port);
    return c.request("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n");
}

std::string simple_config(std::vector<std::string> const& servers, std::string const& timeouts_toml,
                          std::string const& origin_extra, std::string const& edge_extra,
                          std::string const& admin_toml) {
    std::string s = "[edge]\nlisten = [\"127.0.0.1:0\"]\n";
    if (edge_extra.find("threads") == std::string::npos) s += "threads = 1\n";
    s += edge_extra + "\n";
    s += "[admin]\n" + admin_toml + "\n\n";
    if (!timeouts_toml.empty()) s += "[timeouts]\n" + timeouts_toml + "\n\n";
    s += "[[origins]]\nname = \"app\"\nhosts = [\"*\"]\nservers = [";
    for (std::size_t i = 0; i < servers.size(); ++i) s += (i ? ", \"" : "\"") + servers[i] + "\"";
    s += "]\n" + origin_extra + "\n";
    return s;
}

} // namespace edge522::test
