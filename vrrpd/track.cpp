// Tracking: see track.hpp.
#include "vrrpd/track.hpp"

#include <sys/wait.h>

#include <algorithm>

#include "common/log.hpp"
#include "common/spawn.hpp"

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
    // One SIGCHLD may stand for several exits. Only the watched children are reaped here:
    // scripts are reaped by lb::run_process, which needs their status itself.
    std::vector<std::pair<pid_t, int>> exited;
    for (const auto& [pid, done] : watched_) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) exited.emplace_back(pid, status);
    }
    for (const auto& [pid, status] : exited) {
      auto it = watched_.find(pid);
      if (it == watched_.end()) continue;
      auto done = std::move(it->second);
      watched_.erase(it);
      done(status);
    }
    arm();
  });
}

TrackScript::TrackScript(lb::asio::io_context& ctx, TrackScriptConfig config,
                         std::function<void(bool)> on_flip)
    : ctx_(ctx),
      config_(std::move(config)),
      on_flip_(std::move(on_flip)),
      state_(config_.rise, config_.fall),
      interval_timer_(ctx) {}

TrackScript::~TrackScript() {
  *alive_ = false;
  interval_timer_.cancel();
  // Not reaped yet (run_process reaps it once it exits, which this makes immediate).
  if (*running_ > 0) lb::kill_group(*running_);
}

void TrackScript::start() {
  interval_timer_.expires_after(std::chrono::milliseconds(0));
  interval_timer_.async_wait([this, alive = alive_](const lb::error_code& ec) {
    if (ec || !*alive) return;
    run_once();
  });
}

lb::awaitable<void> TrackScript::run_once_async(std::shared_ptr<bool> alive,
                                                std::shared_ptr<pid_t> running) {
  const auto name = config_.name;
  const auto timeout = config_.timeout;
  // No temporary with a destructor that matters in the co_await expression: g++ 12 may destroy
  // such temporaries twice (a lambda holding a copy of `running` dropped one reference too many,
  // a use after free). The frame's `running` outlives the call, so the callback takes a plain
  // pointer, and the options are a named local.
  auto options = lb::shell_command(config_.command);
  pid_t* const slot = running.get();
  auto r = co_await lb::run_process(std::move(options), timeout, kTrackOutputBytes,
                                    [slot](pid_t pid) { *slot = pid; });
  *running = -1;
  if (!*alive) co_return;
  auto log = lb::log::get("vrrpd.track");
  if (!r) {
    log->error("{}: {}", name, r.error().message);
    finished(false);
    co_return;
  }
  if (!r->success()) {
    // The first line of what the script said explains the failure better than its status.
    const auto line = r->output.substr(0, r->output.find('\n'));
    if (r->timed_out) {
      log->warn("{}: {} (process group killed)", name, lb::describe(*r, timeout));
    } else {
      log->debug("{}: failed: {}{}{}", name, lb::describe(*r, timeout), line.empty() ? "" : ": ",
                 line);
    }
  }
  finished(r->success());
}

void TrackScript::run_once() {
  lb::asio::co_spawn(ctx_, run_once_async(alive_, running_),
                     lb::log_exceptions(lb::log::get("vrrpd.track"), "track script"));
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
