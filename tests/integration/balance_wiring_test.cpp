// Balancing inputs from real traffic: hashing algorithms get the pool's hash_key from the request
// (the proxy's wiring), least_time gets latency samples and so prefers the faster backend.
#include <map>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;

TEST_CASE("balance: ring_hash on a header key sends equal keys to one server and spreads keys") {
  Origin o0("s0"), o1("s1"), o2("s2");
  TestBackend b0(o0.handler()), b1(o1.handler()), b2(o2.handler());
  HttpConfig c{.pools = {{"app", {b0.address(), b1.address(), b2.address()}}}};
  c.pool_extra = "algorithm = \"ring_hash\"\nhash_key = \"header:X-User\"\n";
  InProcessLbd lbd(c.text());
  std::map<std::string, std::string> owner;
  for (int round = 0; round < 5; ++round) {
    for (int user = 0; user < 30; ++user) {
      const auto name = fmt::format("user-{}", user);
      auto res =
          round_trip(lbd.endpoint("web"), get("/", "example.com", "X-User: " + name + "\r\n"));
      REQUIRE(res);
      const auto who = header(res->base(), "X-Backend");
      if (round == 0) owner[name] = who;
      CHECK(owner[name] == who);
    }
  }
  std::set<std::string> used;
  for (const auto& [user, who] : owner) used.insert(who);
  CHECK(used.size() == 3);
}

TEST_CASE("balance: least_time prefers the backend that answers faster") {
  Origin fast("fast");
  Origin slow("slow", [](const Request&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    Response res{http::status::ok, 11};
    res.set("X-Backend", "slow");
    res.body() = "slow";
    res.prepare_payload();
    return res;
  });
  TestBackend bf(fast.handler()), bs(slow.handler());
  HttpConfig c{.pools = {{"app", {bf.address(), bs.address()}}}};
  c.pool_extra = "algorithm = \"least_time\"\n";
  InProcessLbd lbd(c.text());
  int fast_count = 0;
  for (int i = 0; i < 40; ++i) {
    auto res = round_trip(lbd.endpoint("web"), get("/"));
    REQUIRE(res);
    if (header(res->base(), "X-Backend") == "fast") ++fast_count;
  }
  CHECK(fast_count >= 35);
}

TEST_CASE("balance: a tcp listener's pool may only hash on source_ip") {
  lb::config::Diagnostics diags;
  lbd::load_config_from_string(
      "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"app\"\n"
      "[[pool]]\nname = \"app\"\nalgorithm = \"maglev\"\nhash_key = \"header:X-U\"\n"
      "[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n",
      "t.toml", diags);
  REQUIRE(diags.items().size() == 1);
  CHECK(diags.items()[0].to_string().find("source_ip only") != std::string::npos);
}
