// Tracking the local lbd: see track_lbd.hpp.
#include "vrrpd/track_lbd.hpp"

#include <fmt/format.h>

#include "common/control/server.hpp"
#include "common/log.hpp"

namespace vrrp {

bool lbd_health_verdict(const lb::Result<nlohmann::json>& reply, bool degraded_is_down,
                        std::string& reason) {
  if (!reply) {
    reason = "lbd unreachable: " + reply.error().message;
    return false;
  }
  const auto& j = *reply;
  if (!j.is_object() || !j.value("ok", false)) {
    reason = "lbd answered an error: " +
             (j.is_object() ? j.value("error", std::string("no error text")) : j.dump());
    return false;
  }
  const auto status = j.value("status", std::string());
  std::string why;
  if (auto it = j.find("reasons"); it != j.end() && it->is_array()) {
    for (const auto& r : *it) {
      if (r.is_string()) why += (why.empty() ? "" : "; ") + r.get<std::string>();
    }
  }
  if (status == "ok") {
    reason.clear();
    return true;
  }
  if (status == "degraded") {
    reason = "lbd degraded: " + why;
    return !degraded_is_down;
  }
  if (status == "stopping") {
    reason = "lbd stopping";
    return false;
  }
  reason = fmt::format("lbd health \"{}\" not understood", status);
  return false;
}

TrackLbd::TrackLbd(lb::asio::io_context& ctx, std::string socket, TrackLbdConfig config,
                   std::function<void(bool, const std::string&)> on_flip,
                   std::function<void()> roles_unknown, std::function<void(bool)> on_ready)
    : ctx_(ctx),
      socket_(std::move(socket)),
      config_(config),
      on_flip_(std::move(on_flip)),
      roles_unknown_(std::move(roles_unknown)),
      on_ready_(std::move(on_ready)),
      state_(config.rise, config.fall),
      timer_(ctx),
      watch_(
          ctx, socket_, [this](const std::string& why) { down_now("lbd gone: " + why); },
          [this](bool ready, const std::string&) {
            if (on_ready_) on_ready_(ready);
          }) {}

TrackLbd::~TrackLbd() {
  *alive_ = false;
  timer_.cancel();
}

void TrackLbd::start() {
  watch_.start();
  schedule(std::chrono::milliseconds(0));
}

void TrackLbd::down_now(const std::string& reason) {
  reason_ = reason;
  if (!state_.force_down()) return;
  lb::log::get("vrrpd.track")
      ->info("lbd: check down: socket={} weight={} reason={}", socket_, config_.weight, reason_);
  on_flip_(false, reason_);
}

void TrackLbd::schedule(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([this, alive = alive_](const lb::error_code& ec) {
    if (ec || !*alive) return;
    check();
  });
}

void TrackLbd::check() {
  // One request at a time: the next is scheduled from this one's completion, and the timeout
  // (<= interval, checked by the config) bounds it.
  lb::control::request_async(
      ctx_, socket_, {{"cmd", "health"}}, config_.timeout,
      [this, alive = alive_](lb::Result<nlohmann::json> reply) {
        if (!*alive) return;
        std::string why;
        const bool ok = lbd_health_verdict(reply, config_.degraded_is_down, why);
        if (!ok) {
          if (why != reason_) lb::log::get("vrrpd.track")->debug("lbd: check failed: {}", why);
          reason_ = why;
        }
        if (state_.record(ok)) {
          if (ok) reason_.clear();
          lb::log::get("vrrpd.track")
              ->info("lbd: check {}: socket={} weight={}{}{}", ok ? "up" : "down", socket_,
                     config_.weight, ok ? "" : " reason=", ok ? "" : reason_);
          on_flip_(ok, reason_);
        }
        if (reply && reply->is_object() && !reply->value("roles_known", true) && roles_unknown_) {
          roles_unknown_();
        }
        schedule(config_.interval);
      });
}

}  // namespace vrrp
