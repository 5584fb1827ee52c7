// TLS on upstream (backend) connections of pools with [pool.tls]: the handshake of a fresh
// connection, the idle-reuse probe and the context a connection was made with. No Asio SSL here
// (see upstream_tls_stream.hpp for the stream itself).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

class UpstreamTlsContext;

/// Starts TLS on `conn`, freshly connected to `server`: SNI and name checks per `ctx`, the
/// server's cached session offered, the handshake bounded by `timeout`. With `offer_h2`, ALPN
/// offers only "h2" (the context's default offers "http/1.1"). Returns nullopt on
/// success (conn.tls set), else the failure reason ("timeout", "certificate verify failed:
/// hostname mismatch", ...), counted on `ctx` (conn.tls then null). Worker thread of `conn`.
lb::awaitable<std::optional<std::string>> start_upstream_tls(
    UpstreamConnection& conn, std::shared_ptr<const UpstreamTlsContext> ctx,
    const lb::Endpoint& server, std::chrono::nanoseconds timeout, bool offer_h2 = false);

/// The context `conn` speaks TLS with, or nullptr for a plain connection.
const UpstreamTlsContext* tls_context_of(const UpstreamConnection& conn);

/// Whether an idle pooled connection can carry another request: open, not closed by the peer,
/// and nothing unexpected pending. For TLS, pending bytes are handed to OpenSSL without
/// blocking: records that carry no data (TLS 1.3 session tickets sent after the handshake, key
/// updates) keep the connection; application data, an alert or close_notify do not.
bool upstream_connection_reusable(UpstreamConnection& conn);

}  // namespace lbd::proxy
