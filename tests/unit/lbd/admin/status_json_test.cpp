// The control socket's JSON builders: every field the lbctl tables and the status page read.
#include "lbd/admin/status_json.hpp"

#include <doctest/doctest.h>

#include "lbd/sticky/key_derivation.hpp"

using namespace lbd;
using namespace lbd::admin;

namespace {

ServerView server(std::string name, std::string state, bool candidate) {
  ServerView s;
  s.name = std::move(name);
  s.address = "192.0.2.21:8080";
  s.state = std::move(state);
  s.admin = "ready";
  s.candidate = candidate;
  s.weight = 3;
  s.effective_weight = candidate ? 3 : 0;
  return s;
}

}  // namespace

TEST_CASE("status_json: a server carries state, weights, health reason, last check and overrides") {
  auto s = server("be1", "drain", false);
  s.admin = "drain";
  s.reason = "connect: connection refused";
  s.last_check_age = std::chrono::milliseconds(1500);
  s.active = 7;
  s.checks = 10;
  s.failed_checks = 2;
  s.admin_override = "drain";
  s.weight_override = 3;
  const auto j = server_json(s);
  CHECK(j["name"] == "be1");
  CHECK(j["address"] == "192.0.2.21:8080");
  CHECK(j["state"] == "drain");
  CHECK(j["admin"] == "drain");
  CHECK(j["reason"] == "connect: connection refused");
  CHECK(j["last_check_ms"] == 1500);
  CHECK(j["weight"] == 3);
  CHECK(j["effective_weight"] == 0);
  CHECK(j["active"] == 7);
  CHECK(j["checks"] == 10);
  CHECK(j["failed_checks"] == 2);
  CHECK(j["candidate"] == false);
  CHECK(j["overrides"]["admin"] == "drain");
  CHECK(j["overrides"]["weight"] == 3);
}

TEST_CASE("status_json: a server never checked has last_check_ms null and no overrides") {
  const auto j = server_json(server("be1", "up", true));
  CHECK(j["last_check_ms"].is_null());
  CHECK(j["overrides"].empty());
}

TEST_CASE("status_json: pools_reply lists every pool, or only the one asked for") {
  PoolView a{"web", "round_robin", "none",
             4,     false,         {server("be1", "up", true), server("be2", "down", false)}};
  PoolView b{"api", "least_conn", "cookie", 1, false, {server("x", "up", true)}};
  const auto all = pools_reply({a, b});
  CHECK(all["ok"] == true);
  REQUIRE(all["pools"].size() == 2);
  CHECK(all["pools"][0]["name"] == "web");
  CHECK(all["pools"][0]["candidates"] == 1);
  CHECK(all["pools"][0]["generation"] == 4);
  CHECK(all["pools"][0]["servers"].size() == 2);
  CHECK(all["pools"][1]["persistence"] == "cookie");
  const auto one = pools_reply({a, b}, "api");
  REQUIRE(one["pools"].size() == 1);
  CHECK(one["pools"][0]["algorithm"] == "least_conn");
}

TEST_CASE(
    "status_json: health is degraded naming each pool without a server, stopping while draining") {
  PoolView up{"web", "round_robin", "none", 1, false, {server("be1", "up", true)}};
  PoolView down{"api", "round_robin", "none", 1, false, {server("x", "down", false)}};
  CHECK(assess_health({up}, false).status == "ok");
  CHECK(assess_health({up}, false).reasons.empty());
  const auto degraded = assess_health({up, down}, false);
  CHECK(degraded.status == "degraded");
  REQUIRE(degraded.reasons.size() == 1);
  CHECK(degraded.reasons[0] == "pool api: no server available");
  CHECK(assess_health({up}, true).status == "stopping");
  const auto j = health_json(degraded);
  CHECK(j["status"] == "degraded");
  CHECK(j["reasons"][0] == "pool api: no server available");
}

TEST_CASE("status_json: replication without [replication] says enabled false") {
  CHECK(replication_json(std::nullopt) == nlohmann::json{{"enabled", false}});
}

