// The plain-TCP instance of the L7 session (the template is in http_session_impl.hpp) and the
// per-worker HTTP state accessors.
#include "lbd/http/http_session_impl.hpp"

namespace lbd::proxy {

UpstreamPool& http_upstream_pool(WorkerContext& worker) {
  return http_detail::worker_state(worker).upstreams;
}

lb::awaitable<void> serve_http(WorkerContext& worker, ClientConnection client) {
  http_detail::HttpSession<lb::tcp::socket> session(worker, std::move(client));
  co_await session.run();
}

namespace http_detail {

namespace {
lb::awaitable<void> serve_resumed(WorkerContext& worker, std::unique_ptr<ParkedClient> parked) {
  HttpSession<lb::tcp::socket> session(worker, std::move(parked));
  co_await session.run();
}
}  // namespace

void resume_parked(WorkerContext& worker, std::unique_ptr<ParkedClient> parked, error_code ec) {
  // Closed, failed, timed out (keep_alive) or drained: dropping it closes the socket and releases
  // its connection slot and connection-table entry.
  if (ec) return;
  lb::asio::co_spawn(worker.io(), serve_resumed(worker, std::move(parked)),
                     lb::log_exceptions(worker.logger(), "session"));
}

}  // namespace http_detail
}  // namespace lbd::proxy
