// lbctl: the human tables operators read.
#include "lbctl/render.hpp"

#include <doctest/doctest.h>

using lbctl::render;
using nlohmann::json;

TEST_CASE("lbctl render: columns are aligned with no trailing blanks") {
  lbctl::Table t({"A", "LONG HEADER", "C"});
  t.add({"xyz", "1", ""});
  CHECK(t.str() == "A    LONG HEADER  C\nxyz  1\n");
}

TEST_CASE("lbctl render: ages read as ms, seconds, minutes, hours") {
  CHECK(lbctl::format_age_ms(json(850)) == "850ms");
  CHECK(lbctl::format_age_ms(json(1500)) == "1.5s");
  CHECK(lbctl::format_age_ms(json(123000)) == "2m03s");
  CHECK(lbctl::format_age_ms(json(7200000)) == "2h00m");
  CHECK(lbctl::format_age_ms(json(nullptr)) == "-");
}

TEST_CASE("lbctl render: show servers marks overrides and backups") {
  const json reply = json::parse(R"({"ok":true,"pools":[{"name":"web","servers":[
    {"name":"be1","address":"192.0.2.21:8080","state":"drain","weight":1,"effective_weight":0,
     "active":3,"last_check_ms":850,"reason":"","backup":false,"overrides":{"admin":"drain"}},
    {"name":"be2","address":"192.0.2.22:8080","state":"down","weight":5,"effective_weight":0,
     "active":0,"last_check_ms":null,"reason":"connect: refused","backup":true,
     "overrides":{"weight":5}}]}]})");
  CHECK(render("servers", reply) ==
        "POOL  SERVER  ADDRESS          STATE          WEIGHT  EFFECTIVE  ACTIVE  LAST CHECK  "
        "REASON\n"
        "web   be1     192.0.2.21:8080  drain*         1       0          3       850ms\n"
        "web   be2     192.0.2.22:8080  down (backup)  5*      0          0       -           "
        "connect: refused\n"
        "(* = runtime override, kept across reloads)\n");
}

TEST_CASE("lbctl render: health lists its reasons") {
  const json reply{
      {"ok", true}, {"status", "degraded"}, {"reasons", {"pool api: no server available"}}};
  CHECK(render("health", reply) == "health: degraded\n  pool api: no server available\n");
}

TEST_CASE("lbctl render: vrrp show lists instances with their VIPs") {
  const json reply = json::parse(R"({"ok":true,"instances":[{"name":"web4","vrid":51,
    "interface":"eth0","state":"master","priority":150,"effective_priority":150,
    "vips":["192.0.2.10/24"]}],"drops":{}})");
  CHECK(render("vrrp", reply) ==
        "INSTANCE  VRID  INTERFACE  STATE   PRIORITY  EFFECTIVE  VIPS\n"
        "web4      51    eth0       master  150       150        192.0.2.10/24\n");
}

TEST_CASE("lbctl render: an unexpected reply shape falls back to the JSON text") {
  const json reply{{"ok", true}, {"something", "else"}};
  CHECK(render("servers", reply) == reply.dump(2) + "\n");
}

TEST_CASE("lbctl render: replication without [replication] says so") {
  CHECK(render("replication", json{{"ok", true}, {"replication", {{"enabled", false}}}}) ==
        "replication: not configured\n");
}

TEST_CASE("lbctl render: a stick table says entry or entries and marks a truncated dump") {
  const json one = json::parse(R"({"ok":true,"tables":[{"pool":"web","size":1,"shown":1,
    "truncated":false,"entries":[{"key":"192.0.2.100","server":"be2","ttl_ms":1799000,
    "origin":"local"}]}]})");
  CHECK(render("table", one) ==
        "table web: 1 entry\nKEY          SERVER  TTL     ORIGIN\n192.0.2.100  be2     29m59s  "
        "local\n");
  const json many = json::parse(
      R"({"ok":true,"tables":[{"pool":"web","size":5,"shown":0,"truncated":true,"entries":[]}]})");
  CHECK(render("table", many) ==
        "table web: 5 entries (first 0 shown)\nKEY  SERVER  TTL  ORIGIN\n");
}

TEST_CASE("lbctl render: show forward lists slot shares, flows per backend and the ruleset") {
  const json reply = json::parse(R"({"ok":true,"forward":{"enabled":true,
    "services":[{"listener":"fwd","vips":["192.0.2.10:80"],"selector":"tuple_hash","slots":1021,
      "slots_per_backend":{"198.51.100.11:8080":511,"198.51.100.12:8080":510},
      "snat":"198.51.100.254","on_server_down":"keep"}],
    "ruleset":"table ip lbpair {\n}\n","transactions_ok":1,"transactions_failed":0,
    "map_updates":2,"conntrack":true,"flows":3,"remote_flows":0,
    "flows_per_backend":{"198.51.100.11:8080":3},"events":9,"overflows":0,"reconciles":1,
    "journaled":3,"committed":0,"failed":0,"erased":0,"ignored":0,"resets":0,
    "since_reconcile_s":1.0,"since_received_s":-1}})");
  const auto text = render("forward", reply);
  INFO(text);
  CHECK(text.find("198.51.100.11:8080=511 198.51.100.12:8080=510") != std::string::npos);
  CHECK(text.find("conntrack: flows=3") != std::string::npos);
  CHECK(text.find("198.51.100.11:8080  3") != std::string::npos);
  CHECK(text.ends_with("ruleset:\ntable ip lbpair {\n}\n"));
  CHECK(render("forward", json::parse(R"({"ok":true,"forward":{"enabled":false}})")) ==
        "forward: no forward listener configured\n");
}

TEST_CASE("lbctl render: vrrp show marks an instance draining or forwarding in a handover") {
  const json reply = json::parse(R"({"ok":true,"instances":[
    {"name":"web4","vrid":51,"interface":"eth0","state":"backup","priority":100,
     "effective_priority":100,"switched_over":false,"draining":true,"forwarding_to":"",
     "vips":["192.0.2.10/24"]},
    {"name":"web6","vrid":52,"interface":"eth0","state":"master","priority":100,
     "effective_priority":100,"switched_over":false,"draining":false,
     "forwarding_to":"192.0.2.12","vips":["192.0.2.20/24"]}]})");
  const auto text = render("vrrp", reply);
  CHECK(text.find("backup (draining)") != std::string::npos);
  CHECK(text.find("master (forwarding to 192.0.2.12)") != std::string::npos);
}
