// The admin HTTP listener on lbd's control thread: GET /metrics (Prometheus text), /status (the
// self-contained status page) and /status.json. Clients are checked against the allow-list,
// then basic authentication when users are configured. Bounded: connection count, request size,
// a timeout per request. No Beast in this header.
#pragma once

#include <functional>
#include <memory>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "lbd/admin/admin_config.hpp"
#include "lbd/admin/metrics.hpp"

namespace lbd::admin {

class AdminServer {
 public:
  /// Builds the current view (called on the control thread for every /metrics or /status.json).
  using ViewSource = std::function<AdminView()>;

  /// Binds `config.listen` and starts accepting on `io` (the control thread's context). Fails
  /// with the bind error.
  static lb::Result<std::unique_ptr<AdminServer>> start(lb::asio::io_context& io,
                                                        AdminConfig config, ViewSource view);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Stops accepting and closes open admin connections (control thread).
  void stop();
  lb::Endpoint bound() const { return bound_; }
  const AdminConfig& config() const { return config_; }
  /// Requests refused with 429 by the login throttle so far (control thread).
  std::uint64_t logins_throttled() const;

  struct Impl;

 private:
  AdminServer() = default;
  std::shared_ptr<Impl> impl_;
  AdminConfig config_;
  lb::Endpoint bound_;
};

/// The status page (lbd/admin/status_page.html, embedded at build time).
extern const std::string_view kStatusPageHtml;

}  // namespace lbd::admin
