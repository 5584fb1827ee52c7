// Tracking: rise/fall counting (and forcing down), the lbd watch's backoff, the effective
// priority from failing weights, and the [[track_script]] config.
#include "vrrpd/track.hpp"

#include <doctest/doctest.h>

#include "vrrpd/config.hpp"
#include "vrrpd/lbd_watch.hpp"

TEST_CASE("vrrp track: fall failures take a check down, rise successes bring it back") {
  vrrp::RiseFall rf(3, 2);
  CHECK(rf.up());
  CHECK_FALSE(rf.record(false));
  CHECK_FALSE(rf.record(true));  // a success resets the failure streak
  CHECK_FALSE(rf.record(false));
  CHECK(rf.record(false));  // second consecutive failure: flipped down
  CHECK_FALSE(rf.up());
  CHECK_FALSE(rf.record(true));
  CHECK_FALSE(rf.record(true));
  CHECK_FALSE(rf.record(false));  // streak broken
  CHECK_FALSE(rf.record(true));
  CHECK_FALSE(rf.record(true));
  CHECK(rf.record(true));
  CHECK(rf.up());
}

TEST_CASE("vrrp track: force_down takes a check down at once, coming back still takes rise") {
  vrrp::RiseFall rf(2, 3);
  CHECK(rf.force_down());
  CHECK_FALSE(rf.up());
  CHECK_FALSE(rf.force_down());  // already down: no second flip
  CHECK_FALSE(rf.record(true));
  CHECK(rf.record(true));
  CHECK(rf.up());
  // A success streak under way is forgotten: the process it counted is gone.
  vrrp::RiseFall half(2, 3);
  CHECK(half.force_down());
  CHECK_FALSE(half.record(true));
  CHECK_FALSE(half.force_down());
  CHECK_FALSE(half.record(true));
  CHECK(half.record(true));
}

TEST_CASE("vrrp lbd watch: the reconnect backoff doubles from 20 ms and stops at 1 s") {
  using std::chrono::milliseconds;
  CHECK(vrrp::watch_backoff(0) == milliseconds(20));
  CHECK(vrrp::watch_backoff(1) == milliseconds(40));
  CHECK(vrrp::watch_backoff(5) == milliseconds(640));
  CHECK(vrrp::watch_backoff(6) == milliseconds(1000));
  CHECK(vrrp::watch_backoff(1000) == milliseconds(1000));
}

TEST_CASE("vrrp track: failing weight lowers the priority, never below 1, owner included") {
  CHECK(vrrp::effective_priority(150, 0) == 150);
  CHECK(vrrp::effective_priority(150, 60) == 90);
  CHECK(vrrp::effective_priority(150, 200) == 1);
  CHECK(vrrp::effective_priority(255, 0) == 255);
  CHECK(vrrp::effective_priority(255, 10) == 244);
}

TEST_CASE("vrrpd config: track scripts load with defaults and instances must name real ones") {
  lb::config::Diagnostics diags;
  auto c = vrrp::load_config_from_string(R"([[track_script]]
name = "chk"
command = "true"
weight = 50

[[instance]]
name = "vi"
vrid = 51
interface = "eth0"
vips = ["192.0.2.10/24"]
track_scripts = ["chk"]
)",
                                         "v.toml", diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  REQUIRE(c.track_scripts.size() == 1);
  CHECK(c.track_scripts[0].interval == std::chrono::milliseconds(1000));
  CHECK(c.track_scripts[0].rise == 1);
  CHECK(c.track_scripts[0].weight == 50);
  CHECK(c.instances[0].track_scripts == std::vector<std::string>{"chk"});

  lb::config::Diagnostics bad;
  vrrp::load_config_from_string(R"([[track_script]]
name = "chk"
command = "true"
rise = 0
[[track_script]]
name = "chk"
command = "true"
[[instance]]
name = "vi"
vrid = 51
interface = "eth0"
vips = ["192.0.2.10/24"]
track_scripts = ["nope"]
)",
                                "v.toml", bad);
  INFO(bad.to_string());
  REQUIRE(bad.size() == 3);
  CHECK(bad.items()[0].key_path == "track_script[0].rise");
  CHECK(bad.items()[1].key_path == "track_script[1].name");
  CHECK(bad.items()[2].key_path == "instance[0].track_scripts");
}
