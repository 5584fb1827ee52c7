// lbd's configuration model and its loader from TOML. The model is plain data; `load_config`
// validates everything (names unique, references resolved, ranges) and collects every error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config/diagnostics.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/admin/admin_config.hpp"
#include "lbd/balance/options.hpp"
#include "lbd/forward/forward_options.hpp"
#include "lbd/http/forward_headers.hpp"
#include "lbd/replication/replication_config.hpp"
#include "lbd/sticky/persistence_options.hpp"
#include "lbd/tls/tls_config.hpp"
#include "lbd/tls/upstream_tls_config.hpp"
#include "lbd/upstream/health_config.hpp"

namespace lbd {

using std::chrono::nanoseconds;

/// tcp and http: lbd proxies through its sockets. forward: the kernel forwards (nftables DNAT
/// through a slot table, conntrack replicated to the peer); lbd opens no socket for it.
enum class ListenerMode { tcp, http, forward };

/// "tcp", "http" or "forward".
const char* listener_mode_name(ListenerMode mode);
enum class ProxyProtocolSend { off, v1, v2 };

struct TimeoutsConfig {
  nanoseconds connect = std::chrono::seconds(5);
  nanoseconds client_idle = std::chrono::seconds(60);
  nanoseconds server_idle = std::chrono::seconds(60);
  nanoseconds request_header = std::chrono::seconds(10);
  /// L7: a whole request body must arrive within this, counted from the end of its header
  /// (client_idle still bounds each pause); else 408. Ends slow-POST attacks.
  nanoseconds request_body = std::chrono::seconds(120);
  nanoseconds keep_alive = std::chrono::seconds(30);
  nanoseconds server_response = std::chrono::seconds(60);
};

struct LimitsConfig {
  std::uint32_t max_connections = 20000;
  std::uint64_t max_header_size = 16 * 1024;
  std::uint64_t max_body_size = 0;  // 0 = unlimited
  /// HTTP/2: streams one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
  std::uint32_t max_concurrent_streams = 100;
};

struct ServerConfig {
  std::string name;
  lb::Endpoint address;
  std::uint32_t weight = 1;
  std::uint32_t max_connections = 0;  // 0 = unlimited
  bool backup = false;
  ServerHealthConfig health;  // checks (pool's + overrides), slow_start, admin state
};

/// What lbd speaks to a pool's servers (mode = "http" listeners).
enum class UpstreamProtocol : std::uint8_t {
  http1,  // HTTP/1.1, pooled keep-alive connections
  h2,     // HTTP/2: TLS with ALPN h2 under [pool.tls], else h2c with prior knowledge
};

struct PoolConfig {
  std::string name;
  UpstreamProtocol protocol = UpstreamProtocol::http1;
  BalanceOptions balance;
  std::uint32_t connect_retries = 2;
  ProxyProtocolSend send_proxy_protocol = ProxyProtocolSend::off;
  std::uint32_t upstream_keepalive = 64;  // idle pooled connections per worker and server
  PoolHealthConfig health;                // [pool.health] and [pool.outlier]
  PersistenceOptions persistence;         // [pool.persistence]
  /// [pool.tls]: TLS to the servers (mode = "http" listeners only); absent or enabled = false
  /// = plain TCP.
  std::optional<proxy::UpstreamTlsConfig> tls;
  std::vector<ServerConfig> servers;
};

enum class MatchKind { exact, prefix, regex, wildcard, present };

struct StringMatch {
  MatchKind kind = MatchKind::exact;
  std::string value;  // pattern, prefix, exact text; empty for `present`
};

struct HeaderMatch {
  std::string name;
  StringMatch match;
};

/// A routing rule: every condition that is set must hold. Evaluated in config order.
struct RouteConfig {
  std::string pool;
  std::optional<StringMatch> host;
  std::optional<StringMatch> path;
  std::vector<HeaderMatch> headers;
  std::vector<HeaderMatch> cookies;
  std::vector<std::string> methods;
};

/// Pass-through routing on a tcp listener: a ClientHello whose server name matches one of
/// `server_names` (exact, or "*.example.com" for one label) goes to `pool`, bytes untouched.
struct SniRouteConfig {
  std::vector<std::string> server_names;  // lowercase
  std::string pool;
};

struct ListenerConfig {
  std::string name;
  std::vector<lb::Endpoint> binds;
  ListenerMode mode = ListenerMode::http;
  std::string default_pool;
  std::uint32_t max_connections = 0;  // 0 = only the global limit
  bool accept_proxy_protocol = false;
  /// With accept_proxy_protocol: the sources whose PROXY header is read (required, no default).
  /// A connection from any other source is served as a plain one, without reading a header
  /// (as HAProxy's `tcp-request connection expect-proxy layer4 if { src ... }`).
  std::vector<lb::Cidr> proxy_protocol_from;
  /// Whether a connection from `peer` must start with a PROXY header.
  bool expects_proxy_header(const lb::IpAddress& peer) const {
    if (!accept_proxy_protocol) return false;
    for (const auto& c : proxy_protocol_from) {
      if (c.contains(peer)) return true;
    }
    return false;
  }
  /// mode = "http" without TLS: a client that opens with the HTTP/2 connection preface speaks
  /// HTTP/2 (h2c with prior knowledge, RFC 9113 §3.3); others HTTP/1.1 as usual.
  bool h2c = false;
  /// mode = "http": the forwarding headers lbd writes (proxy::ForwardHeader bits, all by
  /// default); those not chosen pass through as the client sent them.
  unsigned forward_headers = proxy::kAllForwardHeaders;
  std::vector<RouteConfig> routes;
  /// [[listener.sni_route]] (mode = "tcp" only): route TLS by the ClientHello's server name.
  std::vector<SniRouteConfig> sni_routes;
  /// [listener.tls]: terminate TLS (mode = "http" only); absent = plain.
  std::optional<proxy::ListenerTlsConfig> tls;
  /// mode = "forward": slot table size, return path (SNAT address or gateway mode), and what
  /// happens to the flows of a backend that goes down.
  forward::ForwardOptions forward;
};

struct GlobalConfig {
  unsigned workers = 0;  // 0 = "auto" (one per CPU)
  std::string log_level = "info";
  nanoseconds drain_timeout = std::chrono::seconds(30);
  bool splice = true;  // L4 relays use splice(2); false = read/write copy
  /// Unix socket of the control protocol (lbctl, vrrpd); "" = none. Read at start only.
  std::string control_socket;
  /// How often the TLS files (certificates, keys, CA, ticket keys) are checked for changes; a
  /// change reloads the config. 0 = only on SIGHUP.
  nanoseconds tls_watch_interval = std::chrono::seconds(2);
};

struct Config {
  std::string source_file;
  GlobalConfig global;
  TimeoutsConfig timeouts;
  LimitsConfig limits;
  std::vector<ListenerConfig> listeners;
  std::vector<PoolConfig> pools;
  /// [replication]: absent on a single node.
  std::optional<ReplicationConfig> replication;
  /// [admin]: the admin HTTP listener (/metrics, /status); absent = no listener.
  std::optional<AdminConfig> admin;
  /// [access_log]: off unless a path is set.
  AccessLogConfig access_log;

  const PoolConfig* find_pool(std::string_view name) const;
};

/// Reads and validates `path`. Every problem lands in `diags`; the result is meaningful only when
/// `diags` stayed empty.
Config load_config(const std::string& path, lb::config::Diagnostics& diags);
/// Same, from text (tests); `name` stands in for the file name in diagnostics.
Config load_config_from_string(std::string_view text, const std::string& name,
                               lb::config::Diagnostics& diags);

}  // namespace lbd
