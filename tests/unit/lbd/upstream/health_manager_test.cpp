// The health manager's control-thread logic without any check running (the io_context is never
// run): initial snapshot, admin API, publish-once-per-change, reload inheritance.
#include "lbd/upstream/health_manager.hpp"

#include <doctest/doctest.h>

using lbd::AdminState;
using lbd::HealthCheckType;
using lbd::HealthManager;

namespace {

lbd::PoolConfig pool_of(std::initializer_list<const char*> names, HealthCheckType type,
                        bool initially_up = true) {
  lbd::PoolConfig pool;
  pool.name = "p";
  std::uint16_t port = 9000;
  for (const char* n : names) {
    lbd::ServerConfig s;
    s.name = n;
    s.address = *lb::Endpoint::parse("127.0.0.1:" + std::to_string(port++));
    s.weight = 2;
    s.health.check.type = type;
    s.health.check.initially_up = initially_up;
    pool.servers.push_back(s);
  }
  return pool;
}

std::string names(const lbd::PoolSnapshotPtr& s) {
  std::string out;
  for (const auto& c : s->candidates) out += (out.empty() ? "" : ",") + c.backend->name;
  return out;
}

}  // namespace

TEST_CASE("health_manager: start publishes generation 1 with every ready server") {
  lb::asio::io_context io;
  auto pool = pool_of({"a", "b"}, HealthCheckType::none);
  std::vector<lbd::PoolSnapshotPtr> got;
  HealthManager m(io, pool, lbd::make_backends(pool), [&](auto s) { got.push_back(s); });
  m.start();
  REQUIRE(got.size() == 1);
  CHECK(got[0]->generation == 1);
  CHECK(got[0]->pool_name == "p");
  CHECK(names(got[0]) == "a,b");
  CHECK(got[0]->candidates[0].weight == 2);
  CHECK(m.snapshot() == got[0]);
}

TEST_CASE("health_manager: type none ignores initial_state down (nothing could bring it up)") {
  lb::asio::io_context io;
  auto pool = pool_of({"a"}, HealthCheckType::none, /*initially_up=*/false);
  std::vector<lbd::PoolSnapshotPtr> got;
  HealthManager m(io, pool, lbd::make_backends(pool), [&](auto s) { got.push_back(s); });
  m.start();
  CHECK(names(got.back()) == "a");
}

TEST_CASE("health_manager: admin changes publish once each, repeats publish nothing") {
  lb::asio::io_context io;
  auto pool = pool_of({"a", "b"}, HealthCheckType::none);
  std::vector<lbd::PoolSnapshotPtr> got;
  HealthManager m(io, pool, lbd::make_backends(pool), [&](auto s) { got.push_back(s); });
  m.start();
  REQUIRE(m.set_admin_state("a", AdminState::drain));
  REQUIRE(m.set_admin_state("a", AdminState::drain));
  CHECK(got.size() == 2);
  CHECK(names(got.back()) == "b");
  REQUIRE(m.set_weight("b", 0));
  CHECK(got.size() == 3);
  CHECK(names(got.back()).empty());
  CHECK_FALSE(m.set_weight("b", 257));
  CHECK(m.publishes() == 3);
  m.stop();
  REQUIRE(m.set_admin_state("a", AdminState::ready));
  CHECK(got.size() == 3);  // stopped: no more publishing
}

TEST_CASE("health_manager: a reload inherits up/down of servers with the same name and check") {
  lb::asio::io_context io;
  auto old_pool = pool_of({"a", "b"}, HealthCheckType::tcp, /*initially_up=*/false);
  HealthManager old(io, old_pool, lbd::make_backends(old_pool), [](auto) {});
  auto new_pool = pool_of({"a", "b", "c"}, HealthCheckType::tcp, /*initially_up=*/true);
  new_pool.servers[1].health.check.type = HealthCheckType::http;  // check changed: no inheritance
  std::vector<lbd::PoolSnapshotPtr> got;
  HealthManager fresh(io, new_pool, lbd::make_backends(new_pool),
                      [&](auto s) { got.push_back(s); });
  fresh.inherit(old);
  fresh.start();
  CHECK(names(got.back()) == "b,c");
  old.stop();
  fresh.stop();
}

namespace {

// Answers every probe at once, successfully.
struct InstantChecker : lbd::HealthChecker {
  lb::awaitable<lb::Result<void>> probe(const lbd::Backend&, std::chrono::nanoseconds) override {
    co_return lb::Result<void>{};
  }
};

}  // namespace

