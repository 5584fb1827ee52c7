// The OpenSSL client context of one pool with [pool.tls], built from its UpstreamTlsConfig at
// config load (a reload builds a new one): verification against the pool's CA, minimum version,
// optional client certificate, ALPN http/1.1, a session cache per server, and the handshake
// counters of the pool (by failure reason, full and resumed).
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/net/ip_address.hpp"
#include "lbd/tls/upstream_tls_config.hpp"

struct ssl_st;

namespace boost::asio::ssl {
class context;
}

namespace lbd::proxy {

class UpstreamTlsContext {
 public:
  /// A problem of the config; `key` names the [pool.tls] key whose value is wrong.
  struct BuildError {
    std::string key;
    std::string message;
  };

  /// Loads the files of `config` and builds the client context (control thread; reads files).
  /// Every problem is returned; none is fatal to the process.
  static std::expected<std::shared_ptr<const UpstreamTlsContext>, std::vector<BuildError>> build(
      const UpstreamTlsConfig& config);

  ~UpstreamTlsContext();
  UpstreamTlsContext(const UpstreamTlsContext&) = delete;
  UpstreamTlsContext& operator=(const UpstreamTlsContext&) = delete;

  /// The context as Asio wants it, to create a connection's ssl::stream. Thread-safe.
  boost::asio::ssl::context& asio_context() const;
  /// Sets up a new connection to `server` before its handshake: SNI, the name (or the server's
  /// IP address) the certificate must carry, and the server's cached session for resumption.
  /// Any thread (the session cache takes a mutex).
  void prepare(ssl_st* ssl, const lb::Endpoint& server) const;

  /// Counts a failed handshake by reason ("certificate verify failed", "timeout", ...). Any
  /// thread; takes a mutex, which only failures pay.
  void count_error(const std::string& reason) const;
  /// Counts a completed handshake (resumed or full). Any thread.
  void count_success(bool resumed) const;
  /// Failed handshakes by reason since this context was built (a reload starts over).
  std::map<std::string, std::uint64_t> handshake_errors() const;
  std::uint64_t full_handshakes() const { return full_.load(std::memory_order_relaxed); }
  std::uint64_t resumed_handshakes() const { return resumed_.load(std::memory_order_relaxed); }

  const UpstreamTlsConfig& config() const { return config_; }

 private:
  struct Impl;
  explicit UpstreamTlsContext(UpstreamTlsConfig config);

  UpstreamTlsConfig config_;
  std::unique_ptr<Impl> impl_;
  mutable std::atomic<std::uint64_t> full_{0};
  mutable std::atomic<std::uint64_t> resumed_{0};
};

}  // namespace lbd::proxy
