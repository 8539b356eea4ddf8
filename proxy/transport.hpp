#pragma once
// The byte stream under one side of an exchange: plain TCP, or TLS over TCP (Asio's ssl::stream).
// The exchange's steps (read a head, pump a body, tunnel) are written once against `transport`;
// which alternative it holds is decided where the connection is made (the listener for clients,
// origin_connector for origins). Each operation dispatches to the alternative held: no virtual
// call, no allocation. Owned by one session (or, while idle, the origin pool) on one worker thread.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "drained_read.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace edge522 {

// The peer's end of the stream: a FIN, or over TLS a FIN without close_notify (stream_truncated),
// which every HTTP peer treats as the same end (nginx, HAProxy, browsers).
inline bool is_end(boost::system::error_code const& ec) noexcept {
    return ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
}

// A worker's sockets, timers and coroutines are on the io_context's own executor type, not
// any_io_executor: 8 bytes where the type-erased one takes 56, copied into every pending operation,
// every work guard and co_spawn's frame, and no type-erased dispatch on the way.
using worker_executor = boost::asio::io_context::executor_type;
using tcp_socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, worker_executor>;
using worker_timer = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                       boost::asio::wait_traits<std::chrono::steady_clock>,
                                                       worker_executor>;
// A coroutine on a worker (or the admin server's io_context), and the completion tokens to wait
// with: use_task (errors throw: for operations that report none) and use_nothrow (the error as a
// value; the data path's way).
template <class T>
using task = boost::asio::awaitable<T, worker_executor>;
inline constexpr boost::asio::use_awaitable_t<worker_executor> use_task{};
inline constexpr auto use_nothrow = boost::asio::as_tuple(use_task);

// Asio's TLS stream, and the buffer transport::gather() copies small pieces into: both on the
// heap, so that a plain connection (the common case, idle ones the most) pays for neither.
class tls_stream : public boost::asio::ssl::stream<tcp_socket> {
public:
    using boost::asio::ssl::stream<tcp_socket>::stream;

    // What its SSL_CTX belongs to (a listener's certificates, whose SNI callback the handshake
    // calls), kept as long as the stream: not in every plain connection's session.
    std::shared_ptr<void const> owner;

private:
    friend class transport;
    std::string gathered_;
};

class transport {
public:
    using socket_type = tcp_socket;
    using tls_stream = edge522::tls_stream;
    using executor_type = socket_type::executor_type;

    explicit transport(socket_type s) : v_(std::in_place_index<0>, std::move(s)) {}
    explicit transport(std::unique_ptr<tls_stream> s) : v_(std::in_place_index<1>, std::move(s)) {}

    executor_type get_executor() noexcept { return socket().get_executor(); }

    // The TCP socket under it: options, cancel, shutdown, close, addresses.
    socket_type& socket() noexcept {
        return v_.index() == 0 ? *std::get_if<0>(&v_) : (*std::get_if<1>(&v_))->next_layer();
    }
    bool is_tls() const noexcept { return v_.index() == 1; }
    tls_stream* tls() noexcept { return v_.index() == 1 ? std::get_if<1>(&v_)->get() : nullptr; }

    // Over plain TCP a read into one buffer remembers a drained socket (drained_read.hpp): the
    // next read waits for epoll instead of first trying a recv that would return EAGAIN.
    template <class Token>
    auto async_read_some(boost::asio::mutable_buffer const& b, Token&& token) {
        if (auto* t = std::get_if<1>(&v_)) return (*t)->async_read_some(b, std::forward<Token>(token));
        return std::get_if<0>(&v_)->async_read_some(drained(b), std::forward<Token>(token));
    }

    // One write at a time per transport (each exchange step and each tunnel direction has its own).
    template <class ConstBuffers, class Token>
    auto async_write_some(ConstBuffers const& b, Token&& token) {
        if (auto* t = std::get_if<1>(&v_)) return (*t)->async_write_some(gather(b, (*t)->gathered_), std::forward<Token>(token));
        return std::get_if<0>(&v_)->async_write_some(b, std::forward<Token>(token));
    }

