// Rules every algorithm keeps (table-driven over all of them): an empty pool gives nullptr,
// weight 0 and non-candidates get no picks, `avoid` is honoured whenever another candidate exists,
// a lone candidate is returned even when avoided, with and without a key hash.
#include <doctest/doctest.h>

#include "lbd/balance/stable_hash.hpp"
#include "tests/unit/lbd/balance/pool_fixture.hpp"

using lbtest::TestPool;

namespace {

constexpr lbd::Algorithm kAll[] = {
    lbd::Algorithm::round_robin, lbd::Algorithm::least_conn, lbd::Algorithm::p2c,
    lbd::Algorithm::random,      lbd::Algorithm::least_time, lbd::Algorithm::source_hash,
    lbd::Algorithm::ring_hash,   lbd::Algorithm::maglev,     lbd::Algorithm::agent,
};

std::unique_ptr<lbd::Balancer> make(lbd::Algorithm a, lbd::PoolSnapshotPtr snapshot,
                                    std::uint64_t seed = 3) {
  lbd::BalanceOptions o;
  o.algorithm = a;
  o.hash_balance_factor = 0;
  auto b = lbd::make_balancer(o, std::move(snapshot), seed);
  REQUIRE(b != nullptr);
  return b;
}

lbd::PickContext ctx(int i, bool hashed, const lbd::Backend* avoid = nullptr) {
  std::optional<std::uint64_t> hash;
  if (hashed) hash = lbd::stable_hash("client-" + std::to_string(i));
  return {.hash = hash, .avoid = avoid};
}

}  // namespace

TEST_CASE("every algorithm: an empty candidate set gives nullptr") {
  TestPool none({{"a", 0}});
  auto empty = std::make_shared<lbd::PoolSnapshot>();
  for (auto a : kAll) {
    CAPTURE(std::string(lbd::algorithm_name(a)));
    CHECK(make(a, none.snapshot)->pick(ctx(0, true)) == nullptr);
    CHECK(make(a, none.snapshot)->pick(ctx(0, false)) == nullptr);
    CHECK(make(a, empty)->pick(ctx(0, false)) == nullptr);
  }
}

TEST_CASE("every algorithm: weight 0 and backends outside the candidates get no picks") {
  TestPool pool({{"zero", 0}, {"a", 1}, {"unhealthy", 5}, {"b", 2}});
  // The snapshot leaves "unhealthy" out of the candidates, and here a weight-0 entry is slipped
  // in on purpose: balancers must not trust the snapshot builder to have dropped it.
  auto s = std::make_shared<lbd::PoolSnapshot>(*pool.snapshot);
  s->candidates.clear();
  s->candidates.push_back({pool["zero"], 0});
  s->candidates.push_back({pool["a"], 1});
  s->candidates.push_back({pool["b"], 2});
  for (auto a : kAll) {
    for (bool hashed : {false, true}) {
      CAPTURE(std::string(lbd::algorithm_name(a)));
      CAPTURE(hashed);
      auto b = make(a, s);
      std::map<std::string, int> seen;
      for (int i = 0; i < 2000; ++i) {
        const auto* p = b->pick(ctx(i, hashed));
        REQUIRE(p != nullptr);
        ++seen[p->name];
        ++p->active;  // least_time prefers b (weight 2) on an idle pool; load moves it on
      }
      for (const auto& backend : s->backends) backend->active = 0;
      CHECK(seen.count("zero") == 0);
      CHECK(seen.count("unhealthy") == 0);
      // Both real candidates take picks (least_* tie-rotate; the rest spread by weight).
      CHECK(seen["a"] > 0);
      CHECK(seen["b"] > 0);
    }
  }
}

TEST_CASE("every algorithm: the avoided backend is never returned while others exist") {
  auto pool = TestPool::numbered(4);
  for (auto a : kAll) {
    for (bool hashed : {false, true}) {
      CAPTURE(std::string(lbd::algorithm_name(a)));
      CAPTURE(hashed);
      auto b = make(a, pool.snapshot);
      int hits = 0;
      for (int i = 0; i < 1000; ++i) {
        // Avoid whatever this key would get, which is what a retry after a failed connect does.
        const auto* first = b->pick(ctx(i, hashed));
        const auto* retry = b->pick(ctx(i, hashed, first));
        REQUIRE(retry != nullptr);
        hits += retry == first;
      }
      CHECK(hits == 0);
    }
  }
}

TEST_CASE("every algorithm: a lone candidate is returned even when it is the one to avoid") {
  TestPool pool({{"only", 1}, {"off", 0}});
  for (auto a : kAll) {
    CAPTURE(std::string(lbd::algorithm_name(a)));
    auto b = make(a, pool.snapshot);
    for (bool hashed : {false, true}) {
      const auto* p = b->pick(ctx(1, hashed, pool["only"]));
      REQUIRE(p != nullptr);
      CHECK(p->name == "only");
    }
  }
}

TEST_CASE("every algorithm: weights steer the share of picks (3:1) on an idle pool") {
  TestPool pool({{"heavy", 3}, {"light", 1}});
  for (auto a : kAll) {
    for (bool hashed : {false, true}) {
      CAPTURE(std::string(lbd::algorithm_name(a)));
      CAPTURE(hashed);
      auto b = make(a, pool.snapshot);
      std::map<std::string, int> seen;
      for (int i = 0; i < 8000; ++i) {
        const auto* p = b->pick(ctx(i, hashed));
        ++seen[p->name];
        // least_conn and least_time balance on load: give them the load the picks would create.
        ++p->active;
      }
      CHECK(static_cast<double>(seen["heavy"]) / 8000 == doctest::Approx(0.75).epsilon(0.05));
      for (const auto& backend : pool.snapshot->backends) backend->active = 0;
    }
  }
}
