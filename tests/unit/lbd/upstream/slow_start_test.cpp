#include "lbd/upstream/slow_start.hpp"

#include <doctest/doctest.h>

using lbd::slow_start_weight;
using namespace std::chrono_literals;

TEST_CASE("slow_start: weight ramps linearly from 1 to the configured weight over the window") {
  CHECK(slow_start_weight(100, 10s, 0s) == 1);
  CHECK(slow_start_weight(100, 10s, 1s) == 10);
  CHECK(slow_start_weight(100, 10s, 5s) == 50);
  CHECK(slow_start_weight(100, 10s, 9999ms) == 99);
  CHECK(slow_start_weight(100, 10s, 10s) == 100);
  CHECK(slow_start_weight(100, 10s, 1h) == 100);
}

TEST_CASE("slow_start: a zero window means full weight, a zero weight stays zero") {
  CHECK(slow_start_weight(7, 0s, 0s) == 7);
  CHECK(slow_start_weight(0, 10s, 5s) == 0);
  CHECK(slow_start_weight(1, 10s, 1s) == 1);
  CHECK(slow_start_weight(256, 24h, 12h) == 128);
}

TEST_CASE("slow_start: the ramp starts at restart() and ends after the window on the clock") {
  lb::ManualClock clock;
  lbd::SlowStart ramp(20s, clock);
  CHECK_FALSE(ramp.active());
  CHECK(ramp.weight(40) == 40);
  ramp.restart();
  CHECK(ramp.active());
  CHECK(ramp.weight(40) == 1);
  clock.advance(5s);
  CHECK(ramp.weight(40) == 10);
  clock.advance(10s);
  CHECK(ramp.weight(40) == 30);
  clock.advance(5s);
  CHECK_FALSE(ramp.active());
  CHECK(ramp.weight(40) == 40);
}

TEST_CASE("slow_start: without a window restart() does nothing") {
  lb::ManualClock clock;
  lbd::SlowStart ramp(0s, clock);
  ramp.restart();
  CHECK_FALSE(ramp.active());
  CHECK(ramp.weight(5) == 5);
}
