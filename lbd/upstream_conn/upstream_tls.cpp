// TLS on upstream connections (see upstream_tls.hpp): handshake with deadline and reasons, the
// idle probe that lets TLS 1.3 session tickets through, and UpstreamConnection's TLS plumbing.
#include "lbd/upstream_conn/upstream_tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cerrno>

#include "lbd/session/deadline.hpp"
#include "lbd/tls/tls_context.hpp"
#include "lbd/upstream_conn/upstream_tls_stream.hpp"

namespace lbd::proxy {

void UpstreamTlsDelete::operator()(UpstreamTls* tls) const noexcept { delete tls; }

void rebind_upstream_tls(UpstreamTls& tls, lb::tcp::socket& socket) noexcept {
  tls.stream.next_layer().rebind(socket);
}

const UpstreamTlsContext* tls_context_of(const UpstreamConnection& conn) {
  return conn.tls ? conn.tls->context.get() : nullptr;
}

lb::awaitable<std::optional<std::string>> start_upstream_tls(
    UpstreamConnection& conn, std::shared_ptr<const UpstreamTlsContext> ctx,
    const lb::Endpoint& server, std::chrono::nanoseconds timeout, bool offer_h2) {
  lb::error_code ec;
  // The idle probe reads through OpenSSL synchronously and must never block.
  conn.socket.non_blocking(true, ec);
  conn.tls.reset(new UpstreamTls(conn.socket, ctx));
  SSL* ssl = conn.tls->stream.native_handle();
  ctx->prepare(ssl, server);
  if (offer_h2) {
    static constexpr unsigned char kH2[] = {2, 'h', '2'};
    SSL_set_alpn_protos(ssl, kH2, sizeof kH2);
  }
  bool expired = false;
  {
    SocketDeadline deadline(conn.socket, timeout);
    co_await conn.tls->stream.async_handshake(lb::asio::ssl::stream_base::client,
                                              lb::asio::redirect_error(lb::use_awaitable, ec));
    expired = deadline.expired();
  }
  if (!ec && !expired) {
    ctx->count_success(SSL_session_reused(ssl) == 1);
    co_return std::nullopt;
  }
  std::string reason = handshake_error_reason(ec, expired);
  if (const long v = SSL_get_verify_result(ssl); v != X509_V_OK && !expired) {
    // "certificate verify failed" alone does not say whether the CA or the name was wrong.
    reason = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
  }
  ctx->count_error(reason);
  conn.tls.reset();
  co_return reason;
}

bool upstream_connection_reusable(UpstreamConnection& conn) {
  if (!conn.socket.is_open()) return false;
  char byte;
  const auto n = ::recv(conn.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;  // the backend closed the idle connection
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  // Bytes are pending. On a plain connection that is an unsolicited response.
  if (!conn.tls) return false;
  // TLS: let OpenSSL consume them without blocking. A would-block read means they were
  // records without data (a session ticket that came after the response, a key update).
  lb::error_code ec;
  const auto got = conn.tls->stream.read_some(lb::asio::buffer(&byte, 1), ec);
  return got == 0 && ec == lb::asio::error::would_block;
}

}  // namespace lbd::proxy
