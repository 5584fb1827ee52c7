// lbd's /metrics body from a known view: strict format, names, values, histogram shape.
#include "lbd/admin/metrics.hpp"

#include <doctest/doctest.h>

#include "tests/support/prometheus_text.hpp"

using namespace lbd::admin;

TEST_CASE("metrics: a known view renders strict Prometheus text with the expected values") {
  AdminView v;
  v.node_id = "lb-a";
  v.status.roles.node_role = lbd::repl::Role::master;
  v.status.version = "0.1.0";
  v.workers = 2;
  v.status.reloads_ok = 3;
  v.listeners.push_back({.name = "web",
                         .mode = "http",
                         .binds = {"127.0.0.1:80"},
                         .active = 4,
                         .tls_handshake_errors = {{"unsupported protocol", 2}}});
  v.upstream_tls["app"] = {.full = 4, .resumed = 9, .errors = {{"certificate verify failed", 1}}};
  PoolView p{.name = "app", .algorithm = "round_robin"};
  p.servers.push_back({.name = "a", .state = "up", .effective_weight = 2, .active = 1});
  p.servers.push_back({.name = "b\"q", .state = "down"});
  v.status.pools.push_back(p);
  v.pool_health["app"] = {.flips = 5, .ejections = 1};
  v.totals.listeners["web"].connections = 10;
  v.totals.listeners["web"].responses = {0, 7, 0, 3, 0};
  v.totals.listeners["web"].http_limits = {2, 1, 4, 0};
  auto& a = v.totals.backends["app"]["a"];
  a.requests = 10;
  a.responses_5xx = 2;
  a.latency_buckets[0] = 4;
  a.latency_buckets[3] = 6;
  a.latency_sum_ns = 25'000'000;
  v.stick_tables["app"].entries = 12;
  v.status.replication = lbd::repl::ReplicationStatus{};
  v.status.replication->connected = true;
  v.status.replication->peer_id = "lb-b";
  v.events.sessions_closed_address_removed = 6;

  std::string error;
  const auto text = render_metrics(v);
  const auto m = lb::test::parse_prometheus_text(text, error);
  REQUIRE_MESSAGE(m, error);
  CHECK(m->families.at("lbpair_listener_requests_total").type == "counter");
  CHECK(m->value("lbpair_listener_requests_total", {{"listener", "web"}, {"code", "2xx"}}) == 7);
  CHECK(m->value("lbpair_listener_requests_total", {{"listener", "web"}, {"code", "4xx"}}) == 3);
  CHECK(m->value("lbpair_listener_connections_active", {{"listener", "web"}}) == 4);
  CHECK(m->value("lbpair_lbd_role", {{"role", "master"}}) == 1);
  CHECK(m->value("lbpair_lbd_role", {{"role", "backup"}}) == 0);
  CHECK(m->value("lbpair_server_state", {{"server", "b\"q"}, {"state", "down"}}) == 1);
  CHECK(m->value("lbpair_server_state", {{"server", "a"}, {"state", "down"}}) == 0);
  CHECK(m->value("lbpair_server_weight", {{"server", "a"}}) == 2);
  CHECK(m->value("lbpair_server_errors_total", {{"server", "a"}, {"kind", "5xx"}}) == 2);
  CHECK(m->value("lbpair_server_response_seconds_count", {{"server", "a"}}) == 10);
  CHECK(m->value("lbpair_server_response_seconds_bucket", {{"server", "a"}, {"le", "0.005"}}) ==
        10);
  CHECK(m->value("lbpair_server_response_seconds_bucket", {{"server", "a"}, {"le", "0.001"}}) == 4);
  CHECK(m->value("lbpair_server_response_seconds_sum", {{"server", "a"}}) ==
        doctest::Approx(0.025));
  CHECK(m->value("lbpair_server_response_seconds_count", {{"server", "b\"q"}}) == 0);
  CHECK(m->value("lbpair_pool_health_flips_total", {{"pool", "app"}}) == 5);
  CHECK(m->value("lbpair_stick_table_entries", {{"pool", "app"}}) == 12);
  CHECK(m->value("lbpair_replication_connected", {{"peer", "lb-b"}}) == 1);
  CHECK(m->value("lbpair_lbd_reloads_total", {{"result", "ok"}}) == 3);
  CHECK(m->value("lbpair_listener_tls_handshake_errors_total",
                 {{"listener", "web"}, {"reason", "unsupported protocol"}}) == 2);
  CHECK(m->value("lbpair_listener_http_limit_exceeded_total",
                 {{"listener", "web"}, {"limit", "chunk_line"}}) == 2);
  CHECK(m->value("lbpair_listener_http_limit_exceeded_total",
                 {{"listener", "web"}, {"limit", "trailers"}}) == 1);
  CHECK(m->value("lbpair_listener_http_limit_exceeded_total",
                 {{"listener", "web"}, {"limit", "request_body_time"}}) == 4);
  CHECK(m->families.at("lbpair_pool_upstream_tls_handshakes_total").type == "counter");
  CHECK(m->value("lbpair_pool_upstream_tls_handshakes_total",
                 {{"pool", "app"}, {"kind", "full"}}) == 4);
  CHECK(m->value("lbpair_pool_upstream_tls_handshakes_total",
                 {{"pool", "app"}, {"kind", "resumed"}}) == 9);
  CHECK(m->value("lbpair_pool_upstream_tls_handshake_errors_total",
                 {{"pool", "app"}, {"reason", "certificate verify failed"}}) == 1);
  CHECK(m->families.at("lbpair_lbd_sessions_closed_address_removed_total").type == "counter");
  CHECK(m->value("lbpair_lbd_sessions_closed_address_removed_total", {}) == 6);
}

