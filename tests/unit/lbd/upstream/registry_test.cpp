// UpstreamRegistry: snapshots built from the config, Backend identity kept across rebuilds,
// publish() stamping generations and reaching the sink.
#include "lbd/upstream/registry.hpp"

#include <doctest/doctest.h>

using namespace lbd;

namespace {

Config two_servers(std::uint32_t weight_b) {
  lb::config::Diagnostics diags;
  auto c = load_config_from_string(
      "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"tcp\"\npool = \"p\"\n"
      "[[pool]]\nname = \"p\"\n"
      "[[pool.server]]\nname = \"a\"\naddress = \"192.0.2.1:80\"\n"
      "[[pool.server]]\nname = \"b\"\naddress = \"192.0.2.2:80\"\nweight = " +
          std::to_string(weight_b) +
          "\n"
          "[[pool.server]]\nname = \"c\"\naddress = \"192.0.2.3:80\"\nbackup = true\n",
      "test.toml", diags);
  REQUIRE(diags.empty());
  return c;
}

}  // namespace

TEST_CASE("registry: snapshots list every backend, backups and weight 0 are not candidates") {
  UpstreamRegistry r;
  auto pools = r.rebuild(two_servers(0));
  REQUIRE(pools.size() == 1);
  CHECK(pools[0]->backends.size() == 3);
  REQUIRE(pools[0]->candidates.size() == 1);
  CHECK(pools[0]->candidates[0].backend->name == "a");
}

TEST_CASE("registry: a rebuild keeps unchanged Backends and replaces changed ones") {
  UpstreamRegistry r;
  auto first = r.rebuild(two_servers(1));
  first[0]->find("a")->active = 5;
  auto second = r.rebuild(two_servers(2));
  CHECK(second[0]->find("a") == first[0]->find("a"));  // same object: counters carry over
  CHECK(second[0]->find("a")->active == 5);
  CHECK(second[0]->find("b") != first[0]->find("b"));  // weight changed
  CHECK(second[0]->generation > first[0]->generation);
}

TEST_CASE("registry: publish stamps a new generation and reaches the sink") {
  UpstreamRegistry r;
  auto pools = r.rebuild(two_servers(1));
  std::vector<PoolSnapshotPtr> seen;
  r.set_sink([&](const PoolSnapshotPtr& s) { seen.push_back(s); });
  PoolSnapshot next = *pools[0];
  next.candidates.pop_back();
  CHECK(r.publish(next));
  REQUIRE(seen.size() == 1);
  CHECK(seen[0]->generation > pools[0]->generation);
  CHECK(r.current("p") == seen[0]);
  PoolSnapshot unknown;
  unknown.pool_name = "nope";
  CHECK_FALSE(r.publish(unknown));
  CHECK(seen.size() == 1);
}
