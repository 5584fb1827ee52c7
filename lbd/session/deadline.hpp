// A deadline on a socket operation without awaitable operators (Asio 1.18): a timer that cancels
// the socket's pending operations when it fires, unless the guard was destroyed first.
#pragma once

#include <chrono>
#include <memory>

#include "common/asio.hpp"
#include "common/net/asio_endpoint.hpp"

namespace lbd::proxy {

/// Arms on construction; disarms on destruction. Single-threaded (the socket's executor).
class SocketDeadline {
 public:
  SocketDeadline(lb::tcp::socket& socket, std::chrono::nanoseconds timeout)
      : state_(std::make_shared<State>(socket)) {
    state_->timer.expires_after(timeout);
    state_->timer.async_wait([st = state_](const lb::error_code& ec) {
      if (ec || !st->armed) return;
      st->expired = true;
      lb::error_code ignored;
      st->socket->cancel(ignored);
    });
  }
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;
  ~SocketDeadline() {
    state_->armed = false;
    state_->timer.cancel();
  }
  /// True when the timer fired (the operation failed because of it).
  bool expired() const { return state_->expired; }

 private:
  struct State {
    explicit State(lb::tcp::socket& s) : timer(s.get_executor()), socket(&s) {}
    lb::asio::steady_timer timer;
    lb::tcp::socket* socket;
    bool armed = true;
    bool expired = false;
  };
  std::shared_ptr<State> state_;
};

/// lb::Endpoint ↔ Asio endpoint (common/net/asio_endpoint.hpp), by their short names here.
using lb::from_asio;
using lb::to_asio;

}  // namespace lbd::proxy
