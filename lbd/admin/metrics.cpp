#include "lbd/admin/metrics.hpp"

#include "common/metrics/exposition.hpp"
#include "lbd/h2/server_session.hpp"

namespace lbd::admin {
static_assert(kH2Reasons == h2::kDefenceCount);
namespace {

using lb::metrics::Exposition;
using lb::metrics::Type;

constexpr std::array<std::string_view, kStatusClasses> kClassNames{"1xx", "2xx", "3xx", "4xx",
                                                                   "5xx"};

// Counters are exported as Prometheus sample values (floats).
double num(std::uint64_t x) { return static_cast<double>(x); }

// The totals of a listener, zeros for one without traffic yet.
const ListenerTotals& listener_totals(const AdminView& v, const std::string& name) {
  static const ListenerTotals kNoTraffic{};
  auto it = v.totals.listeners.find(name);
  return it == v.totals.listeners.end() ? kNoTraffic : it->second;
}

// The totals of a server, zeros for one without traffic yet.
const BackendTotals& server_totals(const AdminView& v, const std::string& pool,
                                   const std::string& server) {
  static const BackendTotals kZero{};
  auto p = v.totals.backends.find(pool);
  if (p == v.totals.backends.end()) return kZero;
  auto s = p->second.find(server);
  return s == p->second.end() ? kZero : s->second;
}

template <typename Histogram>
lb::metrics::HistogramValue histogram_of(std::span<const double> bounds, const Histogram& h) {
  return lb::metrics::HistogramValue{bounds, h.buckets, static_cast<double>(h.sum_ns) / 1e9};
}

void render_node(Exposition& e, const AdminView& v) {
  const NodeStatus& st = v.status;
  const std::string_view role = repl::role_name(st.roles.node_role);
  e.family("lbpair_lbd_info", "lbd build and node; the value is always 1.", Type::gauge);
  e.sample({{"version", st.version}, {"node", v.node_id}}, 1);
  e.family("lbpair_lbd_role", "This node's VRRP role as lbd knows it (1 for the current one).",
           Type::gauge);
  for (std::string_view r : {"master", "backup", "unknown"}) {
    e.sample({{"role", r}}, r == role ? 1 : 0);
  }
  e.family("lbpair_lbd_uptime_seconds", "Seconds since lbd started.", Type::gauge);
  e.sample({}, v.uptime_seconds);
  e.family("lbpair_lbd_workers", "Worker threads.", Type::gauge);
  e.sample({}, v.workers);
  e.family("lbpair_lbd_reloads_total", "Configuration reloads by result.", Type::counter);
  e.sample({{"result", "ok"}}, num(st.reloads_ok));
  e.sample({{"result", "failed"}}, num(st.reloads_failed));
}

// Events counted by every worker, for the node as a whole.
void render_worker_events(Exposition& e, const AdminView& v) {
  const WorkerEvents& ev = v.events;
  e.family("lbpair_lbd_connections_refused_total",
           "Client connections closed at accept because a max_connections limit was reached.",
           Type::counter);
  e.sample({}, num(ev.refused_limit));
  e.family("lbpair_lbd_proxy_header_total",
           "Client PROXY protocol headers that were not used: malformed or late (connection "
           "closed), or from a source outside proxy_protocol_from (served as a plain connection).",
           Type::counter);
  e.sample({{"result", "error"}}, num(ev.proxy_header_errors));
  e.sample({{"result", "untrusted"}}, num(ev.proxy_header_untrusted));
  e.family("lbpair_lbd_upstream_connect_failures_total",
           "Failed connection attempts to servers (each retry counts).", Type::counter);
  e.sample({}, num(ev.connect_failures));
  e.family("lbpair_lbd_upstream_unavailable_total",
           "Client connections or requests for which no server could be connected.", Type::counter);
  e.sample({}, num(ev.upstream_unavailable));
  e.family("lbpair_lbd_sticky_cookie_rejected_total",
           "Persistence cookies refused (forged, altered, expired or for another pool); the "
           "client was balanced anew.",
           Type::counter);
  e.sample({}, num(ev.sticky_cookie_rejected));
  e.family("lbpair_lbd_parked_clients", "Idle HTTP keep-alive clients held without a session.",
           Type::gauge);
  e.sample({}, num(ev.parked_clients));
  e.family("lbpair_lbd_sessions_closed_address_removed_total",
           "Client sessions ended because their local address (the VIP) was removed from the "
           "host: their packets go to the other node now.",
           Type::counter);
  e.sample({}, num(ev.sessions_closed_address_removed));
  e.family("lbpair_admin_logins_throttled_total",
           "Admin requests answered 429 because failed logins from their address came too fast.",
           Type::counter);
  e.sample({}, num(v.admin_logins_throttled));
}

// Connections, responses and bytes of every listener.
void render_listener_traffic(Exposition& e, const AdminView& v) {
  e.family("lbpair_listener_connections_total", "Client connections accepted.", Type::counter);
  for (const auto& l : v.listeners) {
    e.sample({{"listener", l.name}}, num(listener_totals(v, l.name).connections));
  }
  e.family("lbpair_listener_connections_active", "Client connections open now.", Type::gauge);
  for (const auto& l : v.listeners) e.sample({{"listener", l.name}}, l.active);
  e.family("lbpair_listener_requests_total",
           "HTTP responses sent to clients by status class (tcp listeners count none).",
           Type::counter);
  for (const auto& l : v.listeners) {
    const auto& t = listener_totals(v, l.name);
    for (std::size_t i = 0; i < kClassNames.size(); ++i) {
      e.sample({{"listener", l.name}, {"code", kClassNames[i]}}, num(t.responses[i]));
    }
  }
  e.family("lbpair_listener_received_bytes_total", "Bytes received from clients.", Type::counter);
  for (const auto& l : v.listeners) {
    e.sample({{"listener", l.name}}, num(listener_totals(v, l.name).bytes_in));
  }
  e.family("lbpair_listener_sent_bytes_total", "Bytes sent to clients.", Type::counter);
  for (const auto& l : v.listeners) {
    e.sample({{"listener", l.name}}, num(listener_totals(v, l.name).bytes_out));
  }
}

// What the protocol layers of the listeners refused: HTTP bounds, HTTP/2 defences, TLS.
void render_listener_protocols(Exposition& e, const AdminView& v) {
  e.family("lbpair_listener_http_limit_exceeded_total",
           "HTTP requests or responses ended because the peer passed a bound of lbd, by bound "
           "(http listeners only).",
           Type::counter);
  for (const auto& l : v.listeners) {
    if (l.mode != "http") continue;
    const auto& t = listener_totals(v, l.name);
    for (std::size_t i = 0; i < kHttpLimitNames.size(); ++i) {
      e.sample({{"listener", l.name}, {"limit", kHttpLimitNames[i]}}, num(t.http_limits[i]));
    }
  }
  e.family("lbpair_h2_connections_total", "HTTP/2 client connections (ALPN h2 or h2c).",
           Type::counter);
  for (const auto& l : v.listeners) {
    e.sample({{"listener", l.name}}, num(listener_totals(v, l.name).h2_connections));
  }
  e.family("lbpair_h2_protocol_errors_total",
           "HTTP/2 defences that fired (a GOAWAY or RST_STREAM was sent) by reason.",
           Type::counter);
  for (const auto& l : v.listeners) {
    const auto& errors = listener_totals(v, l.name).h2_errors;
    for (std::size_t i = 0; i < errors.size(); ++i) {
      if (errors[i] == 0) continue;
      e.sample({{"listener", l.name},
                {"reason", std::string(h2::to_string(static_cast<h2::Defence>(i)))}},
               num(errors[i]));
    }
  }
  e.family("lbpair_listener_tls_handshake_errors_total", "Failed TLS handshakes by reason.",
           Type::counter);
  for (const auto& l : v.listeners) {
    for (const auto& [reason, count] : l.tls_handshake_errors) {
      e.sample({{"listener", l.name}, {"reason", reason}}, num(count));
    }
  }
}

void render_upstream_tls(Exposition& e, const AdminView& v) {
  e.family("lbpair_pool_upstream_tls_handshakes_total",
           "TLS handshakes lbd completed with the servers of a pool with [pool.tls], full or "
           "resumed (since its last reload).",
           Type::counter);
  for (const auto& [pool, t] : v.upstream_tls) {
    e.sample({{"pool", pool}, {"kind", "full"}}, num(t.full));
    e.sample({{"pool", pool}, {"kind", "resumed"}}, num(t.resumed));
  }
  e.family("lbpair_pool_upstream_tls_handshake_errors_total",
           "Failed TLS handshakes with the servers of a pool, by reason (since its last reload).",
           Type::counter);
  for (const auto& [pool, t] : v.upstream_tls) {
    for (const auto& [reason, count] : t.errors) {
      e.sample({{"pool", pool}, {"reason", reason}}, num(count));
    }
  }
}

// TCP (mode = "tcp") listeners: no responses to time, so the connect and the session.
void render_tcp_histograms(Exposition& e, const AdminView& v) {
  e.family("lbpair_listener_tcp_connect_seconds",
           "TCP listeners: time to connect the backend (retries included), relayed connections.",
           Type::histogram);
  for (const auto& l : v.listeners) {
    if (l.mode != "tcp") continue;
    e.histogram({{"listener", l.name}},
                histogram_of(kLatencyBounds, listener_totals(v, l.name).tcp_connect));
  }
  e.family("lbpair_listener_tcp_session_seconds",
           "TCP listeners: connection start to both directions closed, relayed connections.",
           Type::histogram);
  for (const auto& l : v.listeners) {
    if (l.mode != "tcp") continue;
    e.histogram({{"listener", l.name}},
                histogram_of(kSessionBounds, listener_totals(v, l.name).tcp_session));
  }
}

// Each server's state, weight, load and counters.
void render_servers(Exposition& e, const AdminView& v) {
  const auto& pools = v.status.pools;
  e.family("lbpair_server_state", "Server state: 1 for the current one of up, down, drain, maint.",
           Type::gauge);
  for (const auto& p : pools) {
    for (const auto& s : p.servers) {
      for (auto st : kServerStates) {
        e.sample({{"pool", p.name}, {"server", s.name}, {"state", st}}, s.state == st ? 1 : 0);
      }
    }
  }
  e.family("lbpair_server_weight", "Effective weight (0 = takes no new picks).", Type::gauge);
  for (const auto& p : pools) {
    for (const auto& s : p.servers) {
      e.sample({{"pool", p.name}, {"server", s.name}}, s.effective_weight);
    }
  }
  e.family("lbpair_server_connections_active",
           "Connections to the server carrying a request or TCP session now (idle keep-alive "
           "connections are not counted).",
           Type::gauge);
  for (const auto& p : pools) {
    for (const auto& s : p.servers) e.sample({{"pool", p.name}, {"server", s.name}}, s.active);
  }
  e.family("lbpair_server_requests_total",
           "Requests the server answered (http) or connections it accepted (tcp).", Type::counter);
  for (const auto& p : pools) {
    for (const auto& s : p.servers) {
      e.sample({{"pool", p.name}, {"server", s.name}},
               num(server_totals(v, p.name, s.name).requests));
    }
  }
  e.family("lbpair_server_errors_total",
           "Failures with the server: connect (a failed attempt), timeout (connect or response), "
           "5xx (a 5xx response).",
           Type::counter);
  for (const auto& p : pools) {
    for (const auto& s : p.servers) {
      const auto& t = server_totals(v, p.name, s.name);
      e.sample({{"pool", p.name}, {"server", s.name}, {"kind", "connect"}},
               num(t.connect_failures));
      e.sample({{"pool", p.name}, {"server", s.name}, {"kind", "timeout"}}, num(t.timeouts));
      e.sample({{"pool", p.name}, {"server", s.name}, {"kind", "5xx"}}, num(t.responses_5xx));
    }
  }
}

// Response times of the servers, and the health events of the pools.
void render_server_latency_and_health(Exposition& e, const AdminView& v) {
  const auto& pools = v.status.pools;
  e.family("lbpair_server_response_seconds",
           "Time from sending the request to the server's response header (http).",
           Type::histogram);
  for (const auto& p : pools) {
    for (const auto& s : p.servers) {
      const auto& t = server_totals(v, p.name, s.name);
      e.histogram({{"pool", p.name}, {"server", s.name}},
                  lb::metrics::HistogramValue{kLatencyBounds, t.latency_buckets,
                                              static_cast<double>(t.latency_sum_ns) / 1e9});
    }
  }
  e.family("lbpair_pool_health_flips_total", "Up/down flips of active health checks.",
           Type::counter);
  auto health = [&v](const std::string& pool) {
    auto it = v.pool_health.find(pool);
    return it == v.pool_health.end() ? PoolHealthCounters{} : it->second;
  };
  for (const auto& p : pools) e.sample({{"pool", p.name}}, num(health(p.name).flips));
  e.family("lbpair_pool_outlier_ejections_total", "Servers ejected by passive outlier detection.",
           Type::counter);
  for (const auto& p : pools) e.sample({{"pool", p.name}}, num(health(p.name).ejections));
}

void render_stick_tables(Exposition& e, const AdminView& v) {
  e.family("lbpair_stick_table_entries", "Entries in the stick table.", Type::gauge);
  for (const auto& [pool, c] : v.stick_tables) e.sample({{"pool", pool}}, num(c.entries));
  e.family("lbpair_stick_table_inserts_total", "Local inserts and overwrites.", Type::counter);
  for (const auto& [pool, c] : v.stick_tables) e.sample({{"pool", pool}}, num(c.inserts));
  e.family("lbpair_stick_table_evictions_total", "Entries evicted because the table was full.",
           Type::counter);
  for (const auto& [pool, c] : v.stick_tables) e.sample({{"pool", pool}}, num(c.evictions));
  e.family("lbpair_stick_table_expirations_total", "Entries whose TTL ended.", Type::counter);
  for (const auto& [pool, c] : v.stick_tables) e.sample({{"pool", pool}}, num(c.expirations));
}

// Present only on a node with [replication].
void render_replication(Exposition& e, const repl::ReplicationStatus& r) {
  e.family("lbpair_replication_connected", "1 when an authenticated peer session is up.",
           Type::gauge);
  e.sample({{"peer", r.peer_id}}, r.connected ? 1 : 0);
  e.family("lbpair_replication_in_sync",
           "1 when each side holds the other's data (full resyncs done both ways).", Type::gauge);
  e.sample({}, r.peer_has_our_data && r.we_have_peer_data ? 1 : 0);
  e.family("lbpair_replication_backlog", "Journal records not yet acknowledged by the peer.",
           Type::gauge);
  for (const auto& t : r.tables) e.sample({{"table", t.name}}, num(t.backlog));
  e.family("lbpair_replication_sessions_total", "Peer sessions established.", Type::counter);
  e.sample({}, num(r.sessions));
  e.family("lbpair_replication_resyncs_total", "Full resyncs by direction.", Type::counter);
  e.sample({{"direction", "sent"}}, num(r.resyncs_sent));
  e.sample({{"direction", "received"}}, num(r.resyncs_received));
  e.family("lbpair_replication_overflow_resyncs_total",
           "Full resyncs forced because the journal wrapped.", Type::counter);
  e.sample({}, num(r.overflow_resyncs));
  e.family("lbpair_replication_sent_bytes_total", "Bytes sent to the peer.", Type::counter);
  e.sample({}, num(r.bytes_sent));
  e.family("lbpair_replication_received_bytes_total", "Bytes received from the peer.",
           Type::counter);
  e.sample({}, num(r.bytes_received));
  e.family("lbpair_replication_errors_total", "Closed sessions and dropped frames by reason.",
           Type::counter);
  for (const auto& [reason, count] : r.errors) e.sample({{"reason", reason}}, num(count));
  e.family("lbpair_replication_conntrack_entries_total",
           "Conntrack entries of forward flows sent to and received from the peer.", Type::counter);
  e.sample({{"direction", "sent"}}, num(r.ct_entries_sent));
  e.sample({{"direction", "received"}}, num(r.ct_entries_received));
}

// The nftables side of forward mode (present only when a forward listener was configured).
void render_forward_table(Exposition& e, const ForwardView& f) {
  e.family("lbpair_forward_nft_transactions_total",
           "nftables transactions of the forward table by result.", Type::counter);
  e.sample({{"result", "ok"}}, num(f.transactions_ok));
  e.sample({{"result", "failed"}}, num(f.transactions_failed));
  e.family("lbpair_forward_slots", "Slots of a forward listener's table owned by a backend.",
           Type::gauge);
  for (const auto& s : f.services) {
    for (const auto& [backend, slots] : s.slots_per_backend) {
      e.sample({{"listener", s.listener}, {"backend", backend}}, num(slots));
    }
  }
}

// The conntrack stream of forward mode (present only while it runs).
void render_forward_conntrack(Exposition& e, const ForwardView& f) {
  e.family("lbpair_forward_flows",
           "Forward flows through this node per backend (conntrack, past SYN_SENT).", Type::gauge);
  for (const auto& [backend, count] : f.flows_per_backend) {
    e.sample({{"backend", backend}}, num(count));
  }
  e.family("lbpair_forward_conntrack_entries",
           "Conntrack entries of forward flows: this node's, and the peer's held here.",
           Type::gauge);
  e.sample({{"side", "local"}}, num(f.flows));
  e.sample({{"side", "peer"}}, num(f.remote_flows));
  e.family("lbpair_forward_conntrack_events_total",
           "Conntrack events of forward flows read (the traffic's).", Type::counter);
  e.sample({}, num(f.events));
  e.family("lbpair_forward_conntrack_overflows_total",
           "Times the kernel dropped events (ENOBUFS); each forces a reconcile.", Type::counter);
  e.sample({}, num(f.overflows));
  e.family("lbpair_forward_conntrack_reconciles_total",
           "Full dumps compared with the view (start, overflow, refresh, resync).", Type::counter);
  e.sample({}, num(f.reconciles));
  e.family("lbpair_forward_conntrack_journaled_total", "Conntrack changes journaled for the peer.",
           Type::counter);
  e.sample({}, num(f.journaled));
  e.family("lbpair_forward_conntrack_peer_entries_total",
           "The peer's conntrack entries by outcome: committed (created or updated in the "
           "kernel), failed (refused), erased, ignored (this node is master).",
           Type::counter);
  e.sample({{"result", "committed"}}, num(f.committed));
  e.sample({{"result", "failed"}}, num(f.failed));
  e.sample({{"result", "erased"}}, num(f.erased));
  e.sample({{"result", "ignored"}}, num(f.ignored));
  e.family("lbpair_forward_conntrack_resets_total",
           "Entries deleted because their backend went down (on_server_down = reset).",
           Type::counter);
  e.sample({}, num(f.resets));
  e.family("lbpair_forward_conntrack_age_seconds",
           "Seconds since the last dump of this node's flows (reconcile) and since the "
           "peer's last entry arrived (received); -1 when never.",
           Type::gauge);
  e.sample({{"what", "reconcile"}}, f.since_reconcile_s);
  e.sample({{"what", "received"}}, f.since_received_s);
}

void render_access_log(Exposition& e, const AdminView& v) {
  e.family("lbpair_access_log_lines_total",
           "Access-log lines by outcome: written, dropped (queue full), error (write failed).",
           Type::counter);
  e.sample({{"outcome", "written"}}, num(v.access_log_written));
  e.sample({{"outcome", "dropped"}}, num(v.access_log_dropped));
  e.sample({{"outcome", "error"}}, num(v.access_log_errors));
}

}  // namespace

std::string render_metrics(const AdminView& v) {
  // The family order is the exposition's order (tests/unit/lbd/admin/metrics_golden.prom).
  Exposition e;
  render_node(e, v);
  render_worker_events(e, v);
  render_listener_traffic(e, v);
  render_listener_protocols(e, v);
  render_upstream_tls(e, v);
  render_tcp_histograms(e, v);
  render_servers(e, v);
  render_server_latency_and_health(e, v);
  render_stick_tables(e, v);
  if (v.status.replication) render_replication(e, *v.status.replication);
  if (v.forward) {
    render_forward_table(e, *v.forward);
    if (v.forward->conntrack) render_forward_conntrack(e, *v.forward);
  }
  render_access_log(e, v);
  return e.take();
}

}  // namespace lbd::admin
