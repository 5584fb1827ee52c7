#include "lbd/session/sticky_registry.hpp"

#include <doctest/doctest.h>

using namespace lbd;
using namespace std::chrono_literals;

namespace {
Config config_with(std::vector<std::pair<std::string, PersistenceOptions>> pools) {
  Config c;
  for (auto& [name, p] : pools) {
    PoolConfig pool;
    pool.name = name;
    pool.persistence = p;
    c.pools.push_back(pool);
  }
  return c;
}
PersistenceOptions mode(PersistenceMode m) {
  PersistenceOptions p;
  p.mode = m;
  return p;
}
}  // namespace

TEST_CASE("sticky registry: only stick-table modes get a table") {
  lb::ManualClock clock;
  StickyRegistry r(clock);
  auto tables = r.rebuild(config_with({{"a", mode(PersistenceMode::source_ip)},
                                       {"b", mode(PersistenceMode::cookie)},
                                       {"c", mode(PersistenceMode::none)},
                                       {"d", mode(PersistenceMode::header)},
                                       {"e", mode(PersistenceMode::learned_cookie)}}));
  CHECK(tables.size() == 3);
  CHECK(r.find("a"));
  CHECK_FALSE(r.find("b"));
  CHECK(r.find("d"));
  CHECK(r.find("e"));
  CHECK(r.find("a")->name() == "a");
}

TEST_CASE("sticky registry: a reload keeps a table with unchanged settings, renews a changed one") {
  lb::ManualClock clock;
  StickyRegistry r(clock);
  r.rebuild(config_with(
      {{"a", mode(PersistenceMode::source_ip)}, {"b", mode(PersistenceMode::source_ip)}}));
  r.find("a")->stick("k", "s1");
  r.find("b")->stick("k", "s1");
  auto b = mode(PersistenceMode::source_ip);
  b.ipv4_mask = 24;
  r.rebuild(config_with({{"a", mode(PersistenceMode::source_ip)}, {"b", b}}));
  CHECK(r.find("a")->peek("k") == "s1");
  CHECK_FALSE(r.find("b")->peek("k").has_value());
  r.rebuild(config_with({{"b", b}}));
  CHECK_FALSE(r.find("a"));
}

TEST_CASE("sticky registry: expire() removes entries past their ttl in every table") {
  lb::ManualClock clock;
  StickyRegistry r(clock);
  auto p = mode(PersistenceMode::header);
  p.ttl = 10s;
  r.rebuild(config_with({{"a", p}, {"b", p}}));
  r.find("a")->stick("k", "s1");
  r.find("b")->stick("k", "s1");
  clock.advance(11s);
  CHECK(r.expire() == 2);
  CHECK(r.find("a")->size() == 0);
}
