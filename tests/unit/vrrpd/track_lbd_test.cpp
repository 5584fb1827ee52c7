// Tracking lbd: which health answers count as up, and the [track_lbd] config.
#include "vrrpd/track_lbd.hpp"

#include <doctest/doctest.h>

#include "vrrpd/config.hpp"

using lb::config::Diagnostics;
using nlohmann::json;
using vrrp::lbd_health_verdict;

TEST_CASE("vrrp track_lbd: ok is up, stopping and unreachable are down with a reason") {
  std::string why;
  CHECK(lbd_health_verdict(json{{"ok", true}, {"status", "ok"}, {"reasons", json::array()}}, false,
                           why));
  CHECK(why.empty());
  CHECK_FALSE(lbd_health_verdict(json{{"ok", true}, {"status", "stopping"}}, false, why));
  CHECK(why == "lbd stopping");
  CHECK_FALSE(
      lbd_health_verdict(lb::fail("connect /run/lbpair/lbd.sock: No such file"), false, why));
  CHECK(why == "lbd unreachable: connect /run/lbpair/lbd.sock: No such file");
  CHECK_FALSE(lbd_health_verdict(json{{"ok", false}, {"error", "unknown command"}}, false, why));
  CHECK(why == "lbd answered an error: unknown command");
  CHECK_FALSE(lbd_health_verdict(json{{"ok", true}, {"status", "weird"}}, false, why));
}

TEST_CASE("vrrp track_lbd: degraded counts as down only with degraded_is_down") {
  const json degraded{{"ok", true},
                      {"status", "degraded"},
                      {"reasons", {"pool a: no server available", "pool b: no server available"}}};
  std::string why;
  CHECK(lbd_health_verdict(degraded, false, why));
  CHECK_FALSE(lbd_health_verdict(degraded, true, why));
  CHECK(why == "lbd degraded: pool a: no server available; pool b: no server available");
}

TEST_CASE("vrrpd config: [track_lbd] loads with defaults and needs lbd_control_socket") {
  const std::string inst =
      "[[instance]]\nname = \"vi\"\nvrid = 51\ninterface = \"eth0\"\nvips = [\"192.0.2.10/24\"]\n";
  Diagnostics d1;
  auto c = vrrp::load_config_from_string(
      "[global]\nlbd_control_socket = \"/run/lbpair/lbd.sock\"\n[track_lbd]\nweight = 20\n" + inst,
      "v.toml", d1);
  INFO(d1.to_string());
  CHECK(d1.empty());
  REQUIRE(c.track_lbd.has_value());
  CHECK(c.track_lbd->interval == std::chrono::milliseconds(1000));
  CHECK(c.track_lbd->timeout == std::chrono::milliseconds(500));
  CHECK(c.track_lbd->rise == 2);
  CHECK(c.track_lbd->fall == 2);
  CHECK(c.track_lbd->weight == 20);
  CHECK_FALSE(c.track_lbd->degraded_is_down);
  Diagnostics d2;
  CHECK_FALSE(vrrp::load_config_from_string(inst, "v.toml", d2).track_lbd.has_value());
  CHECK(d2.empty());
  Diagnostics d3;
  vrrp::load_config_from_string("[track_lbd]\n" + inst, "v.toml", d3);
  REQUIRE(d3.size() == 1);
  CHECK(d3.items()[0].message.find("lbd_control_socket") != std::string::npos);
  Diagnostics d4;
  vrrp::load_config_from_string(
      "[global]\nlbd_control_socket = \"/x\"\n[track_lbd]\n"
      "interval = \"100ms\"\ntimeout = \"1s\"\nwieght = 1\n" +
          inst,
      "v.toml", d4);
  CHECK(d4.size() == 2);  // timeout > interval, and the misspelled key
}

TEST_CASE("vrrp lbd watch: readiness comes from \"ready\", and an lbd without it counts as ready") {
  std::string why;
  CHECK(vrrp::watch_readiness(nlohmann::json{{"ok", true}, {"watch", true}, {"pid", 7}}, why));
  CHECK(why.empty());
  CHECK_FALSE(vrrp::watch_readiness(
      nlohmann::json{{"event", "ready"},
                     {"ready", false},
                     {"reasons", {"health checks: first round not done", "replication"}}},
      why));
  CHECK(why == "health checks: first round not done; replication");
  CHECK(vrrp::watch_readiness(nlohmann::json{{"event", "ready"}, {"ready", true}}, why));
  CHECK(why.empty());
}
