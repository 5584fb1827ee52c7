// How the VRRP roles of several virtual routers add up to one node role.
#include "lbd/admin/role_tracker.hpp"

#include <doctest/doctest.h>

using lbd::admin::RoleTracker;
using lbd::admin::VridRole;
using lbd::repl::Role;

namespace {
VridRole report(std::string instance, std::uint32_t vrid, std::string state) {
  return VridRole{std::move(instance), vrid, "eth0", std::move(state), "", "", {}};
}
}  // namespace

TEST_CASE("role_tracker: unknown until vrrpd reports, then backup") {
  RoleTracker t;
  CHECK(t.node_role() == Role::unknown);
  CHECK(t.update(report("web4", 51, "backup")));
  CHECK(t.node_role() == Role::backup);
  CHECK_FALSE(t.update(report("web4", 51, "backup")));
}

TEST_CASE("role_tracker: master of any vrid makes the node master (active-active)") {
  RoleTracker t;
  t.update(report("web4", 51, "backup"));
  CHECK(t.update(report("web6", 61, "master")));
  CHECK(t.node_role() == Role::master);
  // The other VRID moving does not change the node role while one is still master.
  CHECK_FALSE(t.update(report("web4", 51, "fault")));
  CHECK(t.node_role() == Role::master);
  CHECK(t.update(report("web6", 61, "backup")));
  CHECK(t.node_role() == Role::backup);
}

TEST_CASE("role_tracker: a later report of an instance replaces the earlier one") {
  RoleTracker t;
  t.update(report("web4", 51, "master"));
  t.update(report("web4", 51, "initialize"));
  const auto v = t.view();
  REQUIRE(v.vrids.size() == 1);
  CHECK(v.vrids[0].state == "initialize");
  CHECK(v.node_role == Role::backup);
}

TEST_CASE("role_tracker: the VIPs of the instances not master here are the released ones") {
  RoleTracker t;
  auto a = report("web4", 51, "master");
  a.vips = {*lb::IpAddress::parse("192.0.2.10")};
  auto b = report("web6", 61, "master");
  b.vips = {*lb::IpAddress::parse("2001:db8::10")};
  t.update(a);
  t.update(b);
  CHECK(t.released_vips().empty());
  a.state = "backup";  // handed over: the node may still hold it while it drains
  t.update(a);
  CHECK(t.released_vips() == std::vector<lb::IpAddress>{*lb::IpAddress::parse("192.0.2.10")});
  a.state = "master";
  t.update(a);
  CHECK(t.released_vips().empty());
}
