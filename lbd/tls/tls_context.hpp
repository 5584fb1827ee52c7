// The OpenSSL server contexts of one TLS listener, built from its ListenerTlsConfig: one SSL_CTX
// per set of names (RSA and ECDSA certificates for the same names share one), picked per
// connection by SNI (exact, then `*.one-label` wildcard, else the default), plus the shared
// settings (minimum version, ALPN http/1.1, client verification, session-ticket keys).
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "lbd/tls/tls_config.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct x509_st;

namespace boost::asio::ssl {
class context;
}

namespace lbd::proxy {

/// A 80-byte session-ticket key as in HAProxy's tls-ticket-keys files: name, AES-256, HMAC-SHA256.
struct TicketKey {
  unsigned char name[16];
  unsigned char aes_key[32];
  unsigned char hmac_key[32];
};

/// Parses a ticket-key file's text: one base64 80-byte key per line (blank lines and `#` comments
/// skipped). Pure. Error text says which line is wrong; at least one key is required.
std::expected<std::vector<TicketKey>, std::string> parse_ticket_keys(std::string_view text);

class TlsContext {
 public:
  /// Which configured item a build error belongs to (for the diagnostic's position).
  struct BuildError {
    int certificate = -1;  // index into ListenerTlsConfig::certificates, or -1
    std::string key;       // the config key whose value is wrong ("cert", "key", "client_ca", ...)
    std::string message;
  };

  /// Loads every file of `config` and builds the contexts (control thread; reads files). All
  /// problems are returned, none is fatal to the process.
  static std::expected<std::shared_ptr<const TlsContext>, std::vector<BuildError>> build(
      const ListenerTlsConfig& config);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// The default context as Asio wants it, to create a connection's ssl::stream; SNI switches the
  /// connection to another context during the handshake. Thread-safe (OpenSSL contexts are
  /// shared read-only after build).
  boost::asio::ssl::context& asio_context() const;
  /// The context for `server_name` (SNI): exact match, then wildcard, then the default.
  ssl_ctx_st* select(std::string_view server_name) const;
  /// The names of the certificates of each context (first = default), for logs and tests.
  std::vector<std::vector<std::string>> names() const;
  /// The stapled OCSP response (DER) for `leaf`, or nullptr (none configured or file absent).
  const std::string* ocsp_response(const x509_st* leaf) const;
  const ListenerTlsConfig& config() const { return config_; }
  const std::vector<TicketKey>& ticket_keys() const { return ticket_keys_; }
  /// The ALPN protocols of the config in wire format (length-prefixed, RFC 7301 §3.1).
  const std::string& alpn_wire() const { return alpn_wire_; }

 private:
  struct Impl;
  explicit TlsContext(ListenerTlsConfig config);

  ListenerTlsConfig config_;
  std::vector<TicketKey> ticket_keys_;
  std::string alpn_wire_;
  std::unique_ptr<Impl> impl_;
};

/// What the session needs to know about a finished handshake (for logs and headers).
struct TlsConnectionInfo {
  std::string version;         // "TLSv1.3"
  std::string cipher;          // "TLS_AES_128_GCM_SHA256"
  std::string alpn;            // "h2", "http/1.1" or empty
  std::string server_name;     // SNI or empty
  std::string client_subject;  // verified client certificate subject (RFC 2253), or empty
};
TlsConnectionInfo connection_info(ssl_st* ssl);

/// Marks the client's close_notify as received, so that the next SSL_shutdown only sends ours
/// and completes at once instead of waiting for the peer's.
void mark_tls_shutdown_sent(ssl_st* ssl);

/// A short, stable reason for a failed handshake (OpenSSL's reason string such as "unsupported
/// protocol", "no shared cipher", "http request", "certificate verify failed"; or "timeout",
/// "eof", "io error").
std::string handshake_error_reason(const boost::system::error_code& ec, bool timed_out);
/// The same for a server handshake on `ssl`: a client certificate refused for revocation says
/// so ("certificate revoked", "unable to get certificate CRL", "CRL has expired", ...).
std::string handshake_error_reason(const boost::system::error_code& ec, bool timed_out,
                                   const ssl_st* ssl);

}  // namespace lbd::proxy
