// System calls Asio's epoll reactor makes that lbpair's hot paths do not need, and the two
// primitives that avoid them. Built on Boost.Asio's epoll reactor internals (Boost 1.74, Linux),
// for single-threaded io_contexts only (every lbd worker runs one).
//
// - A wait for readability that costs no system call to start. Asio's async_wait re-registers
//   the descriptor with epoll (EPOLL_CTL_MOD) on every call, so that a socket which is readable
//   already is reported although the edge-triggered epoll has signalled it before. This wait
//   queues itself like a read that found nothing to read: the registration stays as it is, and
//   the next edge (bytes, end of file, error, a connection to accept) completes it. It cannot
//   see an edge that epoll reported before it was queued while nothing waited: start it right
//   after a read, recv or accept that found nothing (EAGAIN), within the same handler. A short
//   read is not enough: a FIN that came with the last bytes raises no further event.
// - Adopting a socket accepted with accept4(SOCK_NONBLOCK | SOCK_CLOEXEC): Asio's own accept
//   uses accept(2), then sets non-blocking mode with ioctl(FIONBIO) at the first operation, and
//   since an assigned descriptor might be a dup(2) of another it removes it from epoll with
//   EPOLL_CTL_DEL before closing. A freshly accepted descriptor is neither blocking nor shared,
//   so both calls go (closing it removes it from epoll, as for sockets Asio opens itself).
#pragma once

#include <boost/version.hpp>

#include "common/asio.hpp"

#if BOOST_VERSION < 107400 || BOOST_VERSION >= 107500 || !defined(BOOST_ASIO_HAS_EPOLL)
#error "asio_reactor.hpp reaches into Boost 1.74's epoll_reactor: check it against this Boost"
#endif

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>

#include <new>
#include <utility>

namespace lb::net {

/// One pending readability wait. Derive to carry the waiter's state; `on_done` must destroy the
/// operation. It is called exactly once: on readiness (success), on cancel() or close() of the
/// socket (operation_aborted), or with `destroyed` set when the io_context is destroyed with the
/// wait still pending, when no handler may run.
class ReadableWait : public boost::asio::detail::reactor_op {
 public:
  using Done = void (*)(ReadableWait* self, const error_code& ec, bool destroyed);
  explicit ReadableWait(Done on_done);

 private:
  friend void start_readable_wait(boost::asio::execution_context& ctx, int fd, void* reactor_data,
                                  ReadableWait* wait);
  static status perform(reactor_op* base);
  static void complete(void* owner, boost::asio::detail::operation* base,
                       const boost::system::error_code& ec, std::size_t bytes);

  Done on_done_;
  bool starting_ = true;
};

/// Memory for a wait operation from the calling thread's Asio recycling cache (as Asio's own
/// operations get theirs), and back. Outside an io_context's thread these are new and delete.
void* allocate_wait(std::size_t size);
void deallocate_wait(void* p, std::size_t size);

/// Queues `wait` on the socket's epoll registration without a system call. The socket must be
/// open; its cancel() or close() aborts the wait. A listening descriptor may be held in a
/// tcp::socket for this (Asio's acceptor keeps its registration out of reach); readable then
/// means a connection is there to accept.
void start_readable_wait(tcp::socket& socket, ReadableWait* wait);

/// Completes `token` with an error_code when `socket` is readable (or in error);
/// operation_aborted when it is closed or cancelled. No system call: start it right after a
/// read, recv or accept on it that found nothing, within the same handler.
template <typename Token>
auto async_wait_readable(tcp::socket& socket, Token&& token) {
  return asio::async_initiate<Token, void(error_code)>(
      [&socket](auto handler) {
        using Handler = decltype(handler);
        struct Op final : ReadableWait {
          explicit Op(Handler&& h) : ReadableWait(&Op::done), handler(std::move(h)) {}
          static void done(ReadableWait* base, const error_code& ec, bool destroyed) {
            auto* self = static_cast<Op*>(base);
            Handler h = std::move(self->handler);
            self->~Op();
            deallocate_wait(self, sizeof(Op));
            if (!destroyed) std::move(h)(ec);
          }
          Handler handler;
        };
        start_readable_wait(socket, new (allocate_wait(sizeof(Op))) Op(std::move(handler)));
      },
      token);
}

/// A socket on `io` for `fd`, a TCP connection just accepted with accept4(SOCK_NONBLOCK |
/// SOCK_CLOEXEC) (neither blocking nor shared with another descriptor): registered with epoll
/// (EPOLL_CTL_ADD) and nothing else. As after Asio's own accept, the socket's synchronous calls
/// still wait (Asio polls); non_blocking() is false. On error `fd` is closed and the socket is
/// not open.
tcp::socket adopt_accepted(asio::io_context& io, const tcp& protocol, int fd, error_code& ec);

/// socket.non_blocking(true), without the ioctl(FIONBIO) when the descriptor is non-blocking
/// already (accepted or opened by the functions here, or used for an asynchronous operation).
void set_non_blocking(tcp::socket& socket, error_code& ec);

/// A new TCP socket for `protocol`, made with socket(SOCK_NONBLOCK | SOCK_CLOEXEC) and in
/// non_blocking() mode: what open() followed by non_blocking(true) gives, less the
/// ioctl(FIONBIO).
tcp::socket open_nonblocking(asio::io_context& io, const tcp& protocol, error_code& ec);

}  // namespace lb::net
