// Tracking: see track.hpp.
#include "vrrpd/track.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>

#include "common/log.hpp"

extern char** environ;

namespace vrrp {

bool RiseFall::record(bool success) {
  if (success == up_) {
    streak_ = 0;
    return false;
  }
  if (++streak_ < (up_ ? fall_ : rise_)) return false;
  up_ = success;
  streak_ = 0;
  return true;
}

bool RiseFall::force_down() {
  streak_ = 0;
  if (!up_) return false;
  up_ = false;
  return true;
}

std::uint8_t effective_priority(std::uint8_t configured, int failing_weight) {
  if (failing_weight <= 0) return configured;
  const int base = std::min<int>(configured, 254);
  return static_cast<std::uint8_t>(std::max(1, base - failing_weight));
}

ChildReaper::ChildReaper(lb::asio::io_context& ctx) : signals_(ctx, SIGCHLD) { arm(); }

void ChildReaper::watch(pid_t pid, std::function<void(int)> done) {
  watched_[pid] = std::move(done);
}

void ChildReaper::arm() {
  signals_.async_wait([this](const lb::error_code& ec, int) {
    if (ec) return;
    // One SIGCHLD may stand for several exits: reap until nothing is left.
    for (int i = 0; i < 1024; ++i) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (auto it = watched_.find(pid); it != watched_.end()) {
        auto done = std::move(it->second);
        watched_.erase(it);
        done(status);
      }
    }
    arm();
  });
}

TrackScript::TrackScript(lb::asio::io_context& ctx, ChildReaper& reaper, TrackScriptConfig config,
                         std::function<void(bool)> on_flip)
    : ctx_(ctx),
      reaper_(reaper),
      config_(std::move(config)),
      on_flip_(std::move(on_flip)),
      state_(config_.rise, config_.fall),
      interval_timer_(ctx),
      timeout_timer_(ctx) {}

TrackScript::~TrackScript() {
  *alive_ = false;
  interval_timer_.cancel();
  timeout_timer_.cancel();
  if (running_ > 0) {
    reaper_.forget(running_);
    ::kill(running_, SIGKILL);  // our own child, not yet reaped
  }
}

void TrackScript::start() {
  interval_timer_.expires_after(std::chrono::milliseconds(0));
  interval_timer_.async_wait([this, alive = alive_](const lb::error_code& ec) {
    if (ec || !*alive) return;
    run_once();
  });
}

void TrackScript::run_once() {
  const char* argv[] = {"/bin/sh", "-c", config_.command.c_str(), nullptr};
  posix_spawnattr_t attr;
  ::posix_spawnattr_init(&attr);
  sigset_t defaults;
  ::sigemptyset(&defaults);
  ::sigaddset(&defaults, SIGCHLD);
  ::posix_spawnattr_setsigdefault(&attr, &defaults);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int err =
      ::posix_spawn(&pid, "/bin/sh", nullptr, &attr, const_cast<char* const*>(argv), environ);
  ::posix_spawnattr_destroy(&attr);
  if (err != 0) {
    lb::log::get("vrrpd.track")->error("{}: spawn failed: {}", config_.name, std::strerror(err));
    finished(false);
    return;
  }
  running_ = pid;
  reaper_.watch(pid, [this, alive = alive_](int status) {
    if (!*alive) return;
    running_ = -1;
    timeout_timer_.cancel();
    finished(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
  timeout_timer_.expires_after(config_.timeout);
  timeout_timer_.async_wait([this, alive = alive_, pid](const lb::error_code& ec) {
    if (ec || !*alive || running_ != pid) return;
    lb::log::get("vrrpd.track")
        ->warn("{}: timed out after {}ms", config_.name, config_.timeout.count());
    ::kill(pid, SIGKILL);  // reaped (and counted as a failure) through the reaper
  });
}

void TrackScript::finished(bool success) {
  if (state_.record(success)) {
    lb::log::get("vrrpd.track")
        ->info("{}: check {}: weight={}", config_.name, success ? "up" : "down", config_.weight);
    on_flip_(success);
  }
  interval_timer_.expires_after(config_.interval);
  interval_timer_.async_wait([this, alive = alive_](const lb::error_code& ec) {
    if (ec || !*alive) return;
    run_once();
  });
}

}  // namespace vrrp
