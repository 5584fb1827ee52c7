// random and p2c: weighted shares over 100k picks (fixed seeds), load awareness of p2c, and the
// alias sampler under them.
#include <doctest/doctest.h>

#include "lbd/balance/p2c.hpp"
#include "lbd/balance/random.hpp"
#include "lbd/balance/weighted_sampler.hpp"
#include "tests/unit/lbd/balance/pool_fixture.hpp"

using lbtest::TestPool;

namespace {

constexpr int kPicks = 100'000;

double share(const std::map<std::string, int>& h, const std::string& name) {
  auto it = h.find(name);
  return it == h.end() ? 0.0 : static_cast<double>(it->second) / kPicks;
}

}  // namespace

TEST_CASE("weighted_sampler: shares follow integer weights, zero weights are never drawn") {
  lbd::WeightedSampler sampler({1, 0, 3});
  lbd::Rng rng(7);
  int counts[3] = {};
  for (int i = 0; i < kPicks; ++i) ++counts[sampler.draw(rng.next())];
  CHECK(counts[1] == 0);
  CHECK(static_cast<double>(counts[0]) / kPicks == doctest::Approx(0.25).epsilon(0.04));
  CHECK(static_cast<double>(counts[2]) / kPicks == doctest::Approx(0.75).epsilon(0.02));
  CHECK(lbd::WeightedSampler({0, 0}).empty());
  CHECK(lbd::WeightedSampler(std::vector<std::uint32_t>{}).empty());
}

TEST_CASE("random: weights 1:2:3 give shares 1/6, 1/3, 1/2 within 1% over 100k picks") {
  TestPool pool({{"a", 1}, {"b", 2}, {"c", 3}});
  lbd::RandomBalancer random(pool.snapshot, 42);
  const auto h = lbtest::histogram(random, kPicks);
  CHECK(share(h, "a") == doctest::Approx(1.0 / 6).epsilon(0.06));
  CHECK(share(h, "b") == doctest::Approx(1.0 / 3).epsilon(0.03));
  CHECK(share(h, "c") == doctest::Approx(1.0 / 2).epsilon(0.02));
}

TEST_CASE("random: the same seed repeats the same sequence, another seed does not") {
  TestPool pool = TestPool::numbered(5);
  lbd::RandomBalancer a(pool.snapshot, 1), b(pool.snapshot, 1), c(pool.snapshot, 2);
  std::string sa, sb, sc;
  for (int i = 0; i < 20; ++i) {
    sa += a.pick({})->name;
    sb += b.pick({})->name;
    sc += c.pick({})->name;
  }
  CHECK(sa == sb);
  CHECK(sa != sc);
}

TEST_CASE("p2c: on an idle pool the shares follow the weights (1:2:3) within 1%") {
  TestPool pool({{"a", 1}, {"b", 2}, {"c", 3}});
  lbd::P2cBalancer p2c(pool.snapshot, 42);
  const auto h = lbtest::histogram(p2c, kPicks);
  CHECK(share(h, "a") == doctest::Approx(1.0 / 6).epsilon(0.06));
  CHECK(share(h, "b") == doctest::Approx(1.0 / 3).epsilon(0.03));
  CHECK(share(h, "c") == doctest::Approx(1.0 / 2).epsilon(0.02));
}

TEST_CASE("p2c: a loaded server is chosen only when both draws land on it (1/9 of 3)") {
  TestPool pool({{"a", 1}, {"b", 1}, {"c", 1}});
  pool["a"]->active = 10;
  lbd::P2cBalancer p2c(pool.snapshot, 42);
  const auto h = lbtest::histogram(p2c, kPicks);
  CHECK(share(h, "a") == doctest::Approx(1.0 / 9).epsilon(0.08));
  CHECK(share(h, "b") == doctest::Approx(4.0 / 9).epsilon(0.03));
}

TEST_CASE("p2c: connections that stay open spread evenly, weighted by capacity") {
  // Every pick opens a connection that never closes: p2c must keep active ÷ weight level.
  TestPool pool({{"a", 1}, {"b", 1}, {"c", 2}});
  lbd::P2cBalancer p2c(pool.snapshot, 9);
  for (int i = 0; i < 4000; ++i) ++p2c.pick({})->active;
  CHECK(pool["a"]->active.load() == doctest::Approx(1000).epsilon(0.05));
  CHECK(pool["b"]->active.load() == doctest::Approx(1000).epsilon(0.05));
  CHECK(pool["c"]->active.load() == doctest::Approx(2000).epsilon(0.05));
}
