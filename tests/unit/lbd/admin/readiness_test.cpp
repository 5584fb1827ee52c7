// lbd's readiness for the preempt gate: every cause that holds it back is named.
#include "lbd/admin/readiness.hpp"

#include <doctest/doctest.h>

using lbd::admin::assess_readiness;

TEST_CASE("readiness: without replication, serving with every first health round done is ready") {
  const auto r = assess_readiness(false, {}, std::nullopt);
  CHECK(r.ready);
  CHECK(r.reasons.empty());
  const auto j = lbd::admin::readiness_json(r);
  CHECK(j["event"] == "ready");
  CHECK(j["ready"] == true);
  CHECK(j["reasons"].empty());
}

TEST_CASE("readiness: pools still on their first health round and draining hold it back") {
  const auto r = assess_readiness(true, {"web", "api"}, std::nullopt);
  CHECK_FALSE(r.ready);
  REQUIRE(r.reasons.size() == 3);
  CHECK(r.reasons[0] == "draining for shutdown");
  CHECK(r.reasons[1] == "pool web: health-check round not done");
  CHECK(r.reasons[2] == "pool api: health-check round not done");
}

TEST_CASE("readiness: replication must be connected with the peer's full sync received") {
  lbd::repl::ReplicationStatus s;
  s.running = true;
  CHECK(assess_readiness(false, {}, s).reasons ==
        std::vector<std::string>{"replication: not connected to the peer"});
  s.connected = true;
  s.peer_has_our_data = true;  // what we sent does not matter: what we know does
  CHECK(assess_readiness(false, {}, s).reasons ==
        std::vector<std::string>{"replication: full table sync from the peer not received yet"});
  s.we_have_peer_data = true;
  CHECK(assess_readiness(false, {}, s).ready);
}
