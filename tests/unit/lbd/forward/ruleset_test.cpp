#include "lbd/forward/ruleset.hpp"

#include <doctest/doctest.h>

using lbd::forward::Selector;
using lbd::forward::Service;

namespace {

lb::Endpoint rs_ep(const char* text) { return *lb::Endpoint::parse(text); }

Service web_service() {
  Service s;
  s.listener = "web";
  s.vips = {rs_ep("192.0.2.10:80")};
  s.selector = Selector::tuple_hash;
  s.slots = 3;
  s.seed = 0x1234;
  s.targets = {rs_ep("198.51.100.1:8080"), rs_ep("198.51.100.2:8080"), rs_ep("198.51.100.1:8080")};
  return s;
}

bool rs_contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("forward ruleset: a full ruleset replaces the table and maps slots to backends") {
  const auto text = lbd::forward::full_ruleset({web_service()});
  INFO(text);
  // Created then deleted first: the transaction succeeds whether a stale table exists or not.
  CHECK(text.starts_with("table ip lbpair\ndelete table ip lbpair\ntable ip lbpair {\n"));
  CHECK(rs_contains(text,
                    "elements = { 0 : 198.51.100.1 . 8080, 1 : 198.51.100.2 . 8080, "
                    "2 : 198.51.100.1 . 8080 }"));
  CHECK(rs_contains(text,
                    "ip daddr 192.0.2.10 tcp dport 80 counter ct mark set ct mark or 0x00100000 "
                    "dnat ip to jhash ip saddr . "
                    "tcp sport . ip daddr . tcp dport mod 3 seed 0x00001234 map @svc0 "
                    "comment \"web\""));
  CHECK(rs_contains(text, "type nat hook prerouting priority dstnat"));
  CHECK_FALSE(rs_contains(text, "snat ip to"));  // gateway mode
}

TEST_CASE("forward ruleset: the selector decides the map key expression") {
  auto s = web_service();
  s.selector = Selector::source_hash;
  CHECK(rs_contains(lbd::forward::full_ruleset({s}), "jhash ip saddr mod 3 seed 0x00001234 map"));
  s.selector = Selector::round_robin;
  CHECK(rs_contains(lbd::forward::full_ruleset({s}), "dnat ip to numgen inc mod 3 map @svc0"));
  s.selector = Selector::random;
  CHECK(rs_contains(lbd::forward::full_ruleset({s}), "dnat ip to numgen random mod 3 map @svc0"));
}

TEST_CASE("forward ruleset: snat_address rewrites only the flows DNATed from the listener's VIP") {
  auto s = web_service();
  s.snat = lb::IpAddress::parse("198.51.100.254");
  const auto text = lbd::forward::full_ruleset({s});
  INFO(text);
  CHECK(rs_contains(text, "type nat hook postrouting priority srcnat"));
  CHECK(rs_contains(text,
                    "meta l4proto tcp ct status dnat ct original ip daddr 192.0.2.10 ct "
                    "original proto-dst 80 snat ip to 198.51.100.254 comment \"web\""));
}

TEST_CASE("forward ruleset: two listeners get two maps and an empty slot table no elements") {
  auto a = web_service();
  auto b = web_service();
  b.listener = "db";
  b.vips = {rs_ep("192.0.2.11:5432"), rs_ep("192.0.2.12:5432")};
  b.targets.clear();
  const auto text = lbd::forward::full_ruleset({a, b});
  INFO(text);
  CHECK(rs_contains(text, "map svc1 {\n    typeof numgen inc mod 2 : ip daddr . tcp dport\n  }\n"));
  CHECK(rs_contains(text, "ip daddr 192.0.2.11 tcp dport 5432"));
  CHECK(rs_contains(text, "ip daddr 192.0.2.12 tcp dport 5432"));
}

TEST_CASE("forward ruleset: no services only deletes, a map update flushes then adds") {
  CHECK(lbd::forward::full_ruleset({}) == "table ip lbpair\ndelete table ip lbpair\n");
  CHECK(lbd::forward::delete_table() == "table ip lbpair\ndelete table ip lbpair\n");
  const auto update = lbd::forward::map_update(0, web_service());
  CHECK(update.starts_with("flush map ip lbpair svc0\nadd element ip lbpair svc0 { 0 : "));
  auto empty = web_service();
  empty.targets.clear();
  CHECK(lbd::forward::map_update(2, empty) == "flush map ip lbpair svc2\n");
}

TEST_CASE("forward ruleset: the seed of a listener is the same on every node and run") {
  CHECK(lbd::forward::seed_for("web") == lbd::forward::seed_for(std::string("web")));
  CHECK(lbd::forward::seed_for("web") != lbd::forward::seed_for("db"));
}
