#include "lbd/l4/relay.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

namespace lbd::proxy {
namespace {

using Clock = std::chrono::steady_clock;
// One splice call moves at most this much; the default pipe holds 16 pages (64 KiB).
constexpr std::size_t kSpliceChunk = 64 * 1024;

struct RelayState {
  explicit RelayState(const lb::asio::any_io_executor& ex) : idle(ex) {}
  lb::tcp::socket* sockets[2] = {nullptr, nullptr};  // [0] client, [1] server
  // start_relay: the sockets live here and close when the relay ends; relay(): the caller's.
  std::optional<lb::tcp::socket> owned[2];
  RelayDone on_done;
  RelayResources* resources = nullptr;
  RelayOptions options;
  // relay() only: wakes the caller's coroutine when both directions end. start_relay has no
  // caller to wake, and 112 bytes less per idle L4 connection.
  std::optional<lb::asio::steady_timer> join;
  lb::asio::steady_timer idle;  // idle watchdog
  Clock::time_point last[2];
  bool done[2] = {false, false};
  int running = 2;
  bool aborted = false;
  bool finished = false;
  RelayResult result;
  // Target of the 1-byte MSG_PEEK that waits for data: no per-connection buffer while idle.
  std::uint8_t peek_byte[2] = {0, 0};
  // Per direction: splice still possible (false after the kernel refused it once).
  bool splice_ok[2] = {true, true};

