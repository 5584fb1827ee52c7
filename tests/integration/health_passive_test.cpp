// Passive outlier detection and slow start through the health manager.
#include <doctest/doctest.h>

#include "lbd/balance/balancer.hpp"
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

TEST_CASE(
    "health_passive: consecutive errors reported by a worker eject a server, which comes "
    "back after base_ejection_time") {
  HealthTestBackend s1;
  HealthTestBackend s2;
  auto pool = test_pool({{"a", s1.endpoint()}, {"b", s2.endpoint()}}, lbd::HealthCheckType::none);
  pool.health.outlier.consecutive_errors = 3;
  pool.health.outlier.base_ejection_time = 1s;
  pool.health.outlier.max_ejection_percent = 50;
  auto backends = lbd::make_backends(pool);
  SnapshotRecorder recorder;
  lbtest::LogCapture logs;
  ControlThread control;
  lbd::HealthManager manager(control.io(), pool, backends, recorder.callback());
  control.call([&] { manager.start(); });
  CHECK(recorder.candidates() == "a:1,b:1");

  // A "worker" thread reports what it saw.
  std::thread worker([&] {
    manager.report(*backends[0], lbd::TrafficEvent::connect_failure);
    manager.report(*backends[0], lbd::TrafficEvent::success);  // resets the streak
    manager.report(*backends[0], lbd::TrafficEvent::http_5xx);
    manager.report(*backends[0], lbd::TrafficEvent::timeout);
  });
  worker.join();
  std::this_thread::sleep_for(50ms);
  CHECK(recorder.candidates() == "a:1,b:1");
  const auto t0 = std::chrono::steady_clock::now();
  manager.report(*backends[0], lbd::TrafficEvent::http_5xx);
  REQUIRE(recorder.wait_candidates("b:1"));
  CHECK(recorder.last()->state_of(backends[0].get())->ejected);
  CHECK_FALSE(recorder.last()->accepts_sticky(backends[0].get()));
  CHECK(logs.count("server ejected: pool=p server=a") == 1);

  // max_ejection_percent = 50 of 2 servers: b may not be ejected as well.
  for (int i = 0; i < 3; ++i) manager.report(*backends[1], lbd::TrafficEvent::http_5xx);
  REQUIRE(wait_until([&] { return logs.count("server not ejected: pool=p server=b") == 1; }, 5s));
  CHECK(recorder.candidates() == "b:1");

  REQUIRE(recorder.wait_candidates("a:1,b:1"));
  CHECK(std::chrono::steady_clock::now() - t0 >= 1s);
  CHECK(logs.count("server readmitted: pool=p server=a") == 1);
  CHECK(control.call([&] { return manager.ejections(); }) == 1);
  control.call([&] { manager.stop(); });
}

TEST_CASE(
    "health_passive: after recovering, a server's weight ramps up over slow_start (manual "
    "clock)") {
  HealthTestBackend s1;
  HealthTestBackend s2;
  auto pool = test_pool({{"a", s1.endpoint()}, {"b", s2.endpoint()}}, lbd::HealthCheckType::tcp);
  pool.servers[0].weight = 100;
  pool.servers[1].weight = 100;
  pool.servers[0].health.slow_start = 10s;
  auto backends = lbd::make_backends(pool);
  lb::ManualClock clock;
  SnapshotRecorder recorder;
  ControlThread control;
  lbd::HealthManager::Options options;
  options.clock = &clock;
  options.seed = 42;
  lbd::HealthManager manager(control.io(), pool, backends, recorder.callback(), options);
  control.call([&] { manager.start(); });
  CHECK(recorder.candidates() == "a:100,b:100");  // no ramp at startup

  s1.set_mode(Mode::refusing);
  REQUIRE(recorder.wait_candidates("b:100"));
  s1.set_mode(Mode::up);
  REQUIRE(recorder.wait_candidates("a:1,b:100"));
  const auto before = recorder.count();
  clock.advance(2500ms);
  control.call([&] { manager.refresh(); });
  CHECK(recorder.candidates() == "a:25,b:100");
  {
    // The ramp shows in the pick distribution of a balancer built from the snapshot.
    auto balancer = lbd::make_balancer(lbd::BalanceOptions{}, recorder.last(), 1);
    int picks_a = 0;
    for (int i = 0; i < 1250; ++i) picks_a += balancer->pick({}) == backends[0].get();
    CHECK(picks_a == 250);
  }
  clock.advance(5s);
  control.call([&] { manager.refresh(); });
  CHECK(recorder.candidates() == "a:75,b:100");
  clock.advance(2500ms);
  control.call([&] { manager.refresh(); });
  CHECK(recorder.candidates() == "a:100,b:100");
  CHECK(recorder.count() == before + 3);
  control.call([&] { manager.refresh(); });
  CHECK(recorder.count() == before + 3);  // nothing changed, nothing published
  control.call([&] { manager.stop(); });
}

TEST_CASE("health_passive: leaving maintenance also ramps up with slow start (manual clock)") {
  HealthTestBackend s1;
  auto pool = test_pool({{"a", s1.endpoint()}}, lbd::HealthCheckType::none);
  pool.servers[0].weight = 10;
  pool.servers[0].health.slow_start = 10s;
  pool.servers[0].health.state = lbd::AdminState::maint;
  auto backends = lbd::make_backends(pool);
  lb::ManualClock clock;
  SnapshotRecorder recorder;
  ControlThread control;
  lbd::HealthManager::Options options;
  options.clock = &clock;
  lbd::HealthManager manager(control.io(), pool, backends, recorder.callback(), options);
  control.call([&] { manager.start(); });
  CHECK(recorder.candidates() == "");
  REQUIRE(control.call([&] { return manager.set_admin_state("a", lbd::AdminState::ready); }));
  CHECK(recorder.candidates() == "a:1");
  clock.advance(5s);
  control.call([&] { manager.refresh(); });
  CHECK(recorder.candidates() == "a:5");
  control.call([&] { manager.stop(); });
}
