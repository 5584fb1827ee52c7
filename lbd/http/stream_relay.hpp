// Byte relay after an HTTP Upgrade (101, e.g. WebSocket) when either side is TLS, where
// relay()'s splice cannot go: async read/write on the two streams, both directions at once, with
// the same idle rule as relay(). An EOF is passed on as a half-close: shutdown(SHUT_WR); toward
// a TLS peer preceded by close_notify when the other direction is already done (else the FIN
// alone, see close_send_tls). Private to the L7 session's .cpp files (Asio SSL).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>

#include "common/asio_ssl.hpp"
#include "lbd/l4/relay.hpp"
#include "lbd/tls/tls_context.hpp"
#include "lbd/upstream_conn/upstream_tls_stream.hpp"

namespace lbd::proxy {

namespace stream_relay_detail {

using Clock = std::chrono::steady_clock;

/// Both directions' progress and the timers that end the relay.
struct State {
  State(const lb::asio::any_io_executor& ex, lb::tcp::socket& c, lb::tcp::socket& s,
        const RelayOptions& o)
      : idle(ex), done(ex), client(&c), server(&s), options(o) {}
  lb::asio::steady_timer idle;  // the idle watchdog
  lb::asio::steady_timer done;  // cancelled when both directions have finished
  lb::tcp::socket* client;
  lb::tcp::socket* server;
  RelayOptions options;
  Clock::time_point last[2] = {Clock::now(), Clock::now()};  // [0] client→server, [1] back
  bool finished[2] = {false, false};
  int running = 2;
  bool stopped = false;
  RelayResult result;

  void cancel_both() {
    lb::error_code ignored;
    client->cancel(ignored);
    server->cancel(ignored);
  }
  /// The moment both directions will have been idle long enough (a finished one is idle).
  Clock::time_point deadline() const {
    const auto c = finished[0] ? Clock::time_point::min() : last[0] + options.client_idle;
    const auto s = finished[1] ? Clock::time_point::min() : last[1] + options.server_idle;
    return std::max(c, s);
  }
  /// Arms the idle watchdog; the handler holds `self`, so it may run after the relay returned.
  static void watch(const std::shared_ptr<State>& self) {
    self->idle.expires_at(self->deadline());
    self->idle.async_wait([self](const lb::error_code& ec) {
      if (ec || self->stopped) return;
      if (Clock::now() >= self->deadline()) {
        self->result.timed_out = true;
        self->cancel_both();
        return;
      }
      watch(self);
    });
  }
  void finish_one() {
    if (--running == 0) done.cancel();
  }
};

/// Ends our sending side of a plain socket.
inline lb::awaitable<void> close_send(lb::tcp::socket& s, bool) {
  lb::error_code ignored;
  s.shutdown(lb::tcp::socket::shutdown_send, ignored);
  co_return;
}

/// Ends our sending side of a TLS stream. When nothing reads from it any more (`reading_done`):
/// close_notify, then the TCP FIN. Else the FIN alone: Asio's TLS shutdown would wait for the
/// peer's close_notify, reading (and dropping) the data the other direction still relays.
template <typename Next>
lb::awaitable<void> close_send_tls(lb::asio::ssl::stream<Next>& s, lb::tcp::socket& raw,
                                   bool reading_done) {
  lb::error_code ec;
  if (reading_done) {
    mark_tls_shutdown_sent(s.native_handle());
    co_await s.async_shutdown(lb::asio::redirect_error(lb::use_awaitable, ec));
  }
  raw.shutdown(lb::tcp::socket::shutdown_send, ec);
}

inline lb::awaitable<void> close_send(lb::asio::ssl::stream<lb::tcp::socket>& s,
                                      bool reading_done) {
  co_await close_send_tls(s, s.next_layer(), reading_done);
}

inline lb::awaitable<void> close_send(UpstreamStream& s, bool reading_done) {
  auto& conn = s.connection();
  if (conn.tls) {
    co_await close_send_tls(conn.tls->stream, conn.socket, reading_done);
  } else {
    co_await close_send(conn.socket, reading_done);
  }
}

/// One direction: `from` → `to` until EOF (passed on as a half-close) or an error (ends both).
template <typename From, typename To>
lb::awaitable<void> pump(From& from, To& to, State& st, int dir, std::uint8_t* buf,
                         std::size_t size) {
  lb::error_code ec;
  for (;;) {
    const auto n = co_await from.async_read_some(lb::asio::buffer(buf, size),
                                                 lb::asio::redirect_error(lb::use_awaitable, ec));
    if (n > 0) {
      st.last[dir] = Clock::now();
      lb::error_code wec;
      co_await lb::asio::async_write(to, lb::asio::buffer(buf, n),
                                     lb::asio::redirect_error(lb::use_awaitable, wec));
      if (wec) {
        ec = wec;
        break;
      }
      (dir == 0 ? st.result.client_to_server : st.result.server_to_client) += n;
      st.last[dir] = Clock::now();
    }
    if (ec) break;
  }
  st.finished[dir] = true;
  if (ec == lb::asio::error::eof || ec == lb::asio::ssl::error::stream_truncated) {
    co_await close_send(to, st.finished[1 - dir]);
    co_return;
  }
  if (!st.result.error && !st.result.timed_out) st.result.error = ec;
  st.cancel_both();
}

}  // namespace stream_relay_detail

/// Relays between `client` (the client stream: socket or TLS) and `upstream` until both
/// directions are done, an error, or both directions idle past their timeouts (RelayOptions;
/// use_splice is ignored). `client_raw` / `server_raw` are the TCP sockets under them (for
/// cancellation). Everything must outlive the call; worker thread. Never throws for I/O errors.
template <typename ClientStream>
lb::awaitable<RelayResult> relay_streams(ClientStream& client, UpstreamStream& upstream,
                                         lb::tcp::socket& client_raw, lb::tcp::socket& server_raw,
                                         RelayResources& resources, const RelayOptions& options,
                                         std::shared_ptr<spdlog::logger> log) {
  using namespace stream_relay_detail;
  auto ex = co_await lb::asio::this_coro::executor;
  auto state = std::make_shared<State>(ex, client_raw, server_raw, options);
  State& st = *state;
  auto up_buf = resources.acquire_buffer();
  auto down_buf = resources.acquire_buffer();
  auto on_end = [state, log](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log->error("relay: upgraded connection failed: {}", x.what());
      } catch (...) {
        log->error("relay: upgraded connection failed");
      }
      state->cancel_both();
    }
    state->finish_one();
  };
  constexpr auto kSize = RelayResources::kBufferSize;
  // The pumps refer to this frame's streams and buffers: this coroutine waits for both.
  lb::asio::co_spawn(ex, pump(client, upstream, st, 0, up_buf.get(), kSize), on_end);
  lb::asio::co_spawn(ex, pump(upstream, client, st, 1, down_buf.get(), kSize), on_end);
  State::watch(state);
  if (st.running > 0) {
    st.done.expires_at(Clock::time_point::max());
    lb::error_code ignored;
    co_await st.done.async_wait(lb::asio::redirect_error(lb::use_awaitable, ignored));
  }
  st.stopped = true;
  st.idle.cancel();
  resources.release_buffer(std::move(up_buf));
  resources.release_buffer(std::move(down_buf));
  co_return st.result;
}

}  // namespace lbd::proxy
