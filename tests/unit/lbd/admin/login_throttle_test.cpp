#include "lbd/admin/login_throttle.hpp"

#include <doctest/doctest.h>

using lbd::admin::LoginThrottle;
using namespace std::chrono_literals;

namespace {
lb::IpAddress ip(const char* s) { return *lb::IpAddress::parse(s); }
}  // namespace

TEST_CASE("login throttle: a source gets its burst, then one check per second") {
  LoginThrottle t;
  const auto t0 = LoginThrottle::Clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) CHECK(t.admit(ip("192.0.2.1"), t0));
  CHECK_FALSE(t.admit(ip("192.0.2.1"), t0));
  CHECK(t.admit(ip("192.0.2.2"), t0));  // another source has its own bucket
  CHECK_FALSE(t.admit(ip("192.0.2.1"), t0 + 500ms));
  CHECK(t.admit(ip("192.0.2.1"), t0 + 1s));
  CHECK_FALSE(t.admit(ip("192.0.2.1"), t0 + 1s));
}

TEST_CASE("login throttle: all sources together stay within the CPU budget per second") {
  LoginThrottle t({.budget_per_second = 100ms});
  const auto t0 = LoginThrottle::Clock::time_point{} + 1h;
  // Checks of 40 ms each from many sources: after three (120 ms spent) the second is used up.
  int admitted = 0;
  for (int i = 0; i < 50; ++i) {
    const auto source = lb::IpAddress::parse("10.0.0." + std::to_string(i + 1));
    if (t.admit(*source, t0 + 1ms * i)) {
      ++admitted;
      t.spent(40ms, t0 + 1ms * i);
    }
  }
  CHECK(admitted == 3);
  // A slow hash: one check per second is still possible, never more.
  LoginThrottle slow({.budget_per_second = 100ms});
  CHECK(slow.admit(ip("10.0.0.1"), t0));
  slow.spent(300ms, t0);
  CHECK_FALSE(slow.admit(ip("10.0.0.2"), t0 + 300ms));
  CHECK(slow.admit(ip("10.0.0.2"), t0 + 1s));
}

TEST_CASE("login throttle: the table of sources is bounded, the least recent is forgotten") {
  LoginThrottle t({.budget_per_second = 1h, .max_sources = 3});
  const auto t0 = LoginThrottle::Clock::time_point{} + 1h;
  for (int i = 0; i < 10; ++i) {
    CHECK(t.admit(*lb::IpAddress::parse("10.0.0." + std::to_string(i + 1)), t0 + 1ms * i));
    CHECK(t.sources() <= 3);
  }
}
