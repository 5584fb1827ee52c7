#include "vrrpd/config.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

using lb::config::Diagnostics;

TEST_CASE("vrrpd config: the example conf/vrrpd.toml loads without errors") {
  Diagnostics diags;
  auto config = vrrp::load_config(LBPAIR_SOURCE_DIR "/conf/vrrpd.toml", diags);
  INFO(diags.to_string());
  CHECK(diags.empty());
  CHECK_FALSE(config.instances.empty());
}

TEST_CASE("vrrpd config: advert intervals the wire cannot carry are errors, not fallbacks") {
  for (const char* interval : {"5ms", "15ms", "41s"}) {
    Diagnostics diags;
    vrrp::load_config_from_string(fmt::format(R"([[instance]]
name = "vi"
vrid = 51
interface = "eth0"
advert_interval = "{}"
vips = ["192.0.2.10/24"]
)",
                                              interval),
                                  "v.toml", diags);
    INFO(interval);
    REQUIRE(diags.size() == 1);
    CHECK(diags.items()[0].key_path == "instance[0].advert_interval");
    CHECK(diags.items()[0].where.line == 5);
  }
}

TEST_CASE("vrrpd config: a VIP keeps its host bits and one instance holds one family") {
  Diagnostics diags;
  auto c = vrrp::load_config_from_string(R"([[instance]]
name = "vi"
vrid = 51
interface = "eth0"
vips = ["192.0.2.10/24", "192.0.2.11"]
)",
                                         "v.toml", diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  REQUIRE(c.instances[0].vips.size() == 2);
  CHECK(c.instances[0].vips[0].to_string() == "192.0.2.10/24");
  CHECK(c.instances[0].vips[1].to_string() == "192.0.2.11/32");

  Diagnostics mixed;
  vrrp::load_config_from_string(R"([[instance]]
name = "vi"
vrid = 51
interface = "eth0"
vips = ["192.0.2.10/24", "2001:db8::10/64"]
)",
                                "v.toml", mixed);
  REQUIRE(mixed.size() == 1);
  CHECK(mixed.items()[0].key_path == "instance[0].vips");
}

TEST_CASE("vrrpd config: accept_mode = false is refused, not silently ignored") {
  Diagnostics diags;
  auto c = vrrp::load_config_from_string(R"([[instance]]
name = "vi"
vrid = 51
interface = "eth0"
accept_mode = false
vips = ["192.0.2.10/24"]
)",
                                         "a.toml", diags);
  REQUIRE(diags.size() == 1);
  CHECK(diags.items()[0].key_path == "instance[0].accept_mode");
  CHECK(diags.items()[0].where.line == 5);
}

TEST_CASE("vrrpd config: handover_drain defaults to 10s, takes 0 for off and names bad values") {
  const auto load = [](const std::string& line, Diagnostics& diags) {
    return vrrp::load_config_from_string(fmt::format(R"([[instance]]
name = "vi"
vrid = 51
interface = "eth0"
vips = ["192.0.2.10/24"]
{}
)",
                                                     line),
                                         "v.toml", diags);
  };
  {
    Diagnostics diags;
    auto c = load("", diags);
    REQUIRE(diags.empty());
    CHECK(c.instances[0].handover_drain == std::chrono::seconds(10));
  }
  {
    Diagnostics diags;
    auto c = load("handover_drain = \"0s\"", diags);
    REQUIRE(diags.empty());
    CHECK(c.instances[0].handover_drain == std::chrono::milliseconds(0));
  }
  {
    Diagnostics diags;
    auto c = load("handover_drain = \"2500ms\"", diags);
    REQUIRE(diags.empty());
    CHECK(c.instances[0].handover_drain == std::chrono::milliseconds(2500));
  }
  for (const char* bad :
       {"handover_drain = \"2h\"", "handover_drain = \"soon\"", "handover_drain = -1"}) {
    Diagnostics diags;
    load(bad, diags);
    INFO(bad);
    REQUIRE(diags.size() == 1);
    CHECK(diags.items()[0].key_path == "instance[0].handover_drain");
    CHECK(diags.items()[0].where.line == 6);
  }
}

TEST_CASE("vrrpd config: preempt_delay and preempt_gate_timeout default, parse and are bounded") {
  Diagnostics diags;
  auto defaults = vrrp::load_config_from_string(R"([[instance]]
name = "vi"
vrid = 51
interface = "eth0"
vips = ["192.0.2.10/24"]
)",
                                                "p.toml", diags);
  REQUIRE(diags.empty());
  CHECK(defaults.instances[0].preempt_delay == std::chrono::milliseconds(0));
  CHECK(defaults.instances[0].preempt_gate_timeout == std::chrono::seconds(30));

  auto set = vrrp::load_config_from_string(R"([[instance]]
name = "vi"
vrid = 51
interface = "eth0"
vips = ["192.0.2.10/24"]
preempt_delay = "2s"
preempt_gate_timeout = "0s"
)",
                                           "p.toml", diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  CHECK(set.instances[0].preempt_delay == std::chrono::seconds(2));
  CHECK(set.instances[0].preempt_gate_timeout == std::chrono::milliseconds(0));

  Diagnostics bad;
  vrrp::load_config_from_string(R"([[instance]]
name = "vi"
vrid = 51
interface = "eth0"
vips = ["192.0.2.10/24"]
preempt_delay = "2h"
preempt_gate_timeout = "-1s"
)",
                                "p.toml", bad);
  INFO(bad.to_string());
  REQUIRE(bad.size() == 2);
  CHECK(bad.items()[0].key_path == "instance[0].preempt_delay");
  CHECK(bad.items()[0].where.line == 6);
  CHECK(bad.items()[1].key_path == "instance[0].preempt_gate_timeout");
  CHECK(bad.items()[1].where.line == 7);
}
