// least_time: peak-EWMA latency feeding (manual clock) and the choice of the least
// latency × (active + 1) ÷ weight.
#include "lbd/balance/least_time.hpp"

#include <doctest/doctest.h>

#include <cmath>

#include "tests/unit/lbd/balance/pool_fixture.hpp"

using lbtest::TestPool;
using namespace std::chrono_literals;

TEST_CASE("least_time: the first sample and every peak are taken at once") {
  TestPool pool({{"a", 1}});
  const auto& a = *pool["a"];
  lb::ManualClock clock;
  lbd::record_latency(a, 10ms, clock.now(), 10s);
  CHECK(a.latency_ewma_ns.load() == 10'000'000);
  clock.advance(1ms);
  lbd::record_latency(a, 50ms, clock.now(), 10s);
  CHECK(a.latency_ewma_ns.load() == 50'000'000);
}

TEST_CASE("least_time: a lower sample pulls the average down by 1 - exp(-elapsed/decay)") {
  TestPool pool({{"a", 1}});
  const auto& a = *pool["a"];
  lb::ManualClock clock;
  lbd::record_latency(a, 100ms, clock.now(), 10s);
  clock.advance(10s);  // one time constant: keep e^-1 of the old value
  lbd::record_latency(a, 10ms, clock.now(), 10s);
  const double expected = 100e6 * std::exp(-1.0) + 10e6 * (1 - std::exp(-1.0));
  CHECK(static_cast<double>(a.latency_ewma_ns.load()) == doctest::Approx(expected).epsilon(1e-6));
  // Samples in quick succession barely move it; a long quiet period lets the new value win.
  const auto before = a.latency_ewma_ns.load();
  clock.advance(1ms);
  lbd::record_latency(a, 10ms, clock.now(), 10s);
  CHECK(a.latency_ewma_ns.load() > before - before / 1000);
  clock.advance(10min);
  lbd::record_latency(a, 10ms, clock.now(), 10s);
  CHECK(a.latency_ewma_ns.load() == doctest::Approx(10'000'000).epsilon(1e-6));
}

TEST_CASE("least_time: the fastest server wins, and load counts against it") {
  TestPool pool({{"a", 1}, {"b", 1}, {"c", 1}});
  lb::ManualClock clock;
  lbd::record_latency(*pool["a"], 30ms, clock.now(), 10s);
  lbd::record_latency(*pool["b"], 10ms, clock.now(), 10s);
  lbd::record_latency(*pool["c"], 20ms, clock.now(), 10s);
  lbd::LeastTimeBalancer lt(pool.snapshot, 0);
  CHECK(lt.pick({})->name == "b");
  pool["b"]->active = 2;  // 10 × 3 = 30 > c's 20 × 1
  CHECK(lt.pick({})->name == "c");
  pool["c"]->active = 1;  // c: 40, a: 30, b: 30 — tie between a and b, both beat c
  CHECK(lt.pick({})->name != "c");
}

TEST_CASE("least_time: weight divides the cost") {
  TestPool pool({{"a", 1}, {"b", 4}});
  lb::ManualClock clock;
  lbd::record_latency(*pool["a"], 10ms, clock.now(), 10s);
  lbd::record_latency(*pool["b"], 30ms, clock.now(), 10s);  // 30 / 4 < 10 / 1
  lbd::LeastTimeBalancer lt(pool.snapshot, 0);
  CHECK(lt.pick({})->name == "b");
}

TEST_CASE("least_time: a server without samples is costed at the mean of the others") {
  TestPool pool({{"a", 1}, {"b", 1}, {"new", 1}});
  lb::ManualClock clock;
  lbd::record_latency(*pool["a"], 10ms, clock.now(), 10s);
  lbd::record_latency(*pool["b"], 30ms, clock.now(), 10s);
  lbd::LeastTimeBalancer lt(pool.snapshot, 0);
  CHECK(lt.pick({})->name == "a");  // new costs 20 ms, not 0: it is not flooded
  pool["a"]->active = 1;            // a: 20 — ties with new; b: 30
  CHECK(lt.pick({})->name != "b");
  pool["a"]->active = 3;  // a: 40 > new: 20
  CHECK(lt.pick({})->name == "new");
}

TEST_CASE("least_time: with no samples at all it is least connections") {
  TestPool pool({{"a", 1}, {"b", 1}});
  pool["a"]->active = 3;
  lbd::LeastTimeBalancer lt(pool.snapshot, 0);
  CHECK(lt.pick({})->name == "b");
}
