// The plain-TCP instance of the L7 session (the template is in http_session_impl.hpp) and the
// per-worker HTTP state accessors.
#include "lbd/proxy/http_session_impl.hpp"

namespace lbd::proxy {

const bool kHttpSessionAvailable = true;

UpstreamPool& http_upstream_pool(WorkerContext& worker) {
  return http_detail::worker_state(worker).upstreams;
}

lb::awaitable<void> serve_http(WorkerContext& worker, ClientConnection client) {
  http_detail::HttpSession<lb::tcp::socket> session(worker, std::move(client));
  co_await session.run();
}

}  // namespace lbd::proxy
