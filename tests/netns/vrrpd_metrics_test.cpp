// vrrpd's /metrics (metrics_listen) in namespaces: a running pair reports master and backup per
// VRID, adverts sent by the master and received by the backup, in strict Prometheus text.
#include <string>

#include <fmt/format.h>

#include "tests/netns/vrrpd_lab.hpp"
#include "tests/support/prometheus_text.hpp"

using namespace vrrptest;

TEST_CASE("vrrpd netns: /metrics shows each node's state per VRID and the adverts") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  VrrpLab lab;
  const std::string listen = "metrics_listen = \"127.0.0.1:9101\"";
  lab.start("b", {Inst{.priority = 100}}, listen);
  lab.start("a", {Inst{.priority = 150}}, listen);
  REQUIRE(VrrpLab::time_until(
      [&] { return lab.holds("a", "192.0.2.10") && !lab.holds("b", "192.0.2.10"); }, ms(3000)));
  // Each vrrpd listens on its own namespace's loopback.
  auto scrape = [&](const std::string& node) {
    std::string error;
    const auto r = lbtest::run_command(
        fmt::format("ip netns exec {} curl -sf --max-time 2 http://127.0.0.1:9101/metrics",
                    lab.lab().ns(node)));
    auto parsed = lb::test::parse_prometheus_text(r.output, error);
    INFO(error);
    return parsed;
  };
  INFO(lab.logs("a") << lab.logs("b"));
  std::optional<lb::test::PromText> a, b;
  REQUIRE(VrrpLab::time_until(
      [&] {
        a = scrape("a");
        b = scrape("b");
        return a && b &&
               a->value("lbpair_vrrp_state", {{"vrid", "51"}, {"state", "master"}}) == 1 &&
               b->value("lbpair_vrrp_adverts_received_total", {{"vrid", "51"}}) > 0;
      },
      ms(3000)));
  CHECK(a->value("lbpair_vrrp_adverts_sent_total", {{"vrid", "51"}}) > 0);
  CHECK(b->value("lbpair_vrrp_state", {{"vrid", "51"}, {"state", "backup"}}) == 1);
  CHECK(a->value("lbpair_vrrp_transitions_total", {{"vrid", "51"}}) >= 1);
  CHECK(a->value("lbpair_vrrp_priority", {{"vrid", "51"}}) == 150);
  CHECK(a->families.contains("lbpair_vrrp_drops_total"));
}
