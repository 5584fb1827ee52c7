// The [pool.tls] configuration: TLS from lbd to a pool's servers. Plain data, read by
// lbd/config.cpp through `read_pool_tls`; the OpenSSL client context is built from it once per
// config load (lbd/tls/upstream_tls_context.hpp), so a bad CA or client key fails the load.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lbd/tls/tls_config.hpp"

namespace lb::config {
class TableReader;
}

namespace lbd::proxy {

class UpstreamTlsContext;

struct UpstreamTlsConfig {
  /// CA bundle (PEM) the servers' certificates must chain to. Required unless `insecure`:
  /// there is deliberately no default (such as the system store).
  std::string ca_file;
  /// Skip certificate and name verification (self-signed backends). Excludes ca_file and
  /// verify_name.
  bool insecure = false;
  /// The DNS name the server certificate must carry. Empty = the certificate must name the
  /// server's IP address (an IP subjectAltName), since servers are configured by address.
  std::string verify_name;
  /// The SNI sent (RFC 6066 §3). Empty = verify_name (none when that is empty too: SNI never
  /// carries an IP address).
  std::string sni;
  TlsVersion min_version = TlsVersion::v1_2;
  /// Client certificate chain (PEM) and key for backends that require mTLS; both or neither.
  std::string cert_file;
  std::string key_file;
  /// Resume TLS sessions per server (tickets or ids) instead of a full handshake per connection.
  bool session_reuse = true;

  /// The SNI actually sent ("" = none).
  const std::string& effective_sni() const { return sni.empty() ? verify_name : sni; }
  /// The files above, for the change watcher (control thread).
  std::vector<std::string> watched_files() const;

  /// Built by read_pool_tls; shared by every connection made under this config snapshot. Never
  /// null in a config that loaded without errors.
  std::shared_ptr<const UpstreamTlsContext> context;
};

/// Reads the [pool.tls] table `t` and builds the client context. Sets `enabled` from the
/// table's `enabled` key (default true); the config is meaningful only when enabled. Errors
/// (no ca_file and not insecure, missing file, bad PEM, key not matching the certificate, ...)
/// go to `t`'s diagnostics with the position of the key that names the problem.
UpstreamTlsConfig read_pool_tls(lb::config::TableReader& t, bool& enabled);

}  // namespace lbd::proxy
