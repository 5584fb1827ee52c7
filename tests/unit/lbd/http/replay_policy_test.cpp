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

TEST_CASE("replay policy: an HTTP/2 stream is reopened once, when unprocessed or safe to repeat") {
  using lbd::proxy::may_reopen_h2_stream;
  // refused, connection_failed, method, has_body, first_attempt, body_sent
  CHECK(may_reopen_h2_stream(true, false, "POST", true, true, false));
  CHECK(may_reopen_h2_stream(false, true, "GET", false, true, false));
  CHECK_FALSE(may_reopen_h2_stream(false, true, "POST", false, true, false));
  CHECK_FALSE(may_reopen_h2_stream(false, true, "PUT", true, true, false));
  CHECK_FALSE(may_reopen_h2_stream(true, false, "GET", false, false, false));
  CHECK_FALSE(may_reopen_h2_stream(true, false, "POST", true, true, true));
  CHECK_FALSE(may_reopen_h2_stream(false, false, "GET", false, true, false));  // a real reset
}
