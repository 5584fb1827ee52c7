#include "lbd/proxy/relay.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace lbd::proxy {
namespace {

using Clock = std::chrono::steady_clock;
// One splice call moves at most this much; the default pipe holds 16 pages (64 KiB).
constexpr std::size_t kSpliceChunk = 64 * 1024;

struct RelayState {
  explicit RelayState(const lb::asio::any_io_executor& ex) : join(ex), idle(ex) {}
  lb::tcp::socket* sockets[2] = {nullptr, nullptr};  // [0] client, [1] server
  RelayResources* resources = nullptr;
  RelayOptions options;
  lb::asio::steady_timer join;  // wakes the main coroutine when the spawned direction ends
  lb::asio::steady_timer idle;  // idle watchdog
  Clock::time_point last[2];
  bool done[2] = {false, false};
  int running = 2;
  bool aborted = false;
  bool finished = false;
  RelayResult result;

  std::chrono::nanoseconds timeout(int dir) const {
    return dir == 0 ? options.client_idle : options.server_idle;
  }
  void count(int dir, std::uint64_t n) {
    (dir == 0 ? result.client_to_server : result.server_to_client) += n;
    last[dir] = Clock::now();
  }
  /// Ends the relay: both sockets' pending waits complete with operation_aborted.
  void abort(const lb::error_code& ec) {
    if (!result.error && ec) result.error = ec;
    if (aborted) return;
    aborted = true;
    lb::error_code ignored;
    sockets[0]->cancel(ignored);
    sockets[1]->cancel(ignored);
  }
  void direction_done() {
    if (--running == 0) join.cancel();
  }
};

lb::error_code last_error() { return lb::error_code(errno, boost::system::system_category()); }

void finish_direction(RelayState& st, int dir) {
  st.done[dir] = true;
  lb::error_code ignored;
  // Propagate the half-close: the peer sees our FIN once the bytes before it are delivered.
  st.sockets[1 - dir]->shutdown(lb::tcp::socket::shutdown_send, ignored);
}

/// Read/write copy of one direction; a buffer is held only while bytes are in flight. Reads
/// before waiting: Asio's epoll registration is edge-triggered, so bytes that arrived before the
/// first wait would not wake it.
lb::awaitable<void> copy_direction(RelayState& st, int dir) {
  auto& src = *st.sockets[dir];
  auto& dst = *st.sockets[1 - dir];
  lb::error_code ec;
  while (!st.aborted) {
    auto buffer = st.resources->acquire_buffer();
    bool eof = false;
    bool drained = false;
    while (!st.aborted) {
      const auto n = src.read_some(lb::asio::buffer(buffer.get(), RelayResources::kBufferSize), ec);
      if (ec == lb::asio::error::would_block) {
        drained = true;
        break;
      }
      if (ec == lb::asio::error::eof) {
        eof = true;
        break;
      }
      if (ec) {
        st.abort(ec);
        break;
      }
      st.count(dir, n);
      std::size_t off = 0;
      while (off < n && !st.aborted) {
        off += dst.write_some(lb::asio::buffer(buffer.get() + off, n - off), ec);
        if (ec == lb::asio::error::would_block) {
          co_await dst.async_wait(lb::tcp::socket::wait_write,
                                  redirect_error(lb::use_awaitable, ec));
        }
        if (ec && !st.aborted) st.abort(ec);
      }
    }
    st.resources->release_buffer(std::move(buffer));
    if (eof) {
      finish_direction(st, dir);
      break;
    }
    if (!drained || st.aborted) break;
    co_await src.async_wait(lb::tcp::socket::wait_read, redirect_error(lb::use_awaitable, ec));
    if (st.aborted) break;
    if (ec) {
      st.abort(ec);
      break;
    }
  }
}

/// splice(2) of one direction through a pooled pipe; falls back to copying when the kernel
/// refuses to splice these descriptors.
lb::awaitable<void> splice_direction(RelayState& st, int dir) {
  auto& src = *st.sockets[dir];
  auto& dst = *st.sockets[1 - dir];
  const int in = src.native_handle();
  const int out = dst.native_handle();
  lb::error_code ec;
  Pipe pipe = st.resources->acquire_pipe();
  if (pipe.fds[0] < 0) {
    co_await copy_direction(st, dir);
    co_return;
  }
  std::size_t in_pipe = 0;
  bool moved_any = false;
  bool eof = false;
  while (!st.aborted) {
    const ssize_t n = ::splice(in, nullptr, pipe.fds[1], nullptr, kSpliceChunk,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      in_pipe += static_cast<std::size_t>(n);
      moved_any = true;
      st.count(dir, static_cast<std::size_t>(n));
    } else if (n == 0) {
      eof = true;
    } else if (errno == EAGAIN) {
      if (in_pipe == 0) {
        // Nothing in flight: give the pipe back while we wait, so idle connections hold none.
        st.resources->release_pipe(pipe);
        pipe = Pipe{};
        co_await src.async_wait(lb::tcp::socket::wait_read, redirect_error(lb::use_awaitable, ec));
        if (st.aborted) break;
        if (ec) {
          st.abort(ec);
          break;
        }
        pipe = st.resources->acquire_pipe();
        if (pipe.fds[0] < 0) {
          co_await copy_direction(st, dir);
          co_return;
        }
        continue;
      }
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EINVAL && !moved_any) {
      st.resources->release_pipe(pipe);
      co_await copy_direction(st, dir);
      co_return;
    } else {
      st.abort(last_error());
      break;
    }
    // Drain the pipe into the destination.
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
    if (st.aborted) break;
    if (eof) {
      finish_direction(st, dir);
      break;
    }
  }
  if (pipe.fds[0] >= 0) {
    if (in_pipe == 0) {
      st.resources->release_pipe(pipe);
    } else {
      RelayResources::close_pipe(pipe);
    }
  }
}

lb::awaitable<void> run_direction(std::shared_ptr<RelayState> st, int dir) {
  if (st->options.use_splice) {
    co_await splice_direction(*st, dir);
  } else {
    co_await copy_direction(*st, dir);
  }
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

lb::awaitable<RelayResult> relay(lb::tcp::socket& client, lb::tcp::socket& server,
                                 RelayResources& resources, const RelayOptions& options) {
  auto ex = co_await lb::asio::this_coro::executor;
  auto st = std::make_shared<RelayState>(ex);
  st->sockets[0] = &client;
  st->sockets[1] = &server;
  st->resources = &resources;
  st->options = options;
  st->last[0] = st->last[1] = Clock::now();
  lb::error_code ec;
  // User-level non-blocking mode: synchronous read_some/write_some then return would_block
  // instead of polling (which would block the whole worker); splice needs O_NONBLOCK too.
  client.non_blocking(true, ec);
  if (!ec) server.non_blocking(true, ec);
  if (ec) {
    st->result.error = ec;
    co_return st->result;
  }
  st->join.expires_at(Clock::time_point::max());
  arm_watchdog(st);
  // The server→client direction runs in its own coroutine; this one runs client→server and then
  // waits for the other. Neither throws for I/O errors; the handler only counts completion.
  lb::asio::co_spawn(ex, run_direction(st, 1), [st](std::exception_ptr e) {
    if (e) st->abort(lb::asio::error::fault);
    st->direction_done();
  });
  co_await run_direction(st, 0);
  st->direction_done();
  if (st->running > 0) {
    co_await st->join.async_wait(redirect_error(lb::use_awaitable, ec));
  }
  st->finished = true;
  st->idle.cancel();
  co_return st->result;
}

}  // namespace lbd::proxy
