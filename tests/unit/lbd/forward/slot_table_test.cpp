#include "lbd/forward/slot_table.hpp"

#include <doctest/doctest.h>

#include <map>

#include "tests/unit/lbd/balance/pool_fixture.hpp"

namespace {

std::map<std::string, int> slot_shares(const std::vector<const lbd::Backend*>& table) {
  std::map<std::string, int> out;
  for (const auto* b : table) ++out[b->name];
  return out;
}

std::vector<std::string> slot_names(const std::vector<const lbd::Backend*>& table) {
  std::vector<std::string> out;
  for (const auto* b : table) out.push_back(b->name);
  return out;
}

}  // namespace

TEST_CASE("forward slot table: every slot has an owner and shares follow weights 3:1") {
  lbtest::TestPool pool({{"a", 3}, {"b", 1}});
  const auto table = lbd::forward::build_slot_table(*pool.snapshot, 4093);
  REQUIRE(table.size() == 4093);
  const auto s = slot_shares(table);
  CHECK(s.at("a") > 2 * s.at("b"));
  CHECK(s.at("a") + s.at("b") == 4093);
}

TEST_CASE("forward slot table: two nodes with the servers in a different order agree") {
  lbtest::TestPool one({{"a", 1}, {"b", 2}, {"c", 1}});
  lbtest::TestPool two({{"c", 1}, {"a", 1}, {"b", 2}});
  CHECK(slot_names(lbd::forward::build_slot_table(*one.snapshot, 1021)) ==
        slot_names(lbd::forward::build_slot_table(*two.snapshot, 1021)));
}

TEST_CASE("forward slot table: a drained or down backend (weight 0) owns no slot") {
  lbtest::TestPool pool({{"a", 1}, {"b", 0}, {"c", 1}});
  const auto s = slot_shares(lbd::forward::build_slot_table(*pool.snapshot, 1021));
  CHECK_FALSE(s.contains("b"));
  CHECK(s.size() == 2);
}

TEST_CASE("forward slot table: removing one of four backends moves only its own slots") {
  lbtest::TestPool four({{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
  lbtest::TestPool three({{"a", 1}, {"b", 1}, {"c", 1}, {"d", 0}});
  const auto before = slot_names(lbd::forward::build_slot_table(*four.snapshot, 4093));
  const auto after = slot_names(lbd::forward::build_slot_table(*three.snapshot, 4093));
  int moved_elsewhere = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i] != "d" && before[i] != after[i]) ++moved_elsewhere;
  }
  // Maglev's minimal disruption: a few slots of the others may move, ~none in practice.
  CHECK(moved_elsewhere < 4093 / 50);
}

TEST_CASE("forward slot table: no candidate gives an empty table") {
  lbtest::TestPool pool({{"a", 0}});
  CHECK(lbd::forward::build_slot_table(*pool.snapshot, 1021).empty());
}
