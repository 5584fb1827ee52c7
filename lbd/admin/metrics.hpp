// lbd's /metrics body: the plain values the control thread gathers (worker counter sums, pool
// snapshots and health managers, stick tables, replication, reloads, access log) and their
// rendering as Prometheus text. Pure code: the gathering lives in lbd/admin/admin_state.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lbd/admin/forward_view.hpp"
#include "lbd/admin/status_model.hpp"
#include "lbd/replication/replicator.hpp"
#include "lbd/sticky/stick_table.hpp"
#include "lbd/telemetry/stats.hpp"

namespace lbd::admin {

/// Health counters of one pool over the process's life (kept across reloads).
struct PoolHealthCounters {
  std::uint64_t flips = 0;      // up/down flips of active checks
  std::uint64_t ejections = 0;  // passive outlier ejections
};

struct ListenerView {
  std::string name;
  std::string mode;  // "http" or "tcp"
  std::vector<std::string> binds;
  std::uint32_t active = 0;
  /// Failed TLS handshakes by reason (ListenerRuntime::tls_errors; empty for plain listeners).
  std::map<std::string, std::uint64_t> tls_handshake_errors;
};

/// Handshakes lbd made as a TLS client to the servers of one pool with [pool.tls], since its
/// context was built (a reload builds a new one and starts over).
struct UpstreamTlsView {
  std::uint64_t full = 0;
  std::uint64_t resumed = 0;
  std::map<std::string, std::uint64_t> errors;  // failed handshakes by reason
};

/// Events every worker counts (WorkerCounters), summed over the workers.
struct WorkerEvents {
  std::uint64_t refused_limit = 0;           // connections over a max_connections limit
  std::uint64_t proxy_header_errors = 0;     // malformed or late PROXY headers (closed)
  std::uint64_t proxy_header_untrusted = 0;  // sources outside proxy_protocol_from (served plain)
  std::uint64_t connect_failures = 0;        // failed connection attempts to servers
  std::uint64_t upstream_unavailable = 0;    // client connections that got no server at all
  std::uint64_t sticky_cookie_rejected = 0;  // forged, altered or expired persistence cookies
  std::uint64_t parked_clients = 0;          // idle HTTP clients held without a session now
  /// Client sessions ended because their local address (the VIP) was removed from the host.
  std::uint64_t sessions_closed_address_removed = 0;
};

/// Everything /metrics, /status.json and the page are made of, gathered at one scrape.
struct AdminView {
  /// What the control socket's `show status` shows (version, pools and servers, replication,
  /// VRRP roles, health, reloads): the one model both the control socket and /status.json use.
  NodeStatus status;
  std::string node_id;  // replication node id, else the host name
  double uptime_seconds = 0;
  unsigned workers = 0;
  std::vector<ListenerView> listeners;
  std::map<std::string, PoolHealthCounters> pool_health;
  std::map<std::string, StickyCounters> stick_tables;   // by pool
  std::map<std::string, UpstreamTlsView> upstream_tls;  // by pool, pools with [pool.tls] only
  bool access_log_on = false;
  std::uint64_t access_log_written = 0, access_log_dropped = 0, access_log_errors = 0;
  StatsTotals totals;
  WorkerEvents events;
  /// Admin requests answered 429 because failed logins from their address came too fast.
  std::uint64_t admin_logins_throttled = 0;
  std::optional<ForwardView> forward;  // forward mode (no ruleset text); nullopt without it
};

/// The Prometheus text (format 0.0.4) for `view`.
std::string render_metrics(const AdminView& view);

/// The server state names in the order the state gauge lists them.
inline constexpr std::array<std::string_view, 4> kServerStates{"up", "down", "drain", "maint"};

}  // namespace lbd::admin
