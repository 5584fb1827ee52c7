// least_conn: the least active ÷ weight wins; ties rotate so an idle pool is spread.
#include "lbd/balance/least_conn.hpp"

#include <doctest/doctest.h>

#include "tests/unit/lbd/balance/pool_fixture.hpp"

using lbtest::TestPool;

TEST_CASE("least_conn: the server with the fewest active connections is picked") {
  TestPool pool({{"a", 1}, {"b", 1}, {"c", 1}});
  pool["a"]->active = 5;
  pool["b"]->active = 2;
  pool["c"]->active = 7;
  lbd::LeastConnBalancer lc(pool.snapshot, 0);
  for (int i = 0; i < 5; ++i) CHECK(lc.pick({})->name == "b");
}

TEST_CASE("least_conn: active is divided by weight (6 on weight 4 beats 2 on weight 1)") {
  TestPool pool({{"a", 1}, {"b", 4}});
  pool["a"]->active = 2;
  pool["b"]->active = 6;
  lbd::LeastConnBalancer lc(pool.snapshot, 0);
  CHECK(lc.pick({})->name == "b");
  pool["b"]->active = 9;  // 2.25 > 2
  CHECK(lc.pick({})->name == "a");
}

TEST_CASE("least_conn: equal loads rotate a,b,c and the seed moves the start") {
  TestPool pool({{"a", 1}, {"b", 1}, {"c", 1}});
  lbd::LeastConnBalancer lc(pool.snapshot, 0);
  std::string seq;
  for (int i = 0; i < 6; ++i) seq += lc.pick({})->name;
  CHECK(seq == "abcabc");
  lbd::LeastConnBalancer seeded(pool.snapshot, 1);
  CHECK(seeded.pick({})->name == "b");
}

TEST_CASE("least_conn: connections that stay open fill servers in proportion to weight") {
  TestPool pool({{"a", 1}, {"b", 3}});
  lbd::LeastConnBalancer lc(pool.snapshot, 0);
  for (int i = 0; i < 400; ++i) ++lc.pick({})->active;
  CHECK(pool["a"]->active.load() == 100);
  CHECK(pool["b"]->active.load() == 300);
}

TEST_CASE("least_conn: weights whose lcm is huge still compare exactly (general path)") {
  // Primes: lcm ≈ 7.8e11 > 2^32, so the cross-multiplication path runs.
  TestPool pool({{"a", 251}, {"b", 241}, {"c", 239}, {"d", 233}, {"e", 229}});
  pool["a"]->active = 251;  // 1.000
  pool["b"]->active = 240;  // 0.996
  pool["c"]->active = 240;  // 1.004
  pool["d"]->active = 233;  // 1.000
  pool["e"]->active = 229;  // 1.000
  lbd::LeastConnBalancer lc(pool.snapshot, 0);
  CHECK(lc.pick({})->name == "b");
  CHECK(lc.pick({.hash = std::nullopt, .avoid = pool["b"]})->name != "c");
}
