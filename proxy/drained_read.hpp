#pragma once
// A socket read that remembers a drained socket, as nginx does.
//
// Boost 1.81's epoll reactor starts every read with a recv ("speculatively") unless the last read
// on that descriptor reported the socket exhausted, and its own stream read reports that only at
// EOF. So a keep-alive exchange paid a recv that returned EAGAIN for each read started after a
// completed one: the client's next request (read right after the answer is written) and the
// origin's answer (read right after the request is).
//
// The read here asks the kernel, in the same recvmsg, how much is left to read (TCP_INQ, enabled
// per socket by enable_drain_hint()): 0 means the receive queue is empty and no FIN has come (a FIN
// counts as 1). Then the reactor is told the socket is exhausted, and its next read waits for
// epoll without trying first. That is safe because any byte or FIN that arrives after the hint was
// taken raises a new edge on the descriptor's edge-triggered registration, which sets the
// reactor's flag again. A short read alone would not do: a FIN that came with the data raises no
// new edge, and the next read would wait for ever (nginx needs EPOLLRDHUP for the same reason).
// Without the hint (the option not enabled, or a kernel older than 4.18) it reads as Asio does.
//
// How: `drained(b)` wraps one mutable buffer in a type of ours, and the reactor's receive
// operation for that type is specialised below; everything else (allocation, cancellation,
// completion, the handler's executor) is Asio's own operation. The specialisation names Boost
// 1.81's internal layout, so another Boost is refused at compile time rather than silently read
// the old way.

#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/asio/version.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#if BOOST_ASIO_VERSION != 102600 || !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "proxy/drained_read.hpp specialises Boost 1.81's (Asio 1.26) epoll receive operation: check it against this Asio"
#endif

namespace edge522 {

// One buffer to read into, read by the operation below. A mutable_buffer to everything else.
struct drained_buffer : boost::asio::mutable_buffer {
    explicit drained_buffer(boost::asio::mutable_buffer b) noexcept : boost::asio::mutable_buffer(b) {}
};

inline drained_buffer drained(boost::asio::mutable_buffer b) noexcept { return drained_buffer(b); }

// Asks the kernel to report, with each read on this TCP socket, what is left to read (TCP_INQ).
// One setsockopt; false where the kernel has no such option (reads then work as Asio's do).
inline bool enable_drain_hint(int fd) noexcept {
    int const on = 1;
    return ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
}

} // namespace edge522

namespace boost::asio::detail {

// Asio's stream receive (reactive_socket_recv_op_base), for one edge522::drained_buffer: a
// non-blocking recvmsg, and "done and exhausted" when the kernel's hint says nothing is left (see
// above), besides at EOF and on an error as Asio's own. The reactor then starts the descriptor's
// next read without a speculative recv, until epoll reports it readable again.
template <>
class reactive_socket_recv_op_base<edge522::drained_buffer> : public reactor_op {
public:
    reactive_socket_recv_op_base(boost::system::error_code const& success_ec, socket_type socket,
                                 socket_ops::state_type state, edge522::drained_buffer const& buffer,
                                 socket_base::message_flags flags, func_type complete_func)
        : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func), socket_(socket),
          state_(state), buffer_(buffer), flags_(flags) {}

    static status do_perform(reactor_op* base) {
        auto* o = static_cast<reactive_socket_recv_op_base*>(base);
        ::iovec iov{o->buffer_.data(), o->buffer_.size()};
        alignas(::cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        ::msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t n;
        for (;;) {
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            n = ::recvmsg(o->socket_, &msg, o->flags_ | MSG_DONTWAIT);
            if (n >= 0 || errno != EINTR) break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;  // wait for epoll
            o->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
            o->bytes_transferred_ = 0;
            return done_and_exhausted;
        }
        o->bytes_transferred_ = static_cast<std::size_t>(n);
        bool const stream = (o->state_ & socket_ops::stream_oriented) != 0;
        if (n == 0 && stream && o->buffer_.size() != 0) {
            o->ec_ = boost::asio::error::eof;
            return done_and_exhausted;
        }
        return left_to_read(msg) == 0 ? done_and_exhausted : done;
    }

private:
    // The kernel's TCP_CM_INQ hint: bytes still queued (1 after a FIN); -1 when it gave none.
    static int left_to_read(::msghdr& msg) noexcept {
        if (msg.msg_flags & MSG_CTRUNC) return -1;
        for (auto* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != IPPROTO_TCP || c->cmsg_type != TCP_CM_INQ || c->cmsg_len < CMSG_LEN(sizeof(int)))
                continue;
            int inq;
            std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
            return inq;
        }
        return -1;
    }

private:
    socket_type socket_;
    socket_ops::state_type state_;
    edge522::drained_buffer buffer_;
    socket_base::message_flags flags_;
};

} // namespace boost::asio::detail
