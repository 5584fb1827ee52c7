#include "lbd/upstream/outlier_detector.hpp"

#include <doctest/doctest.h>

using lbd::OutlierConfig;
using lbd::OutlierDetector;
using lbd::TrafficEvent;
using namespace std::chrono_literals;

namespace {
OutlierConfig config(std::uint32_t errors, std::uint32_t percent) {
  OutlierConfig c;
  c.consecutive_errors = errors;
  c.base_ejection_time = 10s;
  c.max_ejection_time = 35s;
  c.max_ejection_percent = percent;
  return c;
}
}  // namespace

TEST_CASE("outlier_detector: report says true exactly on the consecutive_errors-th error") {
  OutlierDetector d(config(3, 50), 4);
  CHECK_FALSE(d.report(0, TrafficEvent::connect_failure));
  CHECK_FALSE(d.report(0, TrafficEvent::http_5xx));
  CHECK(d.report(0, TrafficEvent::timeout));
  CHECK_FALSE(d.report(0, TrafficEvent::timeout));  // only the crossing is signalled
  CHECK(d.error_count(0) == 4);
}

TEST_CASE("outlier_detector: a success resets the consecutive error count") {
  OutlierDetector d(config(2, 50), 2);
  CHECK_FALSE(d.report(1, TrafficEvent::http_5xx));
  CHECK_FALSE(d.report(1, TrafficEvent::success));
  CHECK(d.error_count(1) == 0);
  CHECK_FALSE(d.report(1, TrafficEvent::http_5xx));
  CHECK(d.report(1, TrafficEvent::http_5xx));
}

TEST_CASE("outlier_detector: consecutive_errors = 0 disables detection") {
  OutlierDetector d(config(0, 50), 2);
  for (int i = 0; i < 100; ++i) CHECK_FALSE(d.report(0, TrafficEvent::connect_failure));
}

TEST_CASE("outlier_detector: ejection time grows with each ejection and is capped") {
  lb::ManualClock clock;
  OutlierDetector d(config(1, 50), 4);
  auto t = clock.now();
  auto until = d.try_eject(0, t);
  REQUIRE(until);
  CHECK(*until == t + 10s);
  CHECK(d.ejected(0));
  CHECK(d.next_readmission() == t + 10s);
  CHECK(d.readmit_due(t + 9s).empty());
  CHECK(d.readmit_due(t + 10s) == std::vector<std::size_t>{0});
  CHECK_FALSE(d.ejected(0));
  t += 11s;  // ejected again within one base period: multiplier 2
  until = d.try_eject(0, t);
  REQUIRE(until);
  CHECK(*until == t + 20s);
  d.readmit_due(t + 20s);
  t += 21s;
  until = d.try_eject(0, t);  // multiplier 3 -> 30s
  CHECK(*until == t + 30s);
  d.readmit_due(t + 30s);
  t += 31s;
  until = d.try_eject(0, t);  // multiplier 4 -> 40s, capped at 35s
  CHECK(*until == t + 35s);
}

TEST_CASE("outlier_detector: the multiplier decays by one per base period of good behaviour") {
  lb::ManualClock clock;
  OutlierDetector d(config(1, 50), 2);
  auto t = clock.now();
  d.try_eject(0, t);
  d.readmit_due(t + 10s);
  d.try_eject(0, t + 10s);  // multiplier 2
  d.readmit_due(t + 30s);
  CHECK(d.ejections(0) == 2);
  // 25 s admitted = 2 base periods: back to 0, so this ejection is multiplier 1 again.
  auto until = d.try_eject(0, t + 55s);
  CHECK(d.ejections(0) == 1);
  CHECK(*until == t + 65s);
}

TEST_CASE("outlier_detector: max_ejection_percent keeps the pool from emptying") {
  lb::ManualClock clock;
  const auto t = clock.now();
  SUBCASE("50% of 4 servers: two may be ejected") {
    OutlierDetector d(config(1, 50), 4);
    CHECK(d.max_ejected() == 2);
    CHECK(d.try_eject(0, t));
    CHECK(d.try_eject(1, t));
    CHECK_FALSE(d.try_eject(2, t));
    CHECK_FALSE(d.ejected(2));
    CHECK(d.ejected_count() == 2);
  }
  SUBCASE("10% of 2 servers still allows one, 100% never allows all") {
    CHECK(OutlierDetector(config(1, 10), 2).max_ejected() == 1);
    CHECK(OutlierDetector(config(1, 100), 3).max_ejected() == 2);
    CHECK(OutlierDetector(config(1, 0), 3).max_ejected() == 0);
    CHECK(OutlierDetector(config(1, 100), 1).max_ejected() == 0);
  }
  SUBCASE("a refused ejection resets the error count so a later crossing asks again") {
    OutlierDetector d(config(2, 50), 2);
    d.report(0, TrafficEvent::http_5xx);
    REQUIRE(d.report(0, TrafficEvent::http_5xx));
    REQUIRE(d.try_eject(0, t));
    d.report(1, TrafficEvent::http_5xx);
    REQUIRE(d.report(1, TrafficEvent::http_5xx));
    CHECK_FALSE(d.try_eject(1, t));
    CHECK(d.error_count(1) == 0);
    d.report(1, TrafficEvent::http_5xx);
    CHECK(d.report(1, TrafficEvent::http_5xx));
  }
}
