// lbd's /metrics body, byte for byte: a view with every family populated (distinct values, so a
// swapped or dropped sample shows) against tests/unit/lbd/admin/metrics_golden.prom. A change of
// the exposition must change that file in the same commit, on purpose.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "lbd/admin/metrics.hpp"

using namespace lbd::admin;

namespace {

void add_listeners(AdminView& v) {
  v.listeners.push_back({.name = "web",
                         .mode = "http",
                         .binds = {"127.0.0.1:80"},
                         .active = 4,
                         .tls_handshake_errors = {{"unsupported protocol", 2}, {"eof", 5}}});
  v.listeners.push_back({.name = "l4", .mode = "tcp", .binds = {"127.0.0.1:81"}, .active = 1});
  v.listeners.push_back({.name = "fresh", .mode = "http", .binds = {"127.0.0.1:82"}});
  v.listeners.push_back({.name = "idle", .mode = "tcp", .binds = {"127.0.0.1:83"}});
  auto& web = v.totals.listeners["web"];
  web.connections = 10;
  web.responses = {1, 7, 2, 3, 4};
  web.bytes_in = 1000;
  web.bytes_out = 2000;
  web.http_limits = {2, 1, 4, 6};
  web.h2_connections = 3;
  web.h2_errors[0] = 1;
  web.h2_errors[4] = 2;
  auto& l4 = v.totals.listeners["l4"];
  l4.connections = 11;
  l4.bytes_in = 300;
  l4.bytes_out = 400;
  l4.tcp_connect.buckets[1] = 2;
  l4.tcp_connect.count = 2;
  l4.tcp_connect.sum_ns = 1'500'000;
  l4.tcp_session.buckets[6] = 1;
  l4.tcp_session.count = 1;
  l4.tcp_session.sum_ns = 7'000'000'000;
}

void add_pools(AdminView& v) {
  v.upstream_tls["app"] = {.full = 4, .resumed = 9, .errors = {{"certificate verify failed", 1}}};
  PoolView p{.name = "app", .algorithm = "round_robin"};
  p.servers.push_back({.name = "a", .state = "up", .effective_weight = 2, .active = 1});
  p.servers.push_back({.name = "b\"q", .state = "down"});
  p.servers.push_back({.name = "c", .state = "drain", .effective_weight = 0, .active = 3});
  v.status.pools.push_back(p);
  v.status.pools.push_back(PoolView{.name = "other", .algorithm = "maglev"});
  v.status.pools.back().servers.push_back({.name = "m", .state = "maint", .effective_weight = 1});
  v.pool_health["app"] = {.flips = 5, .ejections = 1};
  auto& a = v.totals.backends["app"]["a"];
  a.requests = 10;
  a.connect_failures = 3;
  a.timeouts = 2;
  a.responses_5xx = 2;
  a.latency_buckets[0] = 4;
  a.latency_buckets[3] = 6;
  a.latency_sum_ns = 25'000'000;
  a.latency_count = 10;
  v.stick_tables["app"] = {.entries = 12, .inserts = 13, .evictions = 14, .expirations = 15};
}

void add_replication(AdminView& v) {
  lbd::repl::ReplicationStatus r;
  r.connected = true;
  r.peer_id = "lb-b";
  r.peer_has_our_data = true;
  r.we_have_peer_data = true;
  r.sessions = 2;
  r.resyncs_sent = 3;
  r.resyncs_received = 4;
  r.overflow_resyncs = 1;
  r.bytes_sent = 5000;
  r.bytes_received = 6000;
  r.ct_entries_sent = 7;
  r.ct_entries_received = 8;
  r.tables.push_back({.name = "app", .backlog = 9});
  r.tables.push_back({.name = "conn", .backlog = 0});
  r.errors = {{"io", 2}, {"auth", 1}};
  v.status.replication = r;
}

void add_forward(AdminView& v) {
  ForwardView f;
  f.services.push_back({.listener = "fwd",
                        .slots = 7,
                        .slots_per_backend = {{"10.0.0.1:80", 4}, {"10.0.0.2:80", 3}}});
  f.transactions_ok = 2;
  f.transactions_failed = 1;
  f.conntrack = true;
  f.flows = 5;
  f.remote_flows = 9;
  f.flows_per_backend = {{"10.0.0.1:80", 5}};
  f.events = 100;
  f.overflows = 1;
  f.reconciles = 3;
  f.journaled = 50;
  f.committed = 9;
  f.failed = 1;
  f.erased = 2;
  f.ignored = 3;
  f.resets = 4;
  f.since_reconcile_s = 3.5;
  v.forward = f;
}

AdminView full_view() {
  AdminView v;
  v.node_id = "lb-a";
  v.status.roles.node_role = lbd::repl::Role::master;
  v.status.version = "0.1.0";
  v.uptime_seconds = 12.5;
  v.workers = 2;
  v.status.reloads_ok = 3;
  v.status.reloads_failed = 1;
  v.events = {.refused_limit = 1,
              .proxy_header_errors = 2,
              .proxy_header_untrusted = 3,
              .connect_failures = 4,
              .upstream_unavailable = 5,
              .sticky_cookie_rejected = 6,
              .parked_clients = 7,
              .sessions_closed_address_removed = 8};
  v.admin_logins_throttled = 9;
  add_listeners(v);
  add_pools(v);
  add_replication(v);
  add_forward(v);
  v.access_log_on = true;
  v.access_log_written = 20;
  v.access_log_dropped = 21;
  v.access_log_errors = 22;
  return v;
}

std::string golden() {
  std::ifstream in(LBPAIR_SOURCE_DIR "/tests/unit/lbd/admin/metrics_golden.prom", std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("metrics: a view with every family renders exactly the golden exposition text") {
  const std::string expected = golden();
  REQUIRE_FALSE(expected.empty());
  const std::string text = render_metrics(full_view());
  CHECK(text.size() == expected.size());
  // Line by line, so that a failure names the first line that differs.
  std::istringstream got(text), want(expected);
  std::string g, w;
  int line = 0;
  while (std::getline(want, w)) {
    ++line;
    REQUIRE(std::getline(got, g));
    INFO("line ", line);
    REQUIRE(g == w);
  }
  CHECK_FALSE(std::getline(got, g));
  CHECK(text == expected);
}
