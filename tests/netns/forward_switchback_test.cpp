// Forward mode with replication, in namespaces: flows established through node a survive a
// planned switchover to b and the switch-back to a. Roles reach lbd as vrrpd sends them
// (vrrp_state on the control socket) and the VIP and the SNAT address move between the nodes as
// vrrpd moves them (neighbour caches flushed instead of gratuitous ARP). The switch-back is the
// hard part: a's kernel still holds the entries it created when it carried the flows, with the
// TCP windows of that time, so the entries b streams back must make a accept the flows'
// current segments.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>

#include "tests/netns/forward_lab.hpp"

namespace {

using namespace std::chrono_literals;

/// Tells lbd on `node` its VRRP state, as vrrpd does on every transition.
void set_state(fwdlab::ForwardLab& lab, const std::string& node, const std::string& state) {
  const nlohmann::json msg{{"cmd", "vrrp_state"},
                           {"instance", "fwd"},
                           {"vrid", 52},
                           {"interface", "eth0"},
                           {"state", state},
                           {"reason", "test"},
                           {"vips", {"192.0.2.10/24", "198.51.100.254/24"}}};
  const auto r = lb::control::request(lab.socket(node), msg, 1000ms);
  REQUIRE(r.has_value());
  REQUIRE(r->value("ok", false));
}

/// Moves the VIP and the SNAT address from `from` to `to`, in the order of a VRRP handover: the
/// old master steps down, the new one takes the addresses and then tells its lbd.
void hand_over(fwdlab::ForwardLab& lab, const std::string& from, const std::string& to) {
  set_state(lab, from, "backup");
  REQUIRE(lab.lab
              .exec(from,
                    "ip addr del 192.0.2.10/24 dev eth0 && "
                    "ip addr del 198.51.100.254/24 dev eth0")
              .exit_code == 0);
  REQUIRE(lab.lab
              .exec(to,
                    "ip addr add 192.0.2.10/24 dev eth0 && "
                    "ip addr add 198.51.100.254/24 dev eth0")
              .exit_code == 0);
  for (const char* host : {"client", "be1", "be2"}) lab.lab.exec(host, "ip neigh flush all");
  set_state(lab, to, "master");
}

std::uint64_t held(fwdlab::ForwardLab& lab, const std::string& node) {
  return fwdlab::conntrack_held(fwdlab::show(lab.socket(node), "replication"));
}

/// Entries on `node` for the VIP that counted at least `packets` packets in each direction.
int flows_with_packets(fwdlab::ForwardLab& lab, const std::string& node, int packets) {
  const auto r = lab.lab.exec(
      node, fmt::format("conntrack -L -p tcp --orig-dst 192.0.2.10 2>/dev/null | awk '{{ok=0; "
                        "for (i = 1; i <= NF; i++) if ($i ~ /^packets=/) {{split($i, p, \"=\"); "
                        "if (p[2] + 0 >= {}) ok++}} if (ok == 2) n++}} END {{print n + 0}}'",
                        packets));
  return r.exit_code == 0 ? static_cast<int>(std::strtol(r.output.c_str(), nullptr, 10)) : -1;
}

}  // namespace

TEST_CASE(
    "forward replication: flows survive a switchover to the standby and the switch-back to the "
    "node that first carried them") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  fwdlab::ForwardLab lab(true);
  // random: a flow picked up without its entry goes to the other backend half the time.
  for (const std::string node : {"a", "b"}) {
    lab.start_lbd(node, {.algorithm = "random", .replicate = true});
  }
  lab.wait_ready("a");
  lab.wait_ready("b");
  REQUIRE(lab.lab.exec("b", "sysctl -qw net.netfilter.nf_conntrack_acct=1").exit_code == 0);
  set_state(lab, "a", "master");
  set_state(lab, "b", "backup");
  REQUIRE(lbtest::wait_until(
      [&] { return fwdlab::show(lab.socket("b"), "replication").value("in_sync", false); }, 10000ms,
      50ms));

  constexpr int kFlows = 24;
  auto& client = lab.hold(20, 4, 8);
  REQUIRE(lbtest::wait_until([&] { return held(lab, "b") >= kFlows; }, 5000ms, 10ms));

  hand_over(lab, "a", "b");
  // b, now master, streams the flows it adopted back to a.
  CHECK(lbtest::wait_until([&] { return held(lab, "a") >= kFlows; }, 5000ms, 10ms));
  // Segments of every flow through b before the switch-back, so that a's own entries are
  // behind the flows' sequence numbers (b counts packets per entry: nf_conntrack_acct).
  CHECK(
      lbtest::wait_until([&] { return flows_with_packets(lab, "b", 20) >= kFlows; }, 5000ms, 50ms));
  hand_over(lab, "b", "a");

  REQUIRE(client.wait_for(20000ms) == 0);
  int flows = 0, survived = 0, reset = 0;
  for (const auto& f : lab.client_flows()) {
    ++flows;
    if (f.at("survived").get<bool>()) ++survived;
    if (f.at("error").get<std::string>() == "ConnectionResetError") ++reset;
  }
  MESSAGE(fmt::format("{}/{} flows survived the switchover and the switch-back, {} reset", survived,
                      flows, reset));
  CHECK(flows == kFlows);
  CHECK(survived == flows);
  CHECK(reset == 0);
}
