// The health manager with real checks against loopback backends: exact rise/fall counts, start
// period, one snapshot per flip, all-down logging, drain/maint and backups.
#include <unistd.h>

#include <cstdio>

#include <doctest/doctest.h>

#include "lbd/upstream/health_manager.hpp"
#include "tests/integration/health_test_backend.hpp"
#include "tests/integration/health_test_support.hpp"

using lbtest::ControlThread;
using lbtest::HealthTestBackend;
using lbtest::SnapshotRecorder;
using lbtest::test_pool;
using lbtest::wait_until;
using Mode = HealthTestBackend::Mode;
using namespace std::chrono_literals;

namespace {

/// A manager on its own control thread, started on construction, stopped on destruction.
struct Harness {
  Harness(const lbd::PoolConfig& pool_config, lbd::HealthManager::Options options = {})
      : pool(pool_config), backends(lbd::make_backends(pool)) {
    manager = std::make_unique<lbd::HealthManager>(control.io(), pool, backends,
                                                   recorder.callback(), options);
  }
  void start() {
    control.call([&] { manager->start(); });
  }
  ~Harness() {
    control.call([&] { manager->stop(); });
    control.stop();
  }
  lbd::PoolConfig pool;
  std::vector<std::shared_ptr<const lbd::Backend>> backends;
  SnapshotRecorder recorder;
  ControlThread control;
  std::unique_ptr<lbd::HealthManager> manager;
};

}  // namespace

TEST_CASE(
    "health_manager: a server goes down after exactly `fall` failed checks and up after "
    "exactly `rise` good ones") {
  HealthTestBackend server;
  auto pool = test_pool({{"a", server.endpoint()}}, lbd::HealthCheckType::http);
  pool.servers[0].health.check.fall = 3;
  pool.servers[0].health.check.rise = 2;
  Harness h(pool);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> at_publish;  // (failures, successes)
  h.recorder.on_publish = [&](const lbd::PoolSnapshot&) {
    at_publish.emplace_back(server.failures(), server.successes());
  };
  lbtest::LogCapture logs;
  h.start();
  REQUIRE(h.recorder.count() == 1);
  CHECK(h.recorder.candidates() == "a:1");
  REQUIRE(wait_until([&] { return server.successes() >= 2; }, 5s));

  const auto failures_before = server.failures();
  server.set_mode(Mode::status503);
  REQUIRE(h.recorder.wait_candidates(""));
  REQUIRE(h.recorder.count() == 2);
  // Checks of one server are sequential, so at the moment of publishing exactly `fall` failing
  // responses were served since the switch.
  CHECK(at_publish[1].first - failures_before == 3);
  CHECK(logs.count("server down: pool=p server=a reason=\"status 503\"") == 1);

  const auto successes_before = server.successes();
  server.set_mode(Mode::up);
  REQUIRE(h.recorder.wait_candidates("a:1"));
  REQUIRE(h.recorder.count() == 3);
  CHECK(at_publish[2].second - successes_before == 2);
  CHECK(logs.count("server up: pool=p server=a") == 1);
  CHECK(h.control.call([&] { return h.manager->flips(); }) == 2);
}

TEST_CASE("health_manager: failures during start_period do not take a server down") {
  HealthTestBackend server;
  server.set_mode(Mode::refusing);
  auto pool = test_pool({{"a", server.endpoint()}}, lbd::HealthCheckType::tcp);
  pool.servers[0].health.check.fall = 1;
  pool.servers[0].health.check.start_period = 400ms;
  Harness h(pool);
  const auto t0 = std::chrono::steady_clock::now();
  h.start();
  REQUIRE(h.recorder.wait_candidates(""));
  // With fall = 1 and a 20 ms interval the first failure would take it down at once.
  CHECK(std::chrono::steady_clock::now() - t0 >= 400ms);
  auto status = h.control.call([&] { return h.manager->status(); });
  CHECK(status.at(0).failed_checks >= 5);
  CHECK(status.at(0).last_reason == "connect: connection refused");
}

TEST_CASE("health_manager: initial_state = down keeps a server out until it passes `rise` checks") {
  HealthTestBackend server;
  auto pool = test_pool({{"a", server.endpoint()}}, lbd::HealthCheckType::tcp);
  pool.servers[0].health.check.initially_up = false;
  Harness h(pool);
  h.start();
  CHECK(h.recorder.candidates() == "");
  REQUIRE(h.recorder.wait_candidates("a:1"));
  CHECK(h.recorder.count() == 2);
}

