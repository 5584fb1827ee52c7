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
