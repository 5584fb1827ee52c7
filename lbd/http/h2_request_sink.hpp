// The request body side of an HTTP/2 upstream stream as an AsyncWriteStream, so that the L7
// session's body relays (Content-Length and chunked, body_relay.cpp) carry an HTTP/1.1 client's
// request body to an HTTP/2 server (h2_bridge.cpp) without a relay of their own. A write takes
// what the stream has room for (H2ClientLimits::stream_output ahead of the server's window) or
// waits for the stream's wake-up: a server that stops reading stops the client's body, up to
// the idle timeout. Private to lbd/http; single-threaded (the worker's).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/asio.hpp"
#include "lbd/upstream_conn/h2_upstream.hpp"
#include "lbd/upstream_conn/wake_signal.hpp"

namespace lbd::proxy {

class H2RequestSink {
 public:
  using executor_type = lb::asio::any_io_executor;
  using Clock = std::chrono::steady_clock;

  /// `wake` is notified on every event of `up`; a write waits at most `idle` for room.
  H2RequestSink(H2UpstreamStream& up, WakeSignal& wake, executor_type ex,
                std::chrono::nanoseconds idle)
      : up_(up), wake_(wake), ex_(std::move(ex)), idle_(idle) {}

  executor_type get_executor() { return ex_; }
  /// Body bytes the stream took.
  std::uint64_t sent() const { return sent_; }
  /// The last write failed because the stream had no room for `idle`.
  bool timed_out() const { return timed_out_; }

  /// Fails with connection_reset once the stream closed, timed_out after `idle` without room.
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return lb::asio::async_compose<Token, void(lb::error_code, std::size_t)>(
        WriteOp<Buffers>{this, buffers}, token, ex_);
  }

 private:
  template <typename Buffers>
  struct WriteOp {
    H2RequestSink* sink;
    Buffers buffers;
    Clock::time_point deadline{};
    bool finished = false;
    lb::error_code result{};
    std::size_t taken = 0;

    template <typename Self>
    void operator()(Self& self, lb::error_code = {}) {
      if (finished) {
        self.complete(result, taken);
        return;
      }
      if (deadline == Clock::time_point{}) deadline = Clock::now() + sink->idle_;
      if (sink->up_.closed) return finish(self, lb::asio::error::connection_reset);
      for (auto it = lb::asio::buffer_sequence_begin(buffers);
           it != lb::asio::buffer_sequence_end(buffers); ++it) {
        const lb::asio::const_buffer b = *it;
        if (b.size() == 0) continue;
        const auto n =
            sink->up_.write_body(std::span(static_cast<const std::uint8_t*>(b.data()), b.size()));
        taken += n;
        if (n < b.size()) break;
      }
      if (taken > 0) {
        sink->sent_ += taken;
        return finish(self, {});
      }
      if (Clock::now() >= deadline) {
        sink->timed_out_ = true;
        return finish(self, lb::asio::error::timed_out);
      }
      sink->wake_.async_wait_until(deadline, std::move(self));
    }
    // Completes through the executor, never inside the initiating call.
    template <typename Self>
    void finish(Self& self, lb::error_code ec) {
      finished = true;
      result = ec;
      lb::asio::post(sink->ex_, std::move(self));
    }
  };

  H2UpstreamStream& up_;
  WakeSignal& wake_;
  executor_type ex_;
  std::chrono::nanoseconds idle_;
  std::uint64_t sent_ = 0;
  bool timed_out_ = false;
};

}  // namespace lbd::proxy
