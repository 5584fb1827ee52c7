// SmoothWrr: the precomputed cycle equals the running nginx update, long cycles fall back to the
// running update, and `avoid` skips turns in both modes.
#include "lbd/balance/smooth_wrr.hpp"

#include <doctest/doctest.h>

#include "lbd/balance/agent_report.hpp"
#include "tests/unit/lbd/balance/pool_fixture.hpp"

using lbtest::TestPool;

namespace {

std::vector<std::uint32_t> run(lbd::SmoothWrr& wrr, const TestPool& pool, int picks,
                               const lbd::Backend* avoid = nullptr) {
  std::vector<std::uint32_t> out;
  for (int i = 0; i < picks; ++i) out.push_back(wrr.next(pool.snapshot->candidates, avoid));
  return out;
}

}  // namespace

TEST_CASE("smooth_wrr: the precomputed cycle is the same sequence as the running update") {
  TestPool pool({{"a", 5}, {"b", 3}, {"c", 2}, {"d", 7}});
  lbd::SmoothWrr scheduled, running(0);
  scheduled.assign({5, 3, 2, 7});
  running.assign({5, 3, 2, 7});
  CHECK(scheduled.scheduled());
  CHECK_FALSE(running.scheduled());
  CHECK(run(scheduled, pool, 100) == run(running, pool, 100));
  scheduled.skip(5);
  running.skip(5);
  CHECK(run(scheduled, pool, 40) == run(running, pool, 40));
}

TEST_CASE("smooth_wrr: weights are reduced by their gcd (200:100 cycles like 2:1)") {
  TestPool pool({{"a", 2}, {"b", 1}});
  lbd::SmoothWrr wrr;
  wrr.assign({200, 100});
  CHECK(run(wrr, pool, 6) == std::vector<std::uint32_t>{0, 1, 0, 0, 1, 0});
}

TEST_CASE("smooth_wrr: a cycle too long to precompute runs the O(n) update") {
  lbd::SmoothWrr wrr(1000);
  wrr.assign({256, 255, 253});  // cycle 764 × 3 servers > 1000
  CHECK_FALSE(wrr.scheduled());
  TestPool pool({{"a", 1}, {"b", 1}, {"c", 1}});
  std::map<std::uint32_t, int> counts;
  for (auto i : run(wrr, pool, 764)) ++counts[i];
  CHECK(counts[0] == 256);
  CHECK(counts[1] == 255);
  CHECK(counts[2] == 253);
}

TEST_CASE("smooth_wrr: avoid skips the backend's turns in both modes, zero weights never come") {
  TestPool pool({{"a", 3}, {"b", 1}, {"z", 1}});
  for (std::uint64_t work : {lbd::SmoothWrr::kDefaultScheduleWork, std::uint64_t{0}}) {
    CAPTURE(work);
    lbd::SmoothWrr wrr(work);
    wrr.assign({3, 1, 0});
    for (auto i : run(wrr, pool, 12, pool["a"])) CHECK(i == 1);
    wrr.assign({3, 0, 0});
    for (auto i : run(wrr, pool, 3, pool["a"])) CHECK(i == 0);
    wrr.assign({0, 0, 0});
    CHECK(wrr.empty());
  }
}

TEST_CASE("agent epoch: moves when a status changes, not when a report repeats it") {
  TestPool pool({{"a", 1}});
  const auto before = lbd::agent_epoch();
  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("100% up"));  // unchanged
  CHECK(lbd::agent_epoch() == before);
  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("60%"));
  CHECK(lbd::agent_epoch() == before + 1);
  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("60%"));
  CHECK(lbd::agent_epoch() == before + 1);
}
