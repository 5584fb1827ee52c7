// least_time: peak-EWMA latency feeding (manual clock) and the choice of the least
// latency × (active + 1) ÷ weight.
#include "lbd/balance/least_time.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "lbd/balance/rng.hpp"
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

namespace {

// The choice least_time must make, written the plain way (one double cost per candidate, a scan
// from `start` that keeps the first strictly cheaper one): the reference for the optimised loop.
const lbd::Backend* reference_pick(const lbd::PoolSnapshot& s, std::size_t start, double unsampled,
                                   const lbd::Backend* avoid) {
  const auto& c = s.candidates;
  const std::size_t n = c.size();
  auto least = [&](const lbd::Backend* skip) {
    std::size_t best = n;
    double best_cost = 0;
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t i = (start + j) % n;
      const auto latency = c[i].backend->latency_ewma_ns.load();
      const double l = latency != 0 ? static_cast<double>(latency) : unsampled;
      const double cost =
          l * (static_cast<double>(c[i].backend->active.load()) + 1.0) * (1.0 / c[i].weight);
      if ((best == n || cost < best_cost) && c[i].backend != skip) {
        best = i;
        best_cost = cost;
      }
    }
    return best;
  };
  auto best = least(nullptr);
  if (avoid != nullptr && c[best].backend == avoid) best = least(avoid);
  return c[best].backend;
}

}  // namespace

TEST_CASE("least_time: picks match a plain reference scan (ties, avoid, sizes 2-13, huge costs)") {
  // Random pools (seeded) with few distinct latencies, weights and loads, so ties are common;
  // some trials leave servers unsampled, some use latencies and loads whose product passes 2^63.
  lbd::Rng rng(20261126);
  int mismatches = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const std::size_t n = 2 + rng.below(12);
    std::vector<std::pair<std::string, std::uint32_t>> servers;
    for (std::size_t i = 0; i < n; ++i)
      servers.emplace_back("s" + std::to_string(i), 1 + rng.below(3));
    TestPool pool(servers);
    const bool with_unsampled = trial % 4 == 1;
    const bool huge = trial % 4 == 3;
    auto random_latency = [&]() -> std::uint64_t {
      if (huge) return (std::uint64_t{1} << 40) + rng.below(3);
      return 1000 * (1 + rng.below(3));
    };
    auto random_active = [&]() -> std::uint32_t {
      if (huge) return rng.below(2) == 0 ? rng.below(4) : (std::uint32_t{1} << 31) + rng.below(3);
      return rng.below(4);
    };
    std::int64_t sum = 0, sampled = 0;
    for (const auto& b : pool.snapshot->backends) {
      const std::uint64_t latency = with_unsampled && rng.below(3) == 0 ? 0 : random_latency();
      b->latency_ewma_ns = latency;
      b->active = random_active();
      sum += static_cast<std::int64_t>(latency);
      sampled += latency != 0;
    }
    const double unsampled =
        sampled == 0 ? 1.0 : static_cast<double>(sum) / static_cast<double>(sampled);
    const std::uint64_t seed = rng.next();
    lbd::LeastTimeBalancer lt(pool.snapshot, seed);
    std::size_t start = seed % n;
    // 60 picks: below the 64 after which the mean for unsampled servers is refreshed.
    for (int p = 0; p < 60; ++p) {
      const auto& victim = pool.snapshot->backends[rng.below(static_cast<std::uint32_t>(n))];
      victim->active = random_active();
      if (victim->latency_ewma_ns.load() != 0) victim->latency_ewma_ns = random_latency();
      const lbd::Backend* avoid =
          rng.below(3) == 0
              ? pool.snapshot->backends[rng.below(static_cast<std::uint32_t>(n))].get()
              : nullptr;
      const auto* expected = reference_pick(*pool.snapshot, start, unsampled, avoid);
      const auto* got = lt.pick({.hash = std::nullopt, .avoid = avoid});
      mismatches += got != expected;
      start = (start + 1) % n;
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("least_time: a server sampled after the balancer was built is costed by its sample") {
  TestPool pool({{"a", 1}, {"b", 1}});
  lb::ManualClock clock;
  lbd::record_latency(*pool["a"], 10ms, clock.now(), 10s);
  lbd::LeastTimeBalancer lt(pool.snapshot, 0);  // b unsampled: costed at a's 10 ms
  pool["a"]->active = 1;                        // a: 20 ms, b: 10 ms
  CHECK(lt.pick({})->name == "b");
  lbd::record_latency(*pool["b"], 50ms, clock.now(), 10s);  // b: 50 ms now
  CHECK(lt.pick({})->name == "a");
  // Past the periodic refresh (every 64 picks) both are sampled and the choice stays the same.
  for (int i = 0; i < 70; ++i) CHECK(lt.pick({})->name == "a");
}
