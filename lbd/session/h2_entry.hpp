// The entry points of the HTTP/2 client connection (ALPN "h2" after a TLS handshake, or h2c with
// prior knowledge on a plain listener with `h2c = true`). DECLARED here, below both session
// kinds, and DEFINED by lbd/h2/serve_h2.cpp; the HTTP/1.1 session (lbd/http/) calls them once it
// knows the client speaks HTTP/2. Each stream is routed, balanced, kept to its persisted server
// and forwarded as one HTTP/1.1 request on the worker's pooled backend connections.
#pragma once

#include <string_view>

#include "common/asio.hpp"
#include "common/asio_ssl.hpp"
#include "lbd/session/worker_context.hpp"
#include "lbd/tls/tls_context.hpp"

namespace lbd::h2 {

/// True when the first bytes a plain client sent can be the HTTP/2 connection preface
/// (RFC 9113 §3.4): "PRI" is no HTTP/1.1 method lbd serves.
inline bool starts_like_preface(std::string_view first_bytes) {
  constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (first_bytes.size() < 3) return false;
  const auto n = first_bytes.size() < kPreface.size() ? first_bytes.size() : kPreface.size();
  return first_bytes.substr(0, n) == kPreface.substr(0, n);
}

/// Serves HTTP/2 on the plain `socket` of `client` until the connection ends; `already` holds
/// the bytes read so far (the preface's start). The caller closes the socket afterwards.
lb::awaitable<void> serve_h2c(proxy::WorkerContext& worker, proxy::ClientConnection& client,
                              lb::tcp::socket& socket, std::string_view already);

/// Same on a TLS stream whose handshake selected ALPN "h2"; `tls` describes the handshake.
/// The caller sends close_notify and closes afterwards.
lb::awaitable<void> serve_h2_tls(proxy::WorkerContext& worker, proxy::ClientConnection& client,
                                 lb::asio::ssl::stream<lb::tcp::socket>& stream,
                                 const proxy::TlsConnectionInfo& tls);

}  // namespace lbd::h2