  std::chrono::nanoseconds timeout(int dir) const {
    return dir == 0 ? options.client_idle : options.server_idle;
  }
  void count(int dir, std::uint64_t n) {
    (dir == 0 ? result.client_to_server : result.server_to_client) += n;
    last[dir] = Clock::now();
  }
  /// Ends the relay: both sockets' pending operations complete with operation_aborted.
  void abort(const lb::error_code& ec) {
    if (!result.error && ec) result.error = ec;
    if (aborted) return;
    aborted = true;
    lb::error_code ignored;
    sockets[0]->cancel(ignored);
    sockets[1]->cancel(ignored);
  }
  void direction_done() {
    if (--running != 0) return;
    finished = true;
    idle.cancel();
    if (!owned[0]) {
      join->cancel();
      return;
    }
    lb::error_code ignored;
    if (result.error && !result.timed_out) {
      // Abortive close on both sides so the peers see the failure rather than a clean end.
      for (auto& s : owned) s->set_option(lb::asio::socket_base::linger(true, 0), ignored);
    }
    for (auto& s : owned) s->close(ignored);
    if (on_done) {
      auto done_cb = std::move(on_done);
      done_cb(result);
    }
  }
};

lb::error_code last_error() { return lb::error_code(errno, boost::system::system_category()); }

void finish_direction(RelayState& st, int dir) {
  st.done[dir] = true;
  // start_relay closes both sockets as soon as this pump returns when the other direction is
  // already done, and a close sends the same FIN (that socket has nothing unread: it gave us its
  // EOF): one shutdown(2) less per connection. relay()'s caller closes later, so it gets it.
  if (st.owned[0] && st.done[1 - dir]) return;
  lb::error_code ignored;
  // Propagate the half-close: the peer sees our FIN once the bytes before it are delivered.
  st.sockets[1 - dir]->shutdown(lb::tcp::socket::shutdown_send, ignored);
}

/// Writes all of [data, data+n) to the peer of `dir`; false when the relay was aborted.
lb::awaitable<bool> write_all(RelayState& st, int dir, const std::uint8_t* data, std::size_t n) {
  auto& dst = *st.sockets[1 - dir];
  lb::error_code ec;
  std::size_t off = 0;
  while (off < n && !st.aborted) {
    off += dst.write_some(lb::asio::buffer(data + off, n - off), ec);
    if (ec == lb::asio::error::would_block) {
      co_await dst.async_wait(lb::tcp::socket::wait_write, redirect_error(lb::use_awaitable, ec));
    }
    if (ec && !st.aborted) st.abort(ec);
  }
  co_return !st.aborted;
}

enum class Bulk {
  drained,    // the source said EAGAIN with nothing left in flight
  eof,        // the source sent FIN and everything before it was delivered
  stopped,    // the relay was aborted
  no_splice,  // the kernel refused splice on these descriptors: copy from now on
};

/// Copies with a pooled buffer until the source has nothing more to give right now.
lb::awaitable<Bulk> copy_bulk(RelayState& st, int dir) {
  auto& src = *st.sockets[dir];
  auto buffer = st.resources->acquire_buffer();
  lb::error_code ec;
  Bulk outcome = Bulk::stopped;
  while (!st.aborted) {
    const auto n = src.read_some(lb::asio::buffer(buffer.get(), RelayResources::kBufferSize), ec);
    if (ec == lb::asio::error::would_block) {
      outcome = Bulk::drained;
      break;
    }
    if (ec == lb::asio::error::eof) {
      outcome = Bulk::eof;
      break;
    }
    if (ec) {
      st.abort(ec);
      break;
    }
    st.count(dir, n);
    if (!co_await write_all(st, dir, buffer.get(), n)) break;
  }
  st.resources->release_buffer(std::move(buffer));
  co_return outcome;
}

/// splice(2) through a pooled pipe until the source has nothing more to give right now; the pipe
/// goes back to the pool empty, so a waiting connection holds none.
lb::awaitable<Bulk> splice_bulk(RelayState& st, int dir) {
  auto& dst = *st.sockets[1 - dir];
  const int in = st.sockets[dir]->native_handle();
  const int out = dst.native_handle();
  Pipe pipe = st.resources->acquire_pipe();
  if (pipe.fds[0] < 0) co_return Bulk::no_splice;  // out of descriptors: copy instead
  lb::error_code ec;
  std::size_t in_pipe = 0;
  bool moved_any = false;
  Bulk outcome = Bulk::stopped;
  while (!st.aborted) {
    const ssize_t n = ::splice(in, nullptr, pipe.fds[1], nullptr, kSpliceChunk,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    bool stop_reading = false;
    if (n > 0) {
      in_pipe += static_cast<std::size_t>(n);
      moved_any = true;
      st.count(dir, static_cast<std::size_t>(n));
    } else if (n == 0) {
      outcome = Bulk::eof;
      stop_reading = true;
    } else if (errno == EAGAIN) {
      outcome = Bulk::drained;
      stop_reading = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EINVAL && !moved_any) {
      outcome = Bulk::no_splice;
      break;
    } else {
      st.abort(last_error());
      break;
    }
    while (in_pipe > 0 && !st.aborted) {
      const ssize_t m =
          ::splice(pipe.fds[0], nullptr, out, nullptr, in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m > 0) {
        in_pipe -= static_cast<std::size_t>(m);
      } else if (m < 0 && errno == EAGAIN) {
        co_await dst.async_wait(lb::tcp::socket::wait_write, redirect_error(lb::use_awaitable, ec));
        if (ec && !st.aborted) st.abort(ec);
      } else if (m < 0 && errno == EINTR) {
        continue;
      } else {
        st.abort(m == 0 ? lb::error_code(lb::asio::error::broken_pipe) : last_error());
      }
    }
    if (st.aborted) outcome = Bulk::stopped;
    if (stop_reading || st.aborted) break;
  }
  if (in_pipe == 0) {
    st.resources->release_pipe(pipe);
  } else {
    RelayResources::close_pipe(pipe);
  }
  co_return outcome;
}

void wait_readable(const std::shared_ptr<RelayState>& st, int dir);

/// The rest of a round that could not finish at once: writes what is left of the buffer, then,
/// when the read filled the buffer (more is pending), runs the bulk path (splice, or copy) until
/// EAGAIN. True when the direction goes on (wait for data again).
lb::awaitable<bool> finish_round(std::shared_ptr<RelayState> st, int dir,
                                 std::unique_ptr<std::uint8_t[]> buffer, std::size_t n,
                                 std::size_t written) {
  const bool ok = co_await write_all(*st, dir, buffer.get() + written, n - written);
  st->resources->release_buffer(std::move(buffer));
  if (!ok) co_return false;
  if (n < RelayResources::kBufferSize) co_return true;
  Bulk bulk;  // if/else, not ?: around co_await (g++ 12 has miscompiled that here, see http)
  if (st->splice_ok[dir]) {
    bulk = co_await splice_bulk(*st, dir);
  } else {
    bulk = co_await copy_bulk(*st, dir);
  }
  if (bulk == Bulk::no_splice) {
    st->splice_ok[dir] = false;
    bulk = co_await copy_bulk(*st, dir);
  }
  if (bulk == Bulk::eof) {
    finish_direction(*st, dir);
    co_return false;
  }
  co_return bulk != Bulk::stopped;
}

/// Data is ready on `dir`'s source: one read with a pooled buffer and one non-blocking write,
/// in this callback. Only when the write cannot finish at once or the buffer filled up (a large
/// transfer) does a coroutine take over (finish_round); it exists only while bytes move.
void on_readable(const std::shared_ptr<RelayState>& st, int dir) {
  auto& src = *st->sockets[dir];
  auto& dst = *st->sockets[1 - dir];
  auto buffer = st->resources->acquire_buffer();
  lb::error_code ec;
  const auto n = src.read_some(lb::asio::buffer(buffer.get(), RelayResources::kBufferSize), ec);
  if (ec == lb::asio::error::would_block) {
    st->resources->release_buffer(std::move(buffer));
    wait_readable(st, dir);
    return;
  }
  if (ec) {
    st->resources->release_buffer(std::move(buffer));
    if (ec == lb::asio::error::eof) {
      finish_direction(*st, dir);
    } else {
      st->abort(ec);
    }
    st->direction_done();
    return;
  }
  st->count(dir, n);
  std::size_t written = 0;
  while (written < n) {
    written += dst.write_some(lb::asio::buffer(buffer.get() + written, n - written), ec);
    if (ec) break;
  }
  if (ec && ec != lb::asio::error::would_block) {
    st->resources->release_buffer(std::move(buffer));
    st->abort(ec);
    st->direction_done();
    return;
  }
  if (written == n && n < RelayResources::kBufferSize) {
    // Small message, delivered: back to waiting, no coroutine involved.
    st->resources->release_buffer(std::move(buffer));
    wait_readable(st, dir);
    return;
  }
  auto ex = src.get_executor();
  lb::asio::co_spawn(ex, finish_round(st, dir, std::move(buffer), n, written),
                     [st, dir](std::exception_ptr e, bool again) {
                       if (e) st->abort(lb::asio::error::fault);
                       if (!e && again && !st->aborted) {
                         wait_readable(st, dir);
                       } else {
                         st->direction_done();
                       }
                     });
}

/// One direction waits with a speculative 1-byte MSG_PEEK receive and a plain callback: an idle
/// direction holds no buffer, no pipe, no coroutine frame and costs no epoll_ctl.
void wait_readable(const std::shared_ptr<RelayState>& st, int dir) {
  if (st->aborted) {
    st->direction_done();
    return;
  }
  st->sockets[dir]->async_receive(lb::asio::buffer(&st->peek_byte[dir], 1),
                                  lb::tcp::socket::message_peek,
                                  [st, dir](const lb::error_code& ec, std::size_t) {
                                    if (st->aborted) {
                                      st->direction_done();
                                    } else if (ec == lb::asio::error::eof) {
                                      finish_direction(*st, dir);
                                      st->direction_done();
                                    } else if (ec) {
                                      st->abort(ec);
                                      st->direction_done();
                                    } else {
                                      on_readable(st, dir);
                                    }
                                  });
}

void spawn_pump(const lb::asio::any_io_executor&, const std::shared_ptr<RelayState>& st, int dir) {
  st->splice_ok[dir] = st->options.use_splice;
  wait_readable(st, dir);
}

void arm_watchdog(const std::shared_ptr<RelayState>& st) {
  // Fire at the first moment both directions could be idle long enough.
  Clock::time_point when = Clock::now();
  for (int dir = 0; dir < 2; ++dir) {
    if (!st->done[dir]) when = std::max(when, st->last[dir] + st->timeout(dir));
  }
  st->idle.expires_at(when);
  st->idle.async_wait([st](const lb::error_code& ec) {
    if (ec || st->finished || st->aborted) return;
    const auto now = Clock::now();
    bool idle = true;
    for (int dir = 0; dir < 2; ++dir) {
      if (!st->done[dir] && now - st->last[dir] < st->timeout(dir)) idle = false;
    }
    if (idle) {
      st->result.timed_out = true;
      st->abort(lb::asio::error::timed_out);
      return;
    }
    arm_watchdog(st);
  });
}

}  // namespace

RelayResources::RelayResources(std::size_t max_spare_pipes, std::size_t max_spare_buffers)
    : max_spare_pipes_(max_spare_pipes), max_spare_buffers_(max_spare_buffers) {}

RelayResources::~RelayResources() {
  for (auto p : pipes_) close_pipe(p);
}

Pipe RelayResources::acquire_pipe() {
  if (!pipes_.empty()) {
    Pipe p = pipes_.back();
    pipes_.pop_back();
    return p;
  }
  Pipe p;
  if (::pipe2(p.fds, O_NONBLOCK | O_CLOEXEC) != 0) return Pipe{};
  return p;
}

void RelayResources::release_pipe(Pipe p) {
  if (p.fds[0] < 0) return;
  if (pipes_.size() < max_spare_pipes_) {
    pipes_.push_back(p);
  } else {
    close_pipe(p);
  }
}

void RelayResources::close_pipe(Pipe p) {
  if (p.fds[0] >= 0) ::close(p.fds[0]);
  if (p.fds[1] >= 0) ::close(p.fds[1]);
}

std::unique_ptr<std::uint8_t[]> RelayResources::acquire_buffer() {
  if (!buffers_.empty()) {
    auto b = std::move(buffers_.back());
    buffers_.pop_back();
    return b;
  }
  return std::make_unique_for_overwrite<std::uint8_t[]>(kBufferSize);
}

void RelayResources::release_buffer(std::unique_ptr<std::uint8_t[]> b) {
  if (b && buffers_.size() < max_spare_buffers_) buffers_.push_back(std::move(b));
}

namespace {

/// Shared setup of relay() and start_relay(); false (with result.error set) when the sockets
/// cannot be made non-blocking.
bool prepare(RelayState& st, RelayResources& resources, const RelayOptions& options) {
  st.resources = &resources;
  st.options = options;
  st.last[0] = st.last[1] = Clock::now();
  // User-level non-blocking mode: synchronous read_some/write_some then return would_block
  // instead of polling (which would block the whole worker); splice needs O_NONBLOCK too.
  // A socket already in that mode (the upstream connect sets it before connecting) costs no
  // second ioctl(FIONBIO).
  lb::error_code ec;
  for (auto* s : st.sockets) {
    if (!ec && !s->non_blocking()) s->non_blocking(true, ec);
  }
  st.result.error = ec;
  return !ec;
}

}  // namespace

lb::awaitable<RelayResult> relay(lb::tcp::socket& client, lb::tcp::socket& server,
                                 RelayResources& resources, const RelayOptions& options) {
  auto ex = co_await lb::asio::this_coro::executor;
  auto st = std::make_shared<RelayState>(ex);
  st->sockets[0] = &client;
  st->sockets[1] = &server;
  st->join.emplace(ex);
  if (!prepare(*st, resources, options)) co_return st->result;
  st->join->expires_at(Clock::time_point::max());
  arm_watchdog(st);
  spawn_pump(ex, st, 0);
  spawn_pump(ex, st, 1);
  lb::error_code ec;
  // Both pumps hold `st`; direction_done() of the last one cancels this wait.
  if (!st->finished) co_await st->join->async_wait(redirect_error(lb::use_awaitable, ec));
  co_return st->result;
}

void start_relay(lb::tcp::socket client, lb::tcp::socket server, RelayResources& resources,
                 const RelayOptions& options, RelayDone done) {
  auto ex = client.get_executor();
  auto st = std::make_shared<RelayState>(ex);
  st->owned[0].emplace(std::move(client));
  st->owned[1].emplace(std::move(server));
  st->sockets[0] = &*st->owned[0];
  st->sockets[1] = &*st->owned[1];
  st->on_done = std::move(done);
  if (!prepare(*st, resources, options)) {
    st->running = 1;
    st->direction_done();  // closes both sockets and reports the error
    return;
  }
  arm_watchdog(st);
  spawn_pump(ex, st, 0);
  spawn_pump(ex, st, 1);
}

}  // namespace lbd::proxy
