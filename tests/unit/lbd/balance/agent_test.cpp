// agent: parsing HAProxy-style agent replies, merging them into Backend::agent_status, and the
// agent balancer's distribution under reported weights.
#include "lbd/balance/agent.hpp"

#include <doctest/doctest.h>

#include "lbd/balance/agent_report.hpp"
#include "tests/unit/lbd/balance/pool_fixture.hpp"

using lbd::AgentState;
using lbtest::TestPool;

TEST_CASE("agent reply: percentages, states, combinations and comments parse") {
  auto r = lbd::parse_agent_reply("75%\n");
  REQUIRE(r);
  CHECK(r->weight_percent == 75u);
  CHECK_FALSE(r->state);

  r = lbd::parse_agent_reply("up 50%");
  REQUIRE(r);
  CHECK(r->state == AgentState::up);
  CHECK(r->weight_percent == 50u);

  r = lbd::parse_agent_reply("DRAIN\r\n");
  REQUIRE(r);
  CHECK(r->state == AgentState::drain);

  r = lbd::parse_agent_reply("down # out of memory");
  REQUIRE(r);
  CHECK(r->state == AgentState::down);

  r = lbd::parse_agent_reply("ready,maxconn:30,120");
  REQUIRE(r);
  CHECK(r->state == AgentState::up);
  CHECK(r->weight_percent == 120u);

  for (const char* down : {"fail", "failed", "stopped", "maint"}) {
    CHECK(lbd::parse_agent_reply(down)->state == AgentState::down);
  }
}

TEST_CASE("agent reply: empty, unknown tokens and out-of-range percentages are errors") {
  CHECK_FALSE(lbd::parse_agent_reply(""));
  CHECK_FALSE(lbd::parse_agent_reply("  \r\n"));
  CHECK_FALSE(lbd::parse_agent_reply("# only a comment"));
  auto r = lbd::parse_agent_reply("up sideways");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "unknown token \"sideways\"");
  CHECK_FALSE(lbd::parse_agent_reply("1001%"));
  CHECK_FALSE(lbd::parse_agent_reply("-5%"));
  CHECK_FALSE(lbd::parse_agent_reply("50%%"));
}

TEST_CASE("agent status: starts at 100% up, reports merge field by field") {
  TestPool pool({{"a", 1}});
  const auto& a = *pool["a"];
  CHECK(lbd::agent_status(a) == lbd::AgentStatus{100, AgentState::up});
  lbd::apply_agent_report(a, *lbd::parse_agent_reply("40%"));
  CHECK(lbd::agent_status(a) == lbd::AgentStatus{40, AgentState::up});
  lbd::apply_agent_report(a, *lbd::parse_agent_reply("drain"));
  CHECK(lbd::agent_status(a) == lbd::AgentStatus{40, AgentState::drain});
  CHECK(lbd::apply_agent_report(a, *lbd::parse_agent_reply("up")) ==
        lbd::AgentStatus{40, AgentState::up});
}

TEST_CASE("agent: without reports it is smooth weighted round robin") {
  TestPool pool({{"a", 3}, {"b", 2}});
  lbd::AgentBalancer agent(pool.snapshot, 0);
  std::string seq;
  for (int i = 0; i < 5; ++i) seq += agent.pick({})->name;
  CHECK(seq == "ababa");
}

TEST_CASE("agent: reported weights change the distribution") {
  TestPool pool({{"a", 1}, {"b", 1}, {"c", 1}});
  lbd::AgentBalancer agent(pool.snapshot, 0);
  auto before = lbtest::histogram(agent, 3000);
  CHECK(before["a"] == 1000);
  CHECK(before["b"] == 1000);

  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("200%"));
  lbd::apply_agent_report(*pool["b"], *lbd::parse_agent_reply("50%"));
  auto after = lbtest::histogram(agent, 3500);  // shares 200:50:100
  CHECK(after["a"] == 2000);
  CHECK(after["b"] == 500);
  CHECK(after["c"] == 1000);
}

TEST_CASE("agent: drained and down servers get no picks, all of them down gives none") {
  TestPool pool({{"a", 1}, {"b", 1}});
  lbd::AgentBalancer agent(pool.snapshot, 0);
  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("drain"));
  auto h = lbtest::histogram(agent, 10);
  CHECK(h["b"] == 10);
  lbd::apply_agent_report(*pool["b"], *lbd::parse_agent_reply("down"));
  CHECK(agent.pick({}) == nullptr);
  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("up"));
  CHECK(agent.pick({})->name == "a");
  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("0%"));
  CHECK(agent.pick({}) == nullptr);
}

TEST_CASE("agent: a server coming back from drain does not burst") {
  TestPool pool({{"a", 1}, {"b", 1}});
  lbd::AgentBalancer agent(pool.snapshot, 0);
  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("drain"));
  for (int i = 0; i < 100; ++i) agent.pick({});
  lbd::apply_agent_report(*pool["a"], *lbd::parse_agent_reply("up"));
  std::string seq;
  for (int i = 0; i < 6; ++i) seq += agent.pick({})->name;
  CHECK(seq.find("aa") == std::string::npos);
}
