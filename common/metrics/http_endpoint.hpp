// A minimal HTTP endpoint that serves GET /metrics from a render callback (Prometheus scrape
// target for a process without an admin listener, e.g. vrrpd). Bounded: a few connections, a
// request-size limit and a timeout per request. Beast stays in the .cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "common/net/ip_address.hpp"

namespace lb::metrics {

class HttpEndpoint {
 public:
  /// Produces the /metrics body (Prometheus text); called on `io`'s thread per scrape.
  using Render = std::function<std::string()>;

  /// Binds `listen` and serves on `io`. Fails with the bind error.
  static Result<std::unique_ptr<HttpEndpoint>> start(asio::io_context& io, const Endpoint& listen,
                                                     Render render);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  /// Stops accepting and closes open connections (io's thread).
  void stop();
  Endpoint bound() const { return bound_; }

  struct Impl;

 private:
  HttpEndpoint() = default;
  std::shared_ptr<Impl> impl_;
  Endpoint bound_;
};

}  // namespace lb::metrics
