// The preempt gate with real daemons in namespaces: node a (priority 150) returns while node b
// (priority 100) is master; a's lbd has not received the peer's tables (b's lbd is not up), so
// a's vrrpd holds its preemption and the VIP stays on b; once b's lbd is up and has sent its full
// table sync, a's lbd reports ready on the watch stream and a takes the VIP. With a short
// preempt_gate_timeout and no peer lbd at all, a takes the VIP when the timeout ends.
#include <fstream>

#include "common/control/server.hpp"
#include "tests/netns/vrrpd_lab.hpp"

using namespace vrrptest;

// A named namespace: the unity build puts other namespace tests in this translation unit.
namespace preempt_gate_netns {

const char* kVip = "192.0.2.10";

bool skip() {
  if (lbtest::can_use_netns()) return false;
  MESSAGE("skipped: needs root and ip netns");
  return true;
}

std::string lbd_binary() { return LBPAIR_BINARY_DIR "/lbd/lbd"; }

// lbd of `node` with replication to the other node's lbd (fast redial, so that the peer's start
// is seen within ~100 ms).
std::string write_lbd_config_replicated(VrrpLab& lab, const std::string& node,
                                        const std::string& socket) {
  const bool a = node == "a";
  return write_lbd_config(lab, node, socket,
                          fmt::format(R"([replication]
node_id = "node-{}"
peer_id = "node-{}"
listen = "{}:7400"
peer = "{}:7400"
secret = "netns-test-secret-0123456789abcdef0123"
reconnect_interval = "100ms"
reconnect_max_interval = "200ms"
)",
                                      node, a ? "b" : "a", a ? "192.0.2.1" : "192.0.2.2",
                                      a ? "192.0.2.2" : "192.0.2.1"));
}

std::string gated_global(const std::string& lbd_socket, const std::string& vrrpd_socket) {
  return fmt::format(
      "control_socket = \"{}\"\nlbd_control_socket = \"{}\"\n[track_lbd]\ninterval = \"100ms\"\n"
      "timeout = \"80ms\"\nweight = 0\n",
      vrrpd_socket, lbd_socket);
}

nlohmann::json status_of(const std::string& vrrpd_socket) {
  auto r = lb::control::request(vrrpd_socket, {{"cmd", "status"}}, ms(1000));
  return r ? *r : nlohmann::json();
}

// Node b master alone, then a (priority 150) starts with its lbd not in sync: returns when a's
// vrrpd logged that it holds the preemption.
void start_a_not_ready(VrrpLab& lab, const std::string& gate_timeout) {
  const std::string sock = lab.dir() + "/lbd-a.sock";
  lab.start("b", {Inst{.priority = 100}});
  REQUIRE(VrrpLab::time_until([&] { return lab.holds("b", kVip); }, ms(3000)));
  lab.lab().spawn("a", {lbd_binary(), "-c", write_lbd_config_replicated(lab, "a", sock)},
                  lab.dir() + "/lbd-a.log");
  REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(sock); }, ms(3000)));
  lab.start("a",
            {Inst{.priority = 150, .extra = "preempt_gate_timeout = \"" + gate_timeout + "\""}},
            gated_global(sock, lab.dir() + "/vrrpd-a.sock"));
  REQUIRE(VrrpLab::time_until(
      [&] { return lab.logs("a").find("preemption held") != std::string::npos; }, ms(3000)));
}

TEST_CASE(
    "vrrpd netns: a returning node keeps off the VIP while its lbd lacks the peer's tables, then "
    "preempts once lbd reports ready") {
  if (skip()) return;
  VrrpLab lab;
  start_a_not_ready(lab, "30s");
  INFO(lab.logs("a") << lab.logs("b"));
  // Many Master_Down_Intervals (~0.36 s here): without the gate a would have preempted.
  const auto stay_until = Clock::now() + ms(1500);
  bool stayed = true;
  while (Clock::now() < stay_until) {
    stayed = stayed && lab.holds("b", kVip) && !lab.holds("a", kVip);
    std::this_thread::sleep_for(ms(20));
  }
  CHECK(stayed);
  const auto held = status_of(lab.dir() + "/vrrpd-a.sock");
  REQUIRE(held.is_object());
  CHECK(held["instances"][0]["state"] == "backup");
  CHECK(held["instances"][0]["preempt_held"] == true);
  CHECK(held["instances"][0]["lbd_ready"] == false);
  CHECK(held["track_lbd"]["ready"] == false);
  // b's lbd comes up: the sessions connects, b sends its full sync, a's lbd is ready.
  const std::string sock_b = lab.dir() + "/lbd-b.sock";
  const auto peer_up = Clock::now();
  lab.lab().spawn("b", {lbd_binary(), "-c", write_lbd_config_replicated(lab, "b", sock_b)},
                  lab.dir() + "/lbd-b.log");
  auto moved =
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(5000));
  REQUIRE(moved.has_value());
  MESSAGE("peer lbd started -> VIP on a after "
          << std::chrono::duration_cast<ms>(Clock::now() - peer_up).count() << " ms");
  CHECK(lab.logs("a").find("preempting a lower-priority master: lbd is ready") !=
        std::string::npos);
  const auto after = status_of(lab.dir() + "/vrrpd-a.sock");
  CHECK(after["instances"][0]["lbd_ready"] == true);
  CHECK(after["instances"][0]["preempts_held"] == 1);
}

TEST_CASE(
    "vrrpd netns: with its lbd never in sync, a returning node preempts when "
    "preempt_gate_timeout ends") {
  if (skip()) return;
  VrrpLab lab;
  start_a_not_ready(lab, "1500ms");
  const auto held_at = Clock::now();
  INFO(lab.logs("a") << lab.logs("b"));
  auto moved =
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(5000));
  REQUIRE(moved.has_value());
  const auto waited = std::chrono::duration_cast<ms>(Clock::now() - held_at);
  MESSAGE("held -> VIP on a after " << waited.count() << " ms (timeout 1500 ms)");
  // The hold was logged before we saw it: up to the poll step earlier.
  CHECK(waited >= ms(1300));
  CHECK(waited <= ms(2500));
  CHECK(lab.logs("a").find("preempt_gate_timeout reached, lbd still not ready") !=
        std::string::npos);
}

}  // namespace preempt_gate_netns
