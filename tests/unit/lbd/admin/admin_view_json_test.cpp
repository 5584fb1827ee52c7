// /status.json: the control socket's `show status` document with the admin listener's traffic
// added — the same keys with the same values and shapes, never a second description.
#include "lbd/admin/admin_view_json.hpp"

#include <doctest/doctest.h>

#include <string>

#include "lbd/admin/status_json.hpp"

using namespace lbd;
using namespace lbd::admin;
using nlohmann::json;

namespace {

/// Whether every key of `part` (recursively, arrays element by element) is in `whole` with the
/// same value; `whole` may have more keys in its objects. `where` names the first difference.
bool contains_document(const json& whole, const json& part, std::string& where,
                       const std::string& path = "") {
  if (part.is_object()) {
    if (!whole.is_object()) return where = path, false;
    for (const auto& [key, value] : part.items()) {
      if (!whole.contains(key)) return where = path + "/" + key, false;
      if (!contains_document(whole.at(key), value, where, path + "/" + key)) return false;
    }
    return true;
  }
  if (part.is_array()) {
    if (!whole.is_array() || whole.size() != part.size()) return where = path, false;
    for (std::size_t i = 0; i < part.size(); ++i) {
      if (!contains_document(whole[i], part[i], where, path + "/" + std::to_string(i))) {
        return false;
      }
    }
    return true;
  }
  if (whole != part) return where = path, false;
  return true;
}

AdminView sample_view() {
  AdminView v;
  v.status.version = "0.1.0";
  v.status.active_connections = 4;
  v.status.reloads_ok = 2;
  v.status.roles.node_role = repl::Role::master;
  v.status.roles.vrids.push_back({.instance = "vi_1", .vrid = 51, .state = "master"});
  ServerView up{.name = "app0", .address = "192.0.2.21:80", .state = "up", .admin = "ready"};
  up.weight = 3;
  up.effective_weight = 2;
  up.candidate = true;
  ServerView down{.name = "app1", .address = "192.0.2.22:80", .state = "down", .admin = "ready"};
  down.healthy = false;
  down.reason = "connect: connection refused";
  down.weight = 1;
  v.status.pools.push_back(PoolView{.name = "app",
                                    .algorithm = "round_robin",
                                    .persistence = "none",
                                    .generation = 3,
                                    .servers = {up, down}});
  v.status.health = assess_health(v.status.pools, false);
  v.status.replication = repl::ReplicationStatus{};
  v.status.replication->node_id = "lb-a";
  v.status.replication->connected = true;
  v.node_id = "lb-a";
  v.workers = 2;
  v.uptime_seconds = 12.5;
  v.listeners.push_back({.name = "web", .mode = "http", .binds = {"127.0.0.1:80"}, .active = 1});
  v.totals.listeners["web"].connections = 9;
  v.totals.listeners["web"].responses = {0, 7, 0, 2, 0};
  auto& t = v.totals.backends["app"]["app0"];
  t.requests = 9;
  t.timeouts = 1;
  t.latency_count = 9;
  t.latency_sum_ns = 45'000'000;
  v.pool_health["app"] = {.flips = 4, .ejections = 1};
  v.stick_tables["app"].entries = 5;
  v.access_log_on = true;
  v.access_log_written = 9;
  return v;
}

}  // namespace

TEST_CASE("status.json: holds the control socket's show status document unchanged") {
  const auto v = sample_view();
  const auto page = admin_view_json(v);
  std::string where;
  CHECK_MESSAGE(contains_document(page, node_status_json(v.status), where), where);
  // The same names for the same things: the role object, configured and effective weights.
  CHECK(page["roles"]["role"] == "master");
  CHECK(page["roles"]["vrids"][0]["vrid"] == 51);
  CHECK(page["health"]["status"] == "ok");
  CHECK(page["replication"]["enabled"] == true);
  CHECK(page["pools"][0]["servers"][0]["weight"] == 3);
  CHECK(page["pools"][0]["servers"][0]["effective_weight"] == 2);
  CHECK(page["pools"][0]["servers"][1]["reason"] == "connect: connection refused");
}

TEST_CASE("status.json: adds listeners, per-server traffic, stick tables and the access log") {
  const auto page = admin_view_json(sample_view());
  CHECK(page["node"] == "lb-a");
  CHECK(page["workers"] == 2);
  CHECK(page["uptime_seconds"] == 12.5);
  CHECK(page["listeners"][0]["name"] == "web");
  CHECK(page["listeners"][0]["connections"] == 9);
  CHECK(page["listeners"][0]["responses"]["2xx"] == 7);
  CHECK(page["listeners"][0]["responses"]["4xx"] == 2);
  const auto& pool = page["pools"][0];
  CHECK(pool["health_flips"] == 4);
  CHECK(pool["ejections"] == 1);
  CHECK(pool["servers"][0]["requests"] == 9);
  CHECK(pool["servers"][0]["errors"]["timeout"] == 1);
  CHECK(pool["servers"][0]["latency_count"] == 9);
  CHECK(pool["servers"][0]["latency_sum_seconds"] == doctest::Approx(0.045));
  // A server without traffic has zeros, not missing keys.
  CHECK(pool["servers"][1]["requests"] == 0);
  CHECK(pool["servers"][1]["errors"]["connect"] == 0);
  CHECK(page["stick_tables"]["app"]["entries"] == 5);
  CHECK(page["access_log"]["written"] == 9);
}

TEST_CASE("status.json: without [replication] it says enabled false, as the control socket does") {
  auto v = sample_view();
  v.status.replication.reset();
  CHECK(admin_view_json(v)["replication"] == json{{"enabled", false}});
}
