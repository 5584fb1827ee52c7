// Tracking the local lbd over its control socket ([track_lbd]): a health request every interval,
// judged by lbd_health_verdict (pure), counted by RiseFall; a flip lowers the priority of every
// instance by the weight, or (weight 0) puts them in Fault. A dead or hung lbd is a failure:
// the request times out or the socket refuses. Besides the polls, a watch stream (lbd_watch.hpp)
// reports lbd's death the moment it happens: the tracker goes down at once, without waiting for
// `fall` failed polls; coming back up is the polls' `rise` successes, as always. The watch stream
// also reports lbd's readiness, which the preempt gate waits for.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "vrrpd/config.hpp"
#include "vrrpd/lbd_watch.hpp"
#include "vrrpd/track.hpp"

namespace vrrp {

/// Whether one answer to {"cmd":"health"} counts as a success; `reason` says why not (for logs):
/// "lbd unreachable: ...", "lbd stopping", "lbd degraded: ...", "lbd answered an error: ...".
/// Pure.
bool lbd_health_verdict(const lb::Result<nlohmann::json>& reply, bool degraded_is_down,
                        std::string& reason);

class TrackLbd {
 public:
  /// `on_flip(up, reason)` runs on every up/down flip. Single-threaded on `ctx`.
  /// `roles_unknown` runs after an answer that says lbd knows no VRRP role (it restarted since
  /// the last transition), so the daemon can send the current states again.
  TrackLbd(lb::asio::io_context& ctx, std::string socket, TrackLbdConfig config,
           std::function<void(bool up, const std::string& reason)> on_flip,
           std::function<void()> roles_unknown = {}, std::function<void(bool ready)> on_ready = {});
  ~TrackLbd();
  void start();
  bool up() const { return state_.up(); }
  const TrackLbdConfig& config() const { return config_; }
  const std::string& socket() const { return socket_; }
  /// Why it is down (the last failure), "" while up.
  const std::string& reason() const { return reason_; }
  /// lbd's readiness from the watch stream (false while no stream is open): the preempt gate.
  bool ready() const { return watch_.ready(); }

 private:
  void schedule(std::chrono::milliseconds after);
  void check();
  void down_now(const std::string& reason);

  lb::asio::io_context& ctx_;
  std::string socket_;
  TrackLbdConfig config_;
  std::function<void(bool, const std::string&)> on_flip_;
  std::function<void()> roles_unknown_;
  std::function<void(bool)> on_ready_;
  RiseFall state_;
  std::string reason_;
  lb::asio::steady_timer timer_;
  LbdWatch watch_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vrrp
