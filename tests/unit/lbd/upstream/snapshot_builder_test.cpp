#include "lbd/upstream/snapshot_builder.hpp"

#include <doctest/doctest.h>

using lbd::AdminState;
using lbd::Backend;
using lbd::BackendState;
using lbd::ServerView;

namespace {

struct Pool {
  std::vector<std::shared_ptr<const Backend>> backends;
  std::vector<ServerView> views;

  void add(std::string name, std::uint32_t weight, bool backup = false) {
    auto b = std::make_shared<const Backend>(name, *lb::Endpoint::parse("127.0.0.1:1"), weight, 0,
                                             backup);
    backends.push_back(b);
    views.push_back(ServerView{b, BackendState{true, false, AdminState::ready, weight}});
  }
  std::vector<std::string> candidates() const {
    auto snap = lbd::build_pool_snapshot("p", 1, views);
    std::vector<std::string> out;
    for (const auto& c : snap->candidates)
      out.push_back(c.backend->name + ":" + std::to_string(c.weight));
    return out;
  }
};

}  // namespace

TEST_CASE("snapshot_builder: healthy ready primaries are candidates with their weights") {
  Pool p;
  p.add("a", 3);
  p.add("b", 1);
  p.add("spare", 1, true);
  CHECK(p.candidates() == std::vector<std::string>{"a:3", "b:1"});
  auto snap = lbd::build_pool_snapshot("p", 7, p.views);
  CHECK(snap->generation == 7);
  CHECK(snap->backends.size() == 3);
  CHECK(snap->states.size() == 3);
  CHECK_FALSE(snap->using_backups);
}

TEST_CASE(
    "snapshot_builder: down, ejected, drained, maint and weight-0 servers are no candidates") {
  Pool p;
  for (const char* n : {"down", "ejected", "drain", "maint", "zero", "ok"}) p.add(n, 2);
  p.views[0].state.healthy = false;
  p.views[1].state.ejected = true;
  p.views[2].state.admin = AdminState::drain;
  p.views[3].state.admin = AdminState::maint;
  p.views[4].state.weight = 0;
  CHECK(p.candidates() == std::vector<std::string>{"ok:2"});
}

TEST_CASE("snapshot_builder: backups are candidates only when no primary can take new picks") {
  Pool p;
  p.add("a", 1);
  p.add("b", 1);
  p.add("spare1", 5, true);
  p.add("spare2", 1, true);
  p.views[0].state.healthy = false;
  CHECK(p.candidates() == std::vector<std::string>{"b:1"});
  p.views[1].state.admin = AdminState::maint;
  CHECK(p.candidates() == std::vector<std::string>{"spare1:5", "spare2:1"});
  CHECK(lbd::build_pool_snapshot("p", 1, p.views)->using_backups);
  p.views[2].state.healthy = false;
  p.views[3].state.ejected = true;
  CHECK(p.candidates().empty());
  CHECK_FALSE(lbd::build_pool_snapshot("p", 1, p.views)->using_backups);
}

TEST_CASE("snapshot_builder: a draining backend still accepts sticky clients, maint does not") {
  Pool p;
  p.add("drain", 1);
  p.add("maint", 1);
  p.add("down", 1);
  p.add("ok", 1);
  p.views[0].state.admin = AdminState::drain;
  p.views[1].state.admin = AdminState::maint;
  p.views[2].state.healthy = false;
  auto snap = lbd::build_pool_snapshot("p", 1, p.views);
  CHECK(snap->accepts_sticky(p.backends[0].get()));
  CHECK_FALSE(snap->accepts_sticky(p.backends[1].get()));
  CHECK_FALSE(snap->accepts_sticky(p.backends[2].get()));
  CHECK(snap->accepts_sticky(p.backends[3].get()));
  CHECK(snap->state_of(p.backends[0].get())->admin == AdminState::drain);
}

TEST_CASE("snapshot_builder: same_routing ignores the generation and sees any state change") {
  Pool p;
  p.add("a", 2);
  p.add("b", 2);
  auto s1 = lbd::build_pool_snapshot("p", 1, p.views);
  auto s2 = lbd::build_pool_snapshot("p", 2, p.views);
  CHECK(lbd::same_routing(*s1, *s2));
  p.views[1].state.admin = AdminState::drain;
  CHECK_FALSE(lbd::same_routing(*s1, *lbd::build_pool_snapshot("p", 3, p.views)));
  p.views[1].state.admin = AdminState::ready;
  p.views[1].state.weight = 1;
  CHECK_FALSE(lbd::same_routing(*s1, *lbd::build_pool_snapshot("p", 3, p.views)));
}
