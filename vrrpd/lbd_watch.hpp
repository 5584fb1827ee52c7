// The instant half of tracking lbd: a long-lived `watch` stream on lbd's control socket. lbd
// answers once and keeps the connection; when lbd's process ends (SIGKILL included) the kernel
// closes it, and the end of file reaches vrrpd within a scheduling delay, where polling would
// need `fall` failed checks. A hung lbd keeps the stream open: the polls cover that case.
// The stream also carries lbd's readiness (up, health checks ran once, replication in sync):
// the answer has "ready", and lbd sends one line {"event":"ready","ready":B,"reasons":[..]} per
// change. An lbd that does not report it (older) counts as ready while the stream is open.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"

namespace spdlog {
class logger;
}

namespace vrrp {

/// Backoff between attempts to (re)open the stream: doubles from kWatchRetryMin to
/// kWatchRetryMax, back to the minimum once a stream was established.
inline constexpr std::chrono::milliseconds kWatchRetryMin{20};
inline constexpr std::chrono::milliseconds kWatchRetryMax{1000};
/// How long lbd may take to answer the watch request before the attempt is dropped.
inline constexpr std::chrono::milliseconds kWatchAnswerTimeout{1000};

/// The retry delay after `failures` consecutive failed attempts (0 = first retry). Pure.
std::chrono::milliseconds watch_backoff(int failures);

/// lbd's readiness in a watch answer or event line: "ready" (absent = true: an lbd that does
/// not report readiness), and the "reasons" joined with "; " into `reason`. Pure.
bool watch_readiness(const nlohmann::json& message, std::string& reason);

class LbdWatch {
 public:
  /// `on_gone(reason)` runs when an established stream ends: lbd died or stopped its control
  /// server. Never for a stream that was not established (lbd not up yet: the polls say so).
  /// Single-threaded on `ctx`.
  /// `on_ready(ready, reason)` runs when the readiness lbd reports changes (and with false when
  /// the stream ends).
  LbdWatch(lb::asio::io_context& ctx, std::string socket,
           std::function<void(const std::string& reason)> on_gone,
           std::function<void(bool ready, const std::string& reason)> on_ready = {});
  ~LbdWatch();
  LbdWatch(const LbdWatch&) = delete;
  LbdWatch& operator=(const LbdWatch&) = delete;

  void start();
  /// Whether a stream is established now.
  bool established() const { return pid_ != 0; }
  /// lbd's PID as it reported it on the current stream; 0 without one.
  pid_t pid() const { return pid_; }
  /// lbd's readiness as last reported; false without a stream.
  bool ready() const { return ready_; }

 private:
  lb::awaitable<void> run(std::shared_ptr<bool> alive);
  /// One attempt: connects a new socket_, asks for the watch stream and reads the answer line
  /// into `reply` (bounded, under kWatchAnswerTimeout). Its length with the '\n', or `ec`. Touches
  /// nothing once `*alive` is false (the caller checks it first).
  lb::awaitable<std::size_t> open_stream(std::shared_ptr<bool> alive, std::string& reply,
                                         lb::error_code& ec);
  /// A readiness report (the answer or an event line): logged and passed on when it changed.
  void report_readiness(const nlohmann::json& message, spdlog::logger& log);

  lb::asio::io_context& ctx_;
  std::string socket_path_;
  std::function<void(const std::string&)> on_gone_;
  std::function<void(bool, const std::string&)> on_ready_;
  lb::asio::local::stream_protocol::socket socket_;
  lb::asio::steady_timer timer_;
  pid_t pid_ = 0;
  bool ready_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vrrp
