// The TLS instance of the L7 session: the same template as http_session.cpp over an Asio
// ssl::stream, in its own translation unit so the two Beast-heavy builds run in parallel.
#include "common/asio_ssl.hpp"
#include "lbd/http/http_session_impl.hpp"

namespace lbd::proxy {

lb::awaitable<void> serve_https(WorkerContext& worker, ClientConnection client) {
  // Keep the context alive with the connection's own config snapshot (the session holds it).
  const auto context = client.info.listener->tls->context;
  http_detail::HttpSession<lb::asio::ssl::stream<lb::tcp::socket>> session(
      worker, std::move(client), context->asio_context());
  co_await session.run();
}

}  // namespace lbd::proxy
