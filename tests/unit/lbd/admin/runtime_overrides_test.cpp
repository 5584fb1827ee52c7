// Runtime admin-state and weight overrides: kept by name across reloads, dropped when the server
// leaves the config or the config's own value for that field changes.
#include "lbd/admin/runtime_overrides.hpp"

#include <doctest/doctest.h>

using namespace lbd;
using lbd::admin::RuntimeOverrides;

namespace {

Config config_with(std::uint32_t weight, AdminState state, bool with_be2 = true) {
  Config c;
  PoolConfig p;
  p.name = "web";
  ServerConfig be1;
  be1.name = "be1";
  be1.weight = weight;
  be1.health.state = state;
  p.servers.push_back(be1);
  if (with_be2) {
    ServerConfig be2;
    be2.name = "be2";
    p.servers.push_back(be2);
  }
  c.pools.push_back(p);
  return c;
}

}  // namespace

TEST_CASE("runtime_overrides: a drain and a weight survive a reload that does not touch them") {
  RuntimeOverrides o;
  o.set_admin("web", "be1", AdminState::drain, AdminState::ready);
  o.set_weight("web", "be1", 7, 1);
  CHECK(o.reconcile(config_with(1, AdminState::ready)).empty());
  const auto* be1 = o.find("web", "be1");
  REQUIRE(be1 != nullptr);
  CHECK(be1->admin == AdminState::drain);
  CHECK(be1->weight == 7u);
}

TEST_CASE("runtime_overrides: setting the configured value again removes the override") {
  RuntimeOverrides o;
  o.set_admin("web", "be1", AdminState::maint, AdminState::ready);
  o.set_admin("web", "be1", AdminState::ready, AdminState::ready);
  CHECK(o.find("web", "be1") == nullptr);
  CHECK(o.size() == 0);
}

TEST_CASE("runtime_overrides: a server gone from the config loses its override") {
  RuntimeOverrides o;
  o.set_admin("web", "be2", AdminState::drain, AdminState::ready);
  const auto dropped = o.reconcile(config_with(1, AdminState::ready, /*with_be2=*/false));
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].find("server=be2") != std::string::npos);
  CHECK(o.find("web", "be2") == nullptr);
}

TEST_CASE("runtime_overrides: an edited configured weight or state wins over the override") {
  RuntimeOverrides o;
  o.set_admin("web", "be1", AdminState::drain, AdminState::ready);
  o.set_weight("web", "be1", 7, 1);
  // Only the weight was edited in the file: the weight override goes, the drain stays.
  CHECK(o.reconcile(config_with(2, AdminState::ready)).size() == 1);
  REQUIRE(o.find("web", "be1") != nullptr);
  CHECK(o.find("web", "be1")->admin == AdminState::drain);
  CHECK_FALSE(o.find("web", "be1")->weight.has_value());
  // Now the state too.
  CHECK(o.reconcile(config_with(2, AdminState::maint)).size() == 1);
  CHECK(o.find("web", "be1") == nullptr);
}
