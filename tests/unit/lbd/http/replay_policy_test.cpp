#include "lbd/http/replay_policy.hpp"

#include <doctest/doctest.h>

using lbd::proxy::is_idempotent;
using lbd::proxy::may_replay;

TEST_CASE("replay policy: the idempotent methods of RFC 9110 are replayed, POST and PATCH not") {
  for (auto m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
    CAPTURE(m);
    CHECK(is_idempotent(m));
    CHECK(may_replay(m, true));
  }
  for (auto m : {"POST", "PATCH", "CONNECT", "PURGE", "get"}) {
    CAPTURE(m);
    CHECK_FALSE(is_idempotent(m));
    CHECK_FALSE(may_replay(m, true));
  }
}

TEST_CASE("replay policy: a request none of whose bytes went out may always be sent elsewhere") {
  CHECK(may_replay("POST", false));
  CHECK(may_replay("PATCH", false));
}
