// vrrpd's /metrics body: strict text, one-hot state per VRID, counters and drops by reason.
#include "vrrpd/metrics.hpp"

#include <doctest/doctest.h>

#include "tests/support/prometheus_text.hpp"

TEST_CASE("vrrp metrics: state per VRID, adverts, transitions and drops render strictly") {
  vrrp::VrrpMetrics m;
  m.instances.push_back({.name = "vi-web",
                         .interface = "eth0",
                         .vrid = 51,
                         .family = "ipv4",
                         .state = vrrp::State::kMaster,
                         .priority = 150,
                         .transitions = 2,
                         .adverts_sent = 40,
                         .adverts_received = 3});
  m.drops[static_cast<std::size_t>(vrrp::DropReason::kTtlNot255)] = 7;
  std::string error;
  const auto p = lb::test::parse_prometheus_text(vrrp::render_metrics(m), error);
  REQUIRE_MESSAGE(p, error);
  CHECK(p->value("lbpair_vrrp_state", {{"vrid", "51"}, {"state", "master"}}) == 1);
  CHECK(p->value("lbpair_vrrp_state", {{"vrid", "51"}, {"state", "backup"}}) == 0);
  CHECK(p->value("lbpair_vrrp_priority", {{"instance", "vi-web"}}) == 150);
  CHECK(p->value("lbpair_vrrp_transitions_total", {{"vrid", "51"}}) == 2);
  CHECK(p->value("lbpair_vrrp_adverts_sent_total", {{"vrid", "51"}}) == 40);
  CHECK(p->value("lbpair_vrrp_adverts_received_total", {{"vrid", "51"}}) == 3);
  CHECK(p->value("lbpair_vrrp_drops_total",
                 {{"reason", std::string(vrrp::to_string(vrrp::DropReason::kTtlNot255))}}) == 7);
  CHECK(p->families.at("lbpair_vrrp_drops_total").samples.size() == vrrp::kDropReasonCount);
}

#include "vrrpd/config.hpp"

namespace {

vrrp::Config load_with_global(const std::string& global, lb::config::Diagnostics& d) {
  return vrrp::load_config_from_string("[global]\n" + global +
                                           "\n[[instance]]\nname = \"vi\"\nvrid = 51\n"
                                           "interface = \"eth0\"\nvips = [\"192.0.2.10/24\"]\n",
                                       "v.toml", d);
}

}  // namespace

TEST_CASE("vrrpd config: metrics_listen is optional, \"\" means off, a bad address is an error") {
  lb::config::Diagnostics d1;
  CHECK_FALSE(load_with_global("", d1).metrics_listen);
  CHECK(d1.empty());
  lb::config::Diagnostics d2;
  CHECK_FALSE(load_with_global("metrics_listen = \"\"", d2).metrics_listen);
  CHECK(d2.empty());
  lb::config::Diagnostics d3;
  const auto c = load_with_global("metrics_listen = \"127.0.0.1:9101\"", d3);
  CHECK(d3.empty());
  REQUIRE(c.metrics_listen);
  CHECK(c.metrics_listen->to_string() == "127.0.0.1:9101");
  lb::config::Diagnostics d4;
  load_with_global("metrics_listen = \"nowhere\"", d4);
  REQUIRE(d4.size() == 1);
  CHECK(d4.items()[0].key_path == "global.metrics_listen");
  CHECK(d4.items()[0].where.line == 2);
}