TEST_CASE("health_manager: the first round is done once every checked server finished a check") {
  lb::asio::io_context io;
  auto pool = pool_of({"a", "b"}, HealthCheckType::tcp, /*initially_up=*/false);
  pool.servers[0].health.check.interval = std::chrono::milliseconds(5);
  pool.servers[1].health.check.interval = std::chrono::milliseconds(5);
  HealthManager::Options options;
  options.make_checker = [](const lbd::HealthCheckConfig&) {
    return std::make_unique<InstantChecker>();
  };
  HealthManager m(
      io, pool, lbd::make_backends(pool), [](auto) {}, options);
  CHECK_FALSE(m.round_done());
  m.start();
  CHECK_FALSE(m.round_done());  // started, nothing answered yet
  for (int i = 0; i < 200 && !m.round_done(); ++i) io.run_for(std::chrono::milliseconds(5));
  CHECK(m.round_done());
  // A reload's manager takes the finished round over with the states.
  HealthManager fresh(
      io, pool, lbd::make_backends(pool), [](auto) {}, options);
  fresh.inherit(m);
  CHECK(fresh.round_done());
  m.stop();
  fresh.stop();
}

// Fails every probe at once.
struct FailingChecker : lbd::HealthChecker {
  lb::awaitable<lb::Result<void>> probe(const lbd::Backend&, std::chrono::nanoseconds) override {
    co_return lb::fail("refused");
  }
};

TEST_CASE(
    "health_manager: a round begun after a fault waits for a fresh check of every server and "
    "for flips under way to finish") {
  lb::asio::io_context io;
  auto pool = pool_of({"a"}, HealthCheckType::tcp, /*initially_up=*/true);
  pool.servers[0].health.check.interval = std::chrono::milliseconds(5);
  pool.servers[0].health.check.fast_interval = std::chrono::milliseconds(5);
  pool.servers[0].health.check.rise = 3;
  HealthManager::Options options;
  options.make_checker = [](const lbd::HealthCheckConfig&) {
    return std::make_unique<FailingChecker>();
  };
  HealthManager m(
      io, pool, lbd::make_backends(pool), [](auto) {}, options);
  m.start();
  const auto run_until = [&io](auto done) {
    for (int i = 0; i < 400 && !done(); ++i) io.run_for(std::chrono::milliseconds(5));
    return done();
  };
  // The server goes down (the node's link is down: every check fails); the round is done.
  REQUIRE(run_until([&] { return !m.status()[0].up && m.round_done(); }));
  m.start_round();
  CHECK_FALSE(m.round_done());  // no check since the round began
  REQUIRE(run_until([&] { return m.round_done(); }));
  CHECK_FALSE(m.status()[0].up);  // still failing: settled as down, which is current
  m.stop();
}

TEST_CASE("health_manager: a server rising after a fault keeps the round open until it is up") {
  lb::asio::io_context io;
  auto pool = pool_of({"a"}, HealthCheckType::tcp, /*initially_up=*/false);
  pool.servers[0].health.check.interval = std::chrono::milliseconds(5);
  pool.servers[0].health.check.fast_interval = std::chrono::milliseconds(5);
  pool.servers[0].health.check.rise = 3;
  HealthManager::Options options;
  options.make_checker = [](const lbd::HealthCheckConfig&) {
    return std::make_unique<InstantChecker>();
  };
  HealthManager m(
      io, pool, lbd::make_backends(pool), [](auto) {}, options);
  m.start_round();
  m.start();
  bool seen_rising_open = false;
  for (int i = 0; i < 400 && !m.round_done(); ++i) {
    io.run_for(std::chrono::milliseconds(1));
    const auto st = m.status()[0];
    if (st.checks > 0 && !st.up && !m.round_done()) seen_rising_open = true;
  }
  CHECK(seen_rising_open);  // answered, but half-way through its rise: not done
  CHECK(m.round_done());
  CHECK(m.status()[0].up);  // done only once the server is up
  m.stop();
}

TEST_CASE("health_manager: a pool without active checks has its first round done at once") {
  lb::asio::io_context io;
  auto pool = pool_of({"a"}, HealthCheckType::none);
  HealthManager m(io, pool, lbd::make_backends(pool), [](auto) {});
  CHECK(m.round_done());
}
