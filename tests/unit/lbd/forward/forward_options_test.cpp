#include "lbd/forward/forward_options.hpp"

#include <doctest/doctest.h>

using lbd::Algorithm;
using lbd::PersistenceMode;
using lbd::forward::Selector;
using lbd::forward::selector_for;

namespace {

lbd::BalanceOptions balance_with(Algorithm a) {
  lbd::BalanceOptions b;
  b.algorithm = a;
  return b;
}

}  // namespace

TEST_CASE("forward options: maglev, source_hash, round_robin and random map to kernel selectors") {
  CHECK(selector_for(balance_with(Algorithm::maglev), PersistenceMode::none) ==
        Selector::tuple_hash);
  CHECK(selector_for(balance_with(Algorithm::source_hash), PersistenceMode::none) ==
        Selector::source_hash);
  CHECK(selector_for(balance_with(Algorithm::round_robin), PersistenceMode::none) ==
        Selector::round_robin);
  CHECK(selector_for(balance_with(Algorithm::random), PersistenceMode::none) == Selector::random);
}

TEST_CASE("forward options: source_ip persistence hashes the source whatever the algorithm") {
  CHECK(selector_for(balance_with(Algorithm::round_robin), PersistenceMode::source_ip) ==
        Selector::source_hash);
  CHECK(selector_for(balance_with(Algorithm::maglev), PersistenceMode::source_ip) ==
        Selector::source_hash);
}

TEST_CASE("forward options: algorithms needing live state and payload persistence are refused") {
  for (auto a : {Algorithm::least_conn, Algorithm::p2c, Algorithm::least_time, Algorithm::ring_hash,
                 Algorithm::agent}) {
    const auto s = selector_for(balance_with(a), PersistenceMode::none);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().find(lbd::algorithm_name(a)) != std::string::npos);
  }
  CHECK_FALSE(selector_for(balance_with(Algorithm::maglev), PersistenceMode::cookie).has_value());
  auto bounded = balance_with(Algorithm::maglev);
  bounded.hash_balance_factor = 1.25;
  CHECK_FALSE(selector_for(bounded, PersistenceMode::none).has_value());
}
