// The [listener.tls] configuration of a TLS-terminating listener: plain data, read by
// lbd/config.cpp through `read_listener_tls`; the OpenSSL contexts are built from it once per
// config load (lbd/tls/tls_context.hpp), so a bad certificate fails the load or the reload.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace lb::config {
class TableReader;
}

namespace lbd::proxy {

class TlsContext;

enum class TlsVersion { v1_2, v1_3 };
enum class VerifyClient { none, optional, required };

/// One [[listener.tls.certificate]]: a PEM chain (leaf first) and its PEM private key.
struct TlsCertificateConfig {
  std::string cert_file;
  std::string key_file;
  /// DER OCSP response for this certificate, stapled when the client asks (RFC 6066 §8) and the
  /// file exists; "" = no stapling. A file that appears or changes later is picked up by reload.
  std::string ocsp_file;
};

struct ListenerTlsConfig {
  /// The first certificate (and the others with exactly its names) is the default, served when
  /// the client sends no SNI or an unknown name.
  std::vector<TlsCertificateConfig> certificates;
  TlsVersion min_version = TlsVersion::v1_2;
  /// mTLS: CA bundle (PEM) that client certificates must chain to; empty = no client certs.
  std::string client_ca;
  VerifyClient verify_client = VerifyClient::none;
  /// PEM CRLs (one or more, concatenated) of the client CAs: a revoked client certificate is
  /// refused at the handshake; empty = no revocation check. Reloaded with the config and when
  /// the file changes.
  std::string crl_file;
  /// Request header that carries the verified client subject to the backend (always removed
  /// from what the client sent).
  std::string client_subject_header = "X-Client-Subject";
  /// Session-ticket keys shared by the two nodes (80-byte keys, base64, one per line; the first
  /// encrypts, all decrypt). Empty = OpenSSL's per-process random keys.
  std::string ticket_key_file;
  /// ALPN protocols offered, in the server's order of preference: "h2" (HTTP/2) and
  /// "http/1.1". A client that offers none of them goes on without ALPN (HTTP/1.1).
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  /// The files above, for the change watcher (control thread).
  std::vector<std::string> watched_files() const;

  /// Built from the fields above by read_listener_tls; shared by every connection accepted under
  /// this config snapshot. Never null in a config that loaded without errors.
  std::shared_ptr<const TlsContext> context;
};

/// Reads the [listener.tls] table `t`, loads every file it names and builds the context. Errors
/// (missing file, bad PEM, key not matching its certificate, ...) go to `t`'s diagnostics with
/// the position of the key that named the file.
ListenerTlsConfig read_listener_tls(lb::config::TableReader& t);

}  // namespace lbd::proxy
