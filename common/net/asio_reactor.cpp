#include "common/net/asio_reactor.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/detail/thread_info_base.hpp>

namespace lb::net {

namespace {

/// An I/O object's implementation (descriptor, reactor registration, state) is protected in
/// Asio's classes; a pointer to member formed through a derived class reaches it without
/// casting the object.
template <typename IoObject>
struct Access : IoObject {
  static auto& implementation(IoObject& o) { return (o.*(&Access::impl_)).get_implementation(); }
};

using Reactor = boost::asio::detail::reactor;

/// Queues `op` as a read on the descriptor's registration, tried at once unless the reactor
/// knows the descriptor is empty.
void start_readable_op(boost::asio::execution_context& ctx, int fd, void* reactor_data,
                       boost::asio::detail::reactor_op* op) {
  auto& data = *static_cast<Reactor::per_descriptor_data*>(reactor_data);
  boost::asio::use_service<Reactor>(ctx).start_op(Reactor::read_op, fd, data, op,
                                                  /*is_continuation=*/false,
                                                  /*allow_speculative=*/true);
}

}  // namespace

ReadableWait::ReadableWait(Done on_done)
    : reactor_op(error_code(), &ReadableWait::perform, &ReadableWait::complete),
      on_done_(on_done) {}

boost::asio::detail::reactor_op::status ReadableWait::perform(reactor_op* base) {
  // The reactor first tries a new read at once ("speculatively"); answering "not done" then
  // queues the wait without a system call. Every later call comes from epoll reporting the
  // descriptor readable (or in error), which is what the waiter asked for.
  return static_cast<ReadableWait*>(base)->starting_ ? not_done : done;
}

void ReadableWait::complete(void* owner, boost::asio::detail::operation* base,
                            const error_code& /*ec*/, std::size_t /*bytes*/) {
  auto* self = static_cast<ReadableWait*>(base);
  // owner is null when the io_context is destroyed with the operation still queued.
  self->on_done_(self, self->ec_, owner == nullptr);
}

void* allocate_wait(std::size_t size) {
  using boost::asio::detail::thread_context;
  return boost::asio::detail::thread_info_base::allocate(thread_context::thread_call_stack::top(),
                                                         size);
}

void deallocate_wait(void* p, std::size_t size) {
  using boost::asio::detail::thread_context;
  boost::asio::detail::thread_info_base::deallocate(thread_context::thread_call_stack::top(), p,
                                                    size);
}

void start_readable_wait(boost::asio::execution_context& ctx, int fd, void* reactor_data,
                         ReadableWait* wait) {
  wait->starting_ = true;
  start_readable_op(ctx, fd, reactor_data, wait);
  // Still alive: completions run from the io_context's loop, never inside start_op.
  wait->starting_ = false;
}

void start_readable_wait(tcp::socket& socket, ReadableWait* wait) {
  auto& impl = Access<tcp::socket>::implementation(socket);
  start_readable_wait(socket.get_executor().context(), impl.socket_, &impl.reactor_data_, wait);
}

namespace {

namespace ops = boost::asio::detail::socket_ops;

/// `fd` in a socket on `io`: one EPOLL_CTL_ADD; Asio's state gets `set` and loses "possible
/// dup" (the descriptor is new, so closing it removes it from epoll without EPOLL_CTL_DEL).
tcp::socket adopt(asio::io_context& io, const tcp& protocol, int fd, ops::state_type set,
                  error_code& ec) {
  tcp::socket socket(io);
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return socket;
  }
  auto& state = Access<tcp::socket>::implementation(socket).state_;
  state = static_cast<ops::state_type>((state | set) & ~ops::possible_dup);
  return socket;
}

}  // namespace

tcp::socket adopt_accepted(asio::io_context& io, const tcp& protocol, int fd, error_code& ec) {
  // Non-blocking already, as Asio's first operation would make it (no ioctl(FIONBIO)).
  return adopt(io, protocol, fd, ops::internal_non_blocking, ec);
}

void set_non_blocking(tcp::socket& socket, error_code& ec) {
  auto& state = Access<tcp::socket>::implementation(socket).state_;
  if (socket.is_open() && (state & ops::internal_non_blocking)) {
    // Asio set O_NONBLOCK itself (or the descriptor came with it): only the mode changes.
    state |= ops::user_set_non_blocking;
    ec = {};
    return;
  }
  socket.non_blocking(true, ec);
}

tcp::socket open_nonblocking(asio::io_context& io, const tcp& protocol, error_code& ec) {
  const int fd =
      ::socket(protocol.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol.protocol());
  if (fd < 0) {
    ec = error_code(errno, boost::system::system_category());
    return tcp::socket(io);
  }
  return adopt(io, protocol, fd, ops::internal_non_blocking | ops::user_set_non_blocking, ec);
}

}  // namespace lb::net