TEST_CASE("health_manager: each flip publishes exactly one snapshot and all-down is logged once") {
  HealthTestBackend s1;
  HealthTestBackend s2;
  auto pool = test_pool({{"a", s1.endpoint()}, {"b", s2.endpoint()}}, lbd::HealthCheckType::tcp);
  lbtest::LogCapture logs;
  Harness h(pool);
  h.start();
  CHECK(h.recorder.candidates() == "a:1,b:1");
  s1.set_mode(Mode::refusing);
  REQUIRE(h.recorder.wait_candidates("b:1"));
  CHECK(h.recorder.count() == 2);
  s2.set_mode(Mode::refusing);
  REQUIRE(h.recorder.wait_candidates(""));
  CHECK(h.recorder.count() == 3);
  // Let many more failing checks run: no more snapshots, no more log lines.
  std::this_thread::sleep_for(200ms);
  CHECK(h.recorder.count() == 3);
  CHECK(logs.count("pool down: pool=p") == 1);
  CHECK(logs.count("server down:") == 2);
  CHECK(h.recorder.last()->accepts_sticky(h.backends[0].get()) == false);
  s1.set_mode(Mode::up);
  s2.set_mode(Mode::up);
  REQUIRE(h.recorder.wait_candidates("a:1,b:1"));
  CHECK(h.recorder.count() == 5);
  CHECK(logs.count("pool up: pool=p") == 1);
  CHECK(h.control.call([&] { return h.manager->flips(); }) == 4);
  // Generations increase by one per published snapshot.
  for (std::size_t i = 0; i < h.recorder.count(); ++i) {
    CHECK(h.recorder.at(i)->generation == i + 1);
  }
}

TEST_CASE("health_manager: drain keeps sticky clients, maint removes the server, checks go on") {
  HealthTestBackend s1;
  HealthTestBackend s2;
  auto pool = test_pool({{"a", s1.endpoint()}, {"b", s2.endpoint()}}, lbd::HealthCheckType::tcp);
  pool.servers[1].health.state = lbd::AdminState::drain;
  Harness h(pool);
  h.start();
  CHECK(h.recorder.candidates() == "a:1");
  const auto* b = h.backends[1].get();
  CHECK(h.recorder.last()->accepts_sticky(b));
  CHECK(h.recorder.last()->state_of(b)->admin == lbd::AdminState::drain);

  CHECK(h.control.call([&] { return h.manager->set_admin_state("b", lbd::AdminState::maint); }));
  CHECK(h.recorder.count() == 2);
  CHECK_FALSE(h.recorder.last()->accepts_sticky(b));
  const auto connections = s2.connections();
  CHECK(wait_until([&] { return s2.connections() >= connections + 3; }, 5s));  // still checked

  CHECK(h.control.call([&] { return h.manager->set_admin_state("b", lbd::AdminState::ready); }));
  CHECK(h.recorder.candidates() == "a:1,b:1");
  CHECK(h.control.call([&] { return h.manager->set_weight("a", 5); }));
  CHECK(h.recorder.candidates() == "a:5,b:1");
  // Same state again: nothing to publish.
  CHECK(h.control.call([&] { return h.manager->set_weight("a", 5); }));
  CHECK(h.recorder.count() == 4);
  auto unknown =
      h.control.call([&] { return h.manager->set_admin_state("zz", lbd::AdminState::drain); });
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "pool p has no server \"zz\"");
}

TEST_CASE("health_manager: backup servers take traffic only while every primary is down") {
  HealthTestBackend primary;
  HealthTestBackend spare;
  auto pool = test_pool({{"a", primary.endpoint()}, {"spare", spare.endpoint()}},
                        lbd::HealthCheckType::tcp);
  pool.servers[1].backup = true;
  Harness h(pool);
  h.start();
  CHECK(h.recorder.candidates() == "a:1");
  primary.set_mode(Mode::refusing);
  REQUIRE(h.recorder.wait_candidates("spare:1"));
  CHECK(h.recorder.last()->using_backups);
  primary.set_mode(Mode::up);
  REQUIRE(h.recorder.wait_candidates("a:1"));
  CHECK_FALSE(h.recorder.last()->using_backups);
}

TEST_CASE("health_manager: after a first failure the fast interval confirms the fall quickly") {
  HealthTestBackend server;
  auto pool = test_pool({{"a", server.endpoint()}}, lbd::HealthCheckType::tcp);
  auto& c = pool.servers[0].health.check;
  c.interval = 500ms;
  c.jitter = 0ms;
  c.fast_interval = 10ms;
  c.fall = 3;
  Harness h(pool);
  h.start();
  const auto t0 = std::chrono::steady_clock::now();
  server.set_mode(Mode::refusing);
  REQUIRE(h.recorder.wait_candidates(""));
  // At the normal interval the 2nd and 3rd failures alone would take 1 s.
  CHECK(std::chrono::steady_clock::now() - t0 < 900ms);
}

TEST_CASE("health_manager: an exec check flips the server with the command's exit status") {
  const std::string flag = "/tmp/lbd-health-test-" + std::to_string(::getpid()) + ".up";
  std::FILE* f = std::fopen(flag.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fclose(f);
  auto pool = test_pool({{"a", *lb::Endpoint::parse("127.0.0.1:1")}}, lbd::HealthCheckType::exec);
  pool.servers[0].health.check.command = "test -f " + flag;
  pool.servers[0].health.check.timeout = 2s;
  lbtest::LogCapture logs;
  Harness h(pool);
  h.start();
  std::remove(flag.c_str());
  REQUIRE(h.recorder.wait_candidates(""));
  CHECK(logs.count("server down: pool=p server=a reason=\"exit status 1\"") == 1);
  f = std::fopen(flag.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fclose(f);
  REQUIRE(h.recorder.wait_candidates("a:1"));
  std::remove(flag.c_str());
}
