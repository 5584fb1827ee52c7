// The TLS instance of the L7 session: the same template as http_session.cpp over an Asio
// ssl::stream, in its own translation unit so the two Beast-heavy builds run in parallel.
#include "common/asio_ssl.hpp"
#include "lbd/http/http_session_impl.hpp"
#include "lbd/session/deadline.hpp"
#include "lbd/session/first_record_wait.hpp"

namespace lbd::proxy {

namespace {

/// Waits for the client's first TLS record (its ClientHello) to be wholly queued in the socket,
/// within the request-header timeout, before the TLS stream exists. A TLS stream holds about
/// 90 KiB from its creation (Asio's two 17 KiB engine buffers, the BIO pair's two, OpenSSL's
/// state), so a client that connects and sends nothing, or part of a ClientHello, costs only its
/// socket and this wait (wait_for_first_record). Bytes that are not a TLS record go to the
/// handshake at once, which refuses them as it always did (plain HTTP gets its 400).
/// False when the timeout ended the wait: counted as a handshake timeout, the connection closes.
/// The handshake gets what is left of the same timeout (waited_for_first_bytes).
lb::awaitable<bool> first_bytes(ClientConnection& client) {
  const auto timeout = client.config->timeouts.request_header;
  const auto start = std::chrono::steady_clock::now();
  SocketDeadline deadline(client.socket, timeout);
  const auto ec = co_await wait_for_first_record(client.socket);
  client.waited_for_first_bytes = std::chrono::steady_clock::now() - start;
  if (!ec) co_return true;
  if (deadline.expired()) {
    if (const auto& runtime = client.ticket.listener()) runtime->count_tls_error("timeout");
  }
  co_return false;
}

}  // namespace

lb::awaitable<void> serve_https(WorkerContext& worker, ClientConnection client) {
  if (!co_await first_bytes(client)) co_return;
  // Keep the context alive with the connection's own config snapshot (the session holds it).
  const auto context = client.info.listener->tls->context;
  http_detail::HttpSession<lb::asio::ssl::stream<lb::tcp::socket>> session(
      worker, std::move(client), context->asio_context());
  co_await session.run();
}

}  // namespace lbd::proxy
