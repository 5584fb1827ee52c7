// The health subsystem wired into the running proxy: active checks take a refusing
// server out of real traffic, a pool without candidates answers 503 + Retry-After (HTTP) or
// closes (TCP), backup servers take over when the primaries are down.
#include <unistd.h>

#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/http_support.hpp"

using namespace lbtest;

namespace {

constexpr const char* kFastTcpCheck =
    "[pool.health]\ntype = \"tcp\"\ninterval = \"30ms\"\nfast_interval = \"20ms\"\n"
    "timeout = \"200ms\"\nrise = 1\nfall = 2\n";

std::string http_pool(const std::string& pool_keys, const std::string& servers) {
  return "[global]\nworkers = 2\nlog_level = \"warn\"\n"
         "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nmode = \"http\"\npool = \"app\"\n"
         "[[pool]]\nname = \"app\"\nconnect_retries = 0\n" +
         pool_keys + servers;
}

std::string server(const std::string& name, const std::string& address,
                   const std::string& extra = "") {
  return fmt::format("[[pool.server]]\nname = \"{}\"\naddress = \"{}\"\n{}", name, address, extra);
}

// Sends up to `max` requests (10 ms apart) until `want` consecutive ones were answered 200;
// returns how many consecutive 200s it saw at the end.
int until_consecutive_ok(const lb::Endpoint& ep, int want, int max, std::string* last_backend) {
  int streak = 0;
  for (int i = 0; i < max && streak < want; ++i) {
    auto res = round_trip(ep, get("/"));
    if (res && res->result_int() == 200) {
      ++streak;
      if (last_backend) *last_backend = header(res->base(), "X-Backend");
    } else {
      streak = 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return streak;
}

}  // namespace

TEST_CASE("health: a refusing server is skipped by real traffic after fall failed checks") {
  Origin good("good");
  TestBackend live(good.handler());
  InProcessLbd lbd(
      http_pool(kFastTcpCheck, server("dead", dead_address()) + server("live", live.address())));
  std::string who;
  CHECK(until_consecutive_ok(lbd.endpoint("web"), 30, 500, &who) == 30);
  CHECK(who == "good");
}

TEST_CASE("health: with every server down HTTP answers 503 with Retry-After and a body") {
  InProcessLbd lbd(http_pool(std::string(kFastTcpCheck) + "initial_state = \"down\"\n",
                             server("dead", dead_address())));
  for (int i = 0; i < 3; ++i) {
    auto res = round_trip(lbd.endpoint("web"), get("/"));
    REQUIRE(res);
    CHECK(res->result_int() == 503);
    CHECK(header(res->base(), "Retry-After") == "1");
    CHECK(!res->body().empty());
  }
}

TEST_CASE("health: a tcp listener closes at once when its pool has no server up") {
  const auto config = fmt::format(
      "[global]\nworkers = 1\nlog_level = \"warn\"\n"
      "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"app\"\n"
      "[[pool]]\nname = \"app\"\n{}initial_state = \"down\"\n{}",
      kFastTcpCheck, server("dead", dead_address()));
  InProcessLbd lbd(config);
  const int fd = connect_to(lbd.endpoint("l4"));
  REQUIRE(fd >= 0);
  CHECK(closed_by_peer(fd, std::chrono::milliseconds(2000)));
  ::close(fd);
}

TEST_CASE("health: backup servers take over when every primary is down") {
  Origin spare("spare");
  TestBackend backup(spare.handler());
  InProcessLbd lbd(http_pool(
      kFastTcpCheck,
      server("primary", dead_address()) + server("backup", backup.address(), "backup = true\n")));
  std::string who;
  CHECK(until_consecutive_ok(lbd.endpoint("web"), 20, 500, &who) == 20);
  CHECK(who == "spare");
}

TEST_CASE("health: 5xx answers seen by the workers eject the server (passive outlier detection)") {
  Origin good("good");
  Origin bad("bad", [](const Request&) {
    Response res{http::status::internal_server_error, 11};
    res.set("X-Backend", "bad");
    res.body() = "oops";
    res.prepare_payload();
    return res;
  });
  TestBackend g(good.handler()), b(bad.handler());
  InProcessLbd lbd(
      http_pool("[pool.outlier]\nconsecutive_errors = 3\nbase_ejection_time = \"60s\"\n",
                server("good", g.address()) + server("bad", b.address())));
  std::string who;
  CHECK(until_consecutive_ok(lbd.endpoint("web"), 30, 200, &who) == 30);
  CHECK(who == "good");
  CHECK(bad.count() >= 3);
}