TEST_CASE("metrics: tcp listeners get connect and session histograms, http listeners do not") {
  AdminView v;
  v.listeners.push_back({.name = "l4", .mode = "tcp"});
  v.listeners.push_back({.name = "idle", .mode = "tcp"});
  v.listeners.push_back({.name = "web", .mode = "http"});
  auto& l4 = v.totals.listeners["l4"];
  l4.tcp_connect.buckets[1] = 2;  // (0.5 ms, 1 ms]
  l4.tcp_connect.count = 2;
  l4.tcp_connect.sum_ns = 1'500'000;
  l4.tcp_session.buckets[6] = 1;  // (5 s, 10 s]
  l4.tcp_session.count = 1;
  l4.tcp_session.sum_ns = 7'000'000'000;
  std::string error;
  const auto m = lb::test::parse_prometheus_text(render_metrics(v), error);
  REQUIRE_MESSAGE(m, error);
  CHECK(m->families.at("lbpair_listener_tcp_connect_seconds").type == "histogram");
  CHECK(m->value("lbpair_listener_tcp_connect_seconds_bucket",
                 {{"listener", "l4"}, {"le", "0.0005"}}) == 0);
  CHECK(m->value("lbpair_listener_tcp_connect_seconds_bucket",
                 {{"listener", "l4"}, {"le", "0.001"}}) == 2);
  CHECK(m->value("lbpair_listener_tcp_connect_seconds_sum", {{"listener", "l4"}}) ==
        doctest::Approx(0.0015));
  CHECK(m->value("lbpair_listener_tcp_session_seconds_bucket", {{"listener", "l4"}, {"le", "5"}}) ==
        0);
  CHECK(m->value("lbpair_listener_tcp_session_seconds_bucket",
                 {{"listener", "l4"}, {"le", "10"}}) == 1);
  CHECK(m->value("lbpair_listener_tcp_session_seconds_bucket",
                 {{"listener", "l4"}, {"le", "+Inf"}}) == 1);
  CHECK(m->value("lbpair_listener_tcp_session_seconds_count", {{"listener", "idle"}}) == 0);
  CHECK_FALSE(
      m->value("lbpair_listener_tcp_session_seconds_count", {{"listener", "web"}}).has_value());
}

