// The per-session deadline of the L7 session: one timer per connection that cancels the
// session's sockets when the current phase (header, body, response, idle) overruns.
#pragma once

#include <chrono>
#include <memory>

#include "common/asio.hpp"

namespace lbd::proxy::http_detail {

namespace asio = lb::asio;
using lb::error_code;
using lb::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

/// One timer per connection that cancels the session's sockets when its deadline passes. Moving
/// the deadline is a field write; the timer is only re-armed when it fires early or when the new
/// deadline is earlier than the armed one, which keeps timer traffic off the per-request path.
class Watchdog {
 public:
  explicit Watchdog(const asio::any_io_executor& ex) : st_(std::make_shared<State>(ex)) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    st_->stopped = true;
    st_->a = st_->b = nullptr;
    st_->timer.cancel();
  }

  void watch(tcp::socket* a, tcp::socket* b) {
    st_->a = a;
    st_->b = b;
  }
  /// Cancels the watched sockets `timeout` from now unless re-armed or disarmed before.
  void arm(nanoseconds timeout) {
    auto& s = *st_;
    s.fired = false;
    s.deadline = Clock::now() + timeout;
    if (!s.waiting) {
      wait(st_);
    } else if (s.deadline < s.timer.expiry()) {
      s.timer.cancel();  // the handler re-waits for the earlier deadline
    }
  }
  void disarm() { st_->deadline = Clock::time_point::max(); }
  bool fired() const { return st_->fired; }

 private:
  struct State {
    explicit State(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    Clock::time_point deadline = Clock::time_point::max();
    tcp::socket* a = nullptr;
    tcp::socket* b = nullptr;
    bool waiting = false;
    bool stopped = false;
    bool fired = false;
  };

  static void wait(const std::shared_ptr<State>& st) {
    st->waiting = true;
    st->timer.expires_at(st->deadline);
    st->timer.async_wait([st](const error_code&) {
      st->waiting = false;
      if (st->stopped || st->deadline == Clock::time_point::max()) return;
      if (st->deadline <= Clock::now()) {
        st->fired = true;
        st->deadline = Clock::time_point::max();
        error_code ignored;
        if (st->a) st->a->cancel(ignored);
        if (st->b) st->b->cancel(ignored);
        return;
      }
      wait(st);
    });
  }

  std::shared_ptr<State> st_;
};

}  // namespace lbd::proxy::http_detail