    // Writes what the socket takes now, without waiting: one sendmsg, no reactor operation and no
    // completion to resume from (most writes: a head, a small body). Plain TCP only; over TLS it
    // takes nothing (the engine writes through async_write_some). Returns the bytes taken, a
    // prefix of `b`; `ec` is set on a failure (as async_write would report it), not when the
    // socket's buffer is full. Not while another write is pending on this transport.
    template <class ConstBuffers>
    std::size_t write_now(ConstBuffers const& b, boost::system::error_code& ec) noexcept {
        ec = {};
        if (v_.index() != 0) return 0;
        constexpr int max_pieces = 16;  // more: the rest goes through async_write
        ::iovec iov[max_pieces];
        int count = 0;
        for (auto it = boost::asio::buffer_sequence_begin(b), end = boost::asio::buffer_sequence_end(b);
             it != end && count < max_pieces; ++it) {
            boost::asio::const_buffer const piece(*it);
            if (piece.size() == 0) continue;
            iov[count].iov_base = const_cast<void*>(piece.data());
            iov[count].iov_len = piece.size();
            ++count;
        }
        if (count == 0) return 0;
        ::msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<std::size_t>(count);
        ssize_t const n = ::sendmsg(std::get_if<0>(&v_)->native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
    }

    // For a connection that will be read again (a kept-alive client): over plain TCP, the kernel
    // says with each read what is left to read, so a read that emptied the socket spares the next
    // one its speculative recv (drained_read.hpp). One setsockopt: the caller calls it once.
    void enable_drain_hint() noexcept {
        if (v_.index() == 0) edge522::enable_drain_hint(std::get_if<0>(&v_)->native_handle());
    }

    // Stops pending operations (the watchdog's tool); they complete with operation_aborted.
    void cancel() noexcept {
        boost::system::error_code ec;
        socket().cancel(ec);
    }
    // Our side is done sending (a FIN; over TLS the close_notify is the caller's choice).
    void shutdown_send() noexcept {
        boost::system::error_code ec;
        socket().shutdown(socket_type::shutdown_send, ec);
    }
    void close() noexcept {
        boost::system::error_code ec;
        socket().close(ec);
    }

private:
    // Asio's ssl::stream writes only the first buffer of a sequence per operation, so a head and its
    // body (or a chunk header, its data and the last chunk) would leave as one TLS record and one
    // send each. Small pieces are copied into one buffer (`into`, the TLS stream's) of at most one
    // record's payload instead; a first piece of a record or more goes as it is. The bytes written
    // are a prefix of `b`, as write_some promises.
    template <class ConstBuffers>
    static boost::asio::const_buffer gather(ConstBuffers const& b, std::string& into) {
        constexpr std::size_t max_record = 16 * 1024;
        auto it = boost::asio::buffer_sequence_begin(b);
        auto const end = boost::asio::buffer_sequence_end(b);
        while (it != end && boost::asio::const_buffer(*it).size() == 0) ++it;
        if (it == end) return {};
        boost::asio::const_buffer const first(*it);
        auto next = std::next(it);
        while (next != end && boost::asio::const_buffer(*next).size() == 0) ++next;
        if (next == end || first.size() >= max_record) return first;
        into.clear();
        for (; it != end && into.size() < max_record; ++it) {
            boost::asio::const_buffer const piece(*it);
            auto const take = std::min(piece.size(), max_record - into.size());
            into.append(static_cast<char const*>(piece.data()), take);
        }
        return boost::asio::buffer(into);
    }

    // The TLS stream lives on the heap: it is large (engine, buffers, timers), and a plain
    // connection, the common case, should not pay for it.
    std::variant<socket_type, std::unique_ptr<tls_stream>> v_;
};

} // namespace edge522
