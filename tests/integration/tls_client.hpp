// A blocking TLS test client on plain OpenSSL (5 s socket timeouts): handshake with chosen SNI,
// versions, ALPN, signature algorithms, client certificate and session, then optional HTTP
// requests on the same connection. Reports what the server presented and negotiated.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net/ip_address.hpp"

struct ssl_session_st;

namespace lbtest {

/// A TLS session to resume (shared, freed with its last holder).
using TlsSession = std::shared_ptr<ssl_session_st>;

struct TlsClientOptions {
  std::string sni;      // empty = no SNI
  std::string ca_file;  // verify the server against it; empty = no verification
  int min_version = 0;  // TLS1_x_VERSION, 0 = library default
  int max_version = 0;
  bool allow_legacy = false;        // security level 0 so that TLS 1.0/1.1 can be offered at all
  std::vector<std::string> alpn;    // protocols to offer
  std::string sigalgs;              // e.g. "ECDSA+SHA256"; empty = default
  std::string cert_file, key_file;  // client certificate (mTLS)
  TlsSession session;               // resume this session
  std::function<void(std::size_t)> before_request;  // called with the index before each request
  /// Writes the ClientHello in pieces of these sizes, then the rest, `hello_pause` apart (a
  /// slow client, or one whose hello crosses several segments). Empty = in one write.
  std::vector<std::size_t> hello_pieces;
  std::chrono::milliseconds hello_pause{0};
};

struct TlsResult {
  bool handshake_ok = false;
  std::string error;     // handshake error text
  std::string peer_cn;   // the server certificate's subject CN
  std::string peer_key;  // "EC" or "RSA"
  std::string version;   // "TLSv1.3"
  std::string alpn;      // selected protocol or ""
  bool resumed = false;
  TlsSession session;  // the session after the exchange (tickets arrive with the data)
  std::vector<std::string> responses;  // raw responses, one per request
};

/// Connects, handshakes, then for each request writes it and reads one response (a response
/// ends with its Content-Length body; requests should carry Content-Length-framed answers).
TlsResult tls_exchange(const lb::Endpoint& endpoint, const TlsClientOptions& options,
                       const std::vector<std::string>& requests = {});

/// OpenSSL's ClientHello for `sni` (nullptr = none): the first flight of a client, as raw bytes.
std::string raw_client_hello(const char* sni);

}  // namespace lbtest