TEST_CASE("metrics: a node without replication has no replication families") {
  AdminView v;
  std::string error;
  const auto m = lb::test::parse_prometheus_text(render_metrics(v), error);
  REQUIRE_MESSAGE(m, error);
  CHECK_FALSE(m->families.contains("lbpair_replication_connected"));
  CHECK(m->families.contains("lbpair_access_log_lines_total"));
}

TEST_CASE("metrics: the workers' event counters and the admin login throttle are exported") {
  AdminView v;
  v.events = {.refused_limit = 1,
              .proxy_header_errors = 2,
              .proxy_header_untrusted = 3,
              .connect_failures = 4,
              .upstream_unavailable = 5,
              .sticky_cookie_rejected = 6,
              .parked_clients = 7};
  v.admin_logins_throttled = 8;
  std::string error;
  const auto m = lb::test::parse_prometheus_text(render_metrics(v), error);
  REQUIRE_MESSAGE(m, error);
  CHECK(m->value("lbpair_lbd_connections_refused_total", {}) == 1);
  CHECK(m->value("lbpair_lbd_proxy_header_total", {{"result", "error"}}) == 2);
  CHECK(m->value("lbpair_lbd_proxy_header_total", {{"result", "untrusted"}}) == 3);
  CHECK(m->value("lbpair_lbd_upstream_connect_failures_total", {}) == 4);
  CHECK(m->value("lbpair_lbd_upstream_unavailable_total", {}) == 5);
  CHECK(m->value("lbpair_lbd_sticky_cookie_rejected_total", {}) == 6);
  CHECK(m->value("lbpair_lbd_parked_clients", {}) == 7);
  CHECK(m->families.at("lbpair_lbd_parked_clients").type == "gauge");
  CHECK(m->value("lbpair_admin_logins_throttled_total", {}) == 8);
}

TEST_CASE("metrics: forward mode shows slots, flows per backend and the peer's entries") {
  AdminView v;
  ForwardView f;
  f.services.push_back({.listener = "fwd", .slots = 7, .slots_per_backend = {{"10.0.0.1:80", 7}}});
  f.transactions_ok = 2;
  f.conntrack = true;
  f.flows = 5;
  f.remote_flows = 9;
  f.flows_per_backend = {{"10.0.0.1:80", 5}};
  f.committed = 9;
  f.failed = 1;
  f.since_reconcile_s = 3.5;
  v.forward = f;
  std::string error;
  const auto m = lb::test::parse_prometheus_text(render_metrics(v), error);
  REQUIRE_MESSAGE(m, error);
  CHECK(m->value("lbpair_forward_slots", {{"listener", "fwd"}, {"backend", "10.0.0.1:80"}}) == 7);
  CHECK(m->value("lbpair_forward_flows", {{"backend", "10.0.0.1:80"}}) == 5);
  CHECK(m->value("lbpair_forward_conntrack_entries", {{"side", "peer"}}) == 9);
  CHECK(m->value("lbpair_forward_conntrack_peer_entries_total", {{"result", "committed"}}) == 9);
  CHECK(m->value("lbpair_forward_conntrack_peer_entries_total", {{"result", "failed"}}) == 1);
  CHECK(m->value("lbpair_forward_conntrack_age_seconds", {{"what", "reconcile"}}) == 3.5);
  CHECK(m->value("lbpair_forward_conntrack_age_seconds", {{"what", "received"}}) == -1);
}

TEST_CASE("metrics: a node without forward listeners has no forward families") {
  AdminView v;
  std::string error;
  const auto m = lb::test::parse_prometheus_text(render_metrics(v), error);
  REQUIRE_MESSAGE(m, error);
  CHECK_FALSE(m->families.contains("lbpair_forward_flows"));
}