TEST_CASE("status_json: replication reports sync, peer, role, tables and errors") {
  repl::ReplicationStatus st;
  st.node_id = "node-a";
  st.peer_id = "node-b";
  st.running = true;
  st.connected = true;
  st.peer_has_our_data = true;
  st.we_have_peer_data = true;
  st.role = repl::Role::master;
  st.tables.push_back({"web", 10, 9, 8, 2, 100, 0});
  st.errors["auth"] = 3;
  const auto j = replication_json(st);
  CHECK(j["enabled"] == true);
  CHECK(j["in_sync"] == true);
  CHECK(j["peer_id"] == "node-b");
  CHECK(j["role"] == "master");
  CHECK(j["tables"][0]["name"] == "web");
  CHECK(j["tables"][0]["backlog"] == 2);
  CHECK(j["tables"][0]["entries"] == 100);
  CHECK(j["errors"]["auth"] == 3);
  st.we_have_peer_data = false;
  CHECK(replication_json(st)["in_sync"] == false);
}

TEST_CASE("status_json: a stick table dump is bounded and prints address keys as text") {
  std::vector<StickEntryView> entries;
  for (int i = 0; i < 5; ++i) {
    entries.push_back(
        {stick_key::from_address(*lb::IpAddress::parse("192.0.2." + std::to_string(i))), "be1",
         std::chrono::seconds(30), StickOrigin::remote, 1});
  }
  const auto j = table_json("web", 9, entries, 3);
  CHECK(j["pool"] == "web");
  CHECK(j["size"] == 9);
  CHECK(j["shown"] == 3);
  CHECK(j["truncated"] == true);
  REQUIRE(j["entries"].size() == 3);
  CHECK(j["entries"][0]["key"] == "192.0.2.0");
  CHECK(j["entries"][0]["server"] == "be1");
  CHECK(j["entries"][0]["ttl_ms"] == 30000);
  CHECK(j["entries"][0]["origin"] == "remote");
}

TEST_CASE("status_json: connections list local then remote, at most limit rows, with ages") {
  const auto now = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  repl::ConnEntry c;
  c.client = *lb::Endpoint::parse("192.0.2.50:40000");
  c.listener = "tcp";
  c.pool = "web";
  c.backend = "be2";
  c.start = now - std::chrono::milliseconds(250);
  std::vector<repl::ConnEntry> local(2, c), remote(2, c);
  const auto j = conns_json(2, 40, local, remote, 3, now);
  CHECK(j["local"] == 2);
  CHECK(j["remote"] == 40);
  CHECK(j["shown"] == 3);
  CHECK(j["truncated"] == true);
  REQUIRE(j["connections"].size() == 3);
  CHECK(j["connections"][0]["side"] == "local");
  CHECK(j["connections"][2]["side"] == "remote");
  CHECK(j["connections"][0]["client"] == "192.0.2.50:40000");
  CHECK(j["connections"][0]["server"] == "be2");
  CHECK(j["connections"][0]["mode"] == "l4");
  CHECK(j["connections"][0]["age_ms"] == 250);
}

TEST_CASE("status_json: roles list each vrid and the node role") {
  RoleTracker t;
  t.update({"web4", 51, "eth0", "master", "backup", "no advert", {}});
  const auto j = roles_json(t.view());
  CHECK(j["role"] == "master");
  REQUIRE(j["vrids"].size() == 1);
  CHECK(j["vrids"][0]["instance"] == "web4");
  CHECK(j["vrids"][0]["vrid"] == 51);
  CHECK(j["vrids"][0]["state"] == "master");
  CHECK(j["vrids"][0]["from"] == "backup");
}

TEST_CASE("status_json: the node status holds every section the status page reads") {
  NodeStatus st;
  st.version = "0.1.0";
  st.pools.push_back(PoolView{"web", "round_robin", "none", 1, false, {server("be1", "up", true)}});
  st.active_connections = 4;
  const auto j = node_status_json(st);
  for (const char* key :
       {"version", "active_connections", "reloads", "pools", "replication", "roles", "health"}) {
    CHECK_MESSAGE(j.contains(key), key);
  }
  CHECK(j["replication"]["enabled"] == false);
  CHECK(j["roles"]["role"] == "unknown");
  CHECK(j["health"]["status"] == "ok");
}
