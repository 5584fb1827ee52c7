// A deadline for one health probe: when it passes before the probe finishes, it runs an action
// (close the socket, kill the process) that makes the pending operation complete. Internal to the
// checkers' .cpp files. Single-threaded io_context only (the control thread).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "common/asio.hpp"

namespace lbd::detail {

class ProbeDeadline {
 public:
  /// Arms the timer. `on_expiry` must own (shared_ptr) whatever it touches: it may run after the
  /// probe's coroutine frame is gone, though then finish() has made it a no-op.
  ProbeDeadline(const lb::asio::any_io_executor& ex, std::chrono::nanoseconds timeout,
                std::function<void()> on_expiry)
      : state_(std::make_shared<State>(ex)) {
    state_->timer.expires_after(timeout);
    state_->timer.async_wait([state = state_, action = std::move(on_expiry)](lb::error_code ec) {
      if (ec || state->finished) return;
      state->expired = true;
      action();
    });
  }
  ProbeDeadline(const ProbeDeadline&) = delete;
  ProbeDeadline& operator=(const ProbeDeadline&) = delete;
  ~ProbeDeadline() { finish(); }

  /// The probe is over: the action will not run any more.
  void finish() {
    state_->finished = true;
    state_->timer.cancel();
  }
  bool expired() const { return state_->expired; }

 private:
  struct State {
    explicit State(const lb::asio::any_io_executor& ex) : timer(ex) {}
    lb::asio::steady_timer timer;
    bool expired = false;
    bool finished = false;
  };
  std::shared_ptr<State> state_;
};

}  // namespace lbd::detail
