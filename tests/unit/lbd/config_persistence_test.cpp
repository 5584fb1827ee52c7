#include <doctest/doctest.h>

#include "lbd/config.hpp"

using namespace lbd;

TEST_CASE("config: [pool.persistence] is read into the pool") {
  lb::config::Diagnostics diags;
  auto c = load_config_from_string(
      "[[listener]]\nname = \"w\"\nbind = \"127.0.0.1:0\"\nmode = \"http\"\npool = \"app\"\n"
      "[[pool]]\nname = \"app\"\n[pool.persistence]\nmode = \"header\"\nheader = \"X-S\"\n"
      "ttl = \"5m\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n",
      "t.toml", diags);
  REQUIRE(diags.empty());
  const auto& p = c.find_pool("app")->persistence;
  CHECK(p.mode == PersistenceMode::header);
  CHECK(p.header == "X-S");
  CHECK(p.ttl == std::chrono::minutes(5));
}

TEST_CASE("config: an unknown key in [pool.persistence] is an error") {
  lb::config::Diagnostics diags;
  load_config_from_string(
      "[[listener]]\nname = \"w\"\nbind = \"127.0.0.1:0\"\nmode = \"http\"\npool = \"app\"\n"
      "[[pool]]\nname = \"app\"\n[pool.persistence]\nmode = \"source_ip\"\nbogus = 1\n"
      "[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n",
      "t.toml", diags);
  CHECK_FALSE(diags.empty());
}
