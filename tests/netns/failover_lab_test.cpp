// The failover lab (scripts/lab/failover_lab.py, what ./scripts/demo runs), shorter, as a test with
// --strict: after SIGKILL of the master's lbd and vrrpd the VIP moves within Master_Down_Interval
// + 200 ms, exactly one node holds it after the kill and after the restart, every sticky client
// (cookie, source IP, HTTP/2 with the cookie) and every plain client (connection table) keeps its
// backend, no request fails once the failover has completed, and each lbd's /metrics ([admin] of
// the node configs) reports the role vrrpd gave it. With lbd killed alone (--kill lbd), vrrpd's
// watch stream on lbd must move the VIP within node-b's Skew_Time + 200 ms (two failed polls would
// take longer).
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "tests/support/netns_lab.hpp"

TEST_CASE(
    "failover lab: SIGKILL of the master: VIP moves in time, one holder, clients keep backends") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const std::string report = fmt::format("/tmp/lbpair-lab-report-{}.json", ::getpid());
  const auto result = lbtest::run_command(fmt::format(
      "python3 {}/scripts/lab/failover_lab.py --bin-dir {} --conf-dir {}/conf --warmup 3 "
      "--after-kill 4 --after-restart 4 --quiet --strict --json {}",
      LBPAIR_SOURCE_DIR, LBPAIR_BINARY_DIR, LBPAIR_SOURCE_DIR, report));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  std::ifstream in(report);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("\"vip_holders_after\": [\n      \"node-b\"\n    ]") != std::string::npos);
  std::remove(report.c_str());
}

TEST_CASE(
    "failover lab: SIGKILL of lbd alone: vrrpd sees it at once, the VIP moves within Skew_Time + "
    "200 ms and comes back after lbd's restart") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const std::string report = fmt::format("/tmp/lbpair-lab-report-lbd-{}.json", ::getpid());
  const auto result = lbtest::run_command(fmt::format(
      "python3 {}/scripts/lab/failover_lab.py --bin-dir {} --conf-dir {}/conf --kill lbd "
      "--warmup 3 --after-kill 4 --after-restart 4 --quiet --strict --json {}",
      LBPAIR_SOURCE_DIR, LBPAIR_BINARY_DIR, LBPAIR_SOURCE_DIR, report));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  std::ifstream in(report);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("\"failed_at_switch_back\"") != std::string::npos);
  std::remove(report.c_str());
}
