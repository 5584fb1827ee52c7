#include "lbd/upstream/health_state.hpp"

#include <doctest/doctest.h>

using lbd::CheckOutcome;
using lbd::HealthState;
using namespace std::chrono_literals;

namespace {
constexpr auto ok = CheckOutcome::success;
constexpr auto bad = CheckOutcome::failure;
}  // namespace

TEST_CASE("health_state: an up server goes down on exactly the fall-th consecutive failure") {
  lb::ManualClock clock;
  HealthState s({.rise = 2, .fall = 3}, clock);
  REQUIRE(s.up());
  CHECK_FALSE(s.record(bad, "status 503"));
  CHECK_FALSE(s.record(bad, "status 503"));
  CHECK(s.up());
  CHECK(s.transitioning());
  CHECK(s.record(bad, "connect: connection refused"));
  CHECK_FALSE(s.up());
  CHECK(s.last_reason() == "connect: connection refused");
  CHECK_FALSE(s.transitioning());
}

TEST_CASE("health_state: a down server comes up on exactly the rise-th consecutive success") {
  lb::ManualClock clock;
  HealthState s({.rise = 2, .fall = 1, .initially_up = false}, clock);
  REQUIRE_FALSE(s.up());
  CHECK_FALSE(s.record(ok));
  CHECK(s.transitioning());
  CHECK(s.record(ok));
  CHECK(s.up());
}

TEST_CASE("health_state: a success between failures restarts the fall count") {
  lb::ManualClock clock;
  HealthState s({.rise = 1, .fall = 2}, clock);
  CHECK_FALSE(s.record(bad));
  CHECK_FALSE(s.record(ok));
  CHECK_FALSE(s.transitioning());
  CHECK_FALSE(s.record(bad));
  CHECK(s.record(bad));
  CHECK_FALSE(s.up());
}

TEST_CASE("health_state: a failure between successes restarts the rise count") {
  lb::ManualClock clock;
  HealthState s({.rise = 3, .fall = 1, .initially_up = false}, clock);
  CHECK_FALSE(s.record(ok));
  CHECK_FALSE(s.record(ok));
  CHECK_FALSE(s.record(bad));
  CHECK_FALSE(s.record(ok));
  CHECK_FALSE(s.record(ok));
  CHECK(s.record(ok));
  CHECK(s.up());
}

TEST_CASE("health_state: failures inside the start period do not count, later ones do") {
  lb::ManualClock clock;
  HealthState s({.rise = 1, .fall = 2, .start_period = 10s}, clock);
  CHECK(s.in_start_period());
  for (int i = 0; i < 5; ++i) CHECK_FALSE(s.record(bad));
  CHECK(s.up());
  CHECK(s.streak() == 0);
  clock.advance(10s);
  CHECK_FALSE(s.in_start_period());
  CHECK_FALSE(s.record(bad));
  CHECK(s.record(bad));
  CHECK_FALSE(s.up());
}

TEST_CASE("health_state: successes inside the start period bring an initially-down server up") {
  lb::ManualClock clock;
  HealthState s({.rise = 2, .fall = 2, .start_period = 30s, .initially_up = false}, clock);
  CHECK_FALSE(s.record(ok));
  CHECK_FALSE(s.record(bad));  // ignored: neither counts nor resets the rise streak
  CHECK(s.record(ok));
  CHECK(s.up());
}

TEST_CASE("health_state: rise and fall of 1 flip on every contrary result") {
  lb::ManualClock clock;
  HealthState s({.rise = 1, .fall = 1}, clock);
  CHECK(s.record(bad));
  CHECK(s.record(ok));
  CHECK_FALSE(s.record(ok));
  CHECK(s.record(bad));
}

TEST_CASE("health_state: last_change is the time of the last flip") {
  lb::ManualClock clock;
  HealthState s({.rise = 1, .fall = 1}, clock);
  const auto t0 = clock.now();
  CHECK(s.last_change() == t0);
  clock.advance(5s);
  REQUIRE(s.record(bad));
  CHECK(s.last_change() == t0 + 5s);
  CHECK(s.force(true));
  CHECK(s.up());
  CHECK_FALSE(s.force(true));
}
