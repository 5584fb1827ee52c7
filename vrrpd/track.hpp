// Tracking: rise/fall counting (pure) and the health-check scripts that feed it. A failing script
// either lowers the priority of the instances that track it by its weight, or (weight 0) puts
// them in Fault.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/asio.hpp"
#include "vrrpd/config.hpp"

namespace vrrp {

/// Counts consecutive results: `rise` successes make a down check up, `fall` failures make an up
/// check down. Starts up (an untested check does not take a node out). Pure.
class RiseFall {
 public:
  RiseFall(int rise, int fall) : rise_(rise), fall_(fall) {}
  /// Records one result; returns true when the state flipped.
  bool record(bool success);
  /// Down at once, whatever `fall` says (the failure is certain, e.g. the process is gone); the
  /// way back up still takes `rise` successes. Returns true when the state flipped.
  bool force_down();
  bool up() const { return up_; }

 private:
  int rise_;
  int fall_;
  bool up_ = true;
  int streak_ = 0;  // consecutive results against the current state
};

/// The priority an instance advertises given its configured priority and the weights of its
/// failing checks: never below 1, and an owner (255) that loses weight is no longer the owner.
std::uint8_t effective_priority(std::uint8_t configured, int failing_weight);

/// Reaps the children registered with watch() (the guard) on SIGCHLD and reports their exit
/// statuses. Scripts are not its business: lb::run_process reaps them. Single-threaded.
class ChildReaper {
 public:
  explicit ChildReaper(lb::asio::io_context& ctx);
  /// `done(status)` gets the waitpid status of `pid` once it exits.
  void watch(pid_t pid, std::function<void(int status)> done);
  void forget(pid_t pid) { watched_.erase(pid); }

 private:
  void arm();
  lb::asio::signal_set signals_;
  std::map<pid_t, std::function<void(int)>> watched_;
};

/// Bytes of a track script's output kept for the failure log line.
inline constexpr std::size_t kTrackOutputBytes = 512;

/// Runs one check script every interval through /bin/sh -c (lb::run_process: own process
/// group, default signals, SCHED_OTHER, no capabilities); a non-zero exit or a timeout is a
/// failure (the script's whole process group is killed at the timeout). Calls `on_flip(up)`
/// when the rise/fall state changes. Never more than one run at a time.
class TrackScript {
 public:
  TrackScript(lb::asio::io_context& ctx, TrackScriptConfig config,
              std::function<void(bool up)> on_flip);
  ~TrackScript();
  void start();
  bool up() const { return state_.up(); }
  const TrackScriptConfig& config() const { return config_; }

 private:
  void run_once();
  lb::awaitable<void> run_once_async(std::shared_ptr<bool> alive, std::shared_ptr<pid_t> running);
  void finished(bool success);

  lb::asio::io_context& ctx_;
  TrackScriptConfig config_;
  std::function<void(bool)> on_flip_;
  RiseFall state_;
  lb::asio::steady_timer interval_timer_;
  // The running script's PID until it is reaped, -1 otherwise; shared with the coroutine.
  std::shared_ptr<pid_t> running_ = std::make_shared<pid_t>(-1);
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vrrp
