// A wake-up for one waiting coroutine (or composed operation) on a worker's executor; a notify()
// that comes before the wait is kept. Single-threaded.
#pragma once

#include <chrono>

#include "common/asio.hpp"

namespace lbd::proxy {

class WakeSignal {
 public:
  using Clock = std::chrono::steady_clock;
  explicit WakeSignal(const lb::asio::any_io_executor& ex) : timer_(ex) {}
  void notify() {
    pending_ = true;
    timer_.cancel();
  }
  /// True when notified, false at `deadline`.
  lb::awaitable<bool> wait_until(Clock::time_point deadline) {
    if (!pending_) {
      timer_.expires_at(deadline);
      lb::error_code ec;
      co_await timer_.async_wait(lb::asio::redirect_error(lb::use_awaitable, ec));
    }
    const bool woke = pending_;
    pending_ = false;
    co_return woke;
  }
  lb::awaitable<void> wait() { co_await wait_until(Clock::time_point::max()); }
  /// wait_until for a composed operation: `handler(error_code)` runs (never inline) when
  /// notified (a pending notify counts) or at `deadline`; the caller checks which.
  template <typename Handler>
  void async_wait_until(Clock::time_point deadline, Handler&& handler) {
    if (pending_) {
      pending_ = false;
      lb::asio::post(timer_.get_executor(),
                     [h = std::forward<Handler>(handler)]() mutable { h(lb::error_code{}); });
      return;
    }
    timer_.expires_at(deadline);
    timer_.async_wait(std::forward<Handler>(handler));
  }

 private:
  lb::asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace lbd::proxy
