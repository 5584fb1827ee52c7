// Handing the VIP over to a live peer without resetting connections (handover_drain): two nodes
// run vrrpd and a TCP echo server on 0.0.0.0 that greets with the node's name; a client keeps
// echo flows open through the master while mastership moves (preemption by the returning
// preferred node, or an operator switchover). With a drain window every flow keeps exchanging
// data with the node it started on, a new connection lands on the new master, and after the
// window the VIP is gone from the old master and the forward table from the new one. Without
// one (handover_drain = 0) the flows are reset: the window is what saves them. A healed partition
// is a move too: both nodes were master, clients followed the lower-priority one, and when the
// nodes hear each other again it drains while the other forwards it their packets.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/control/server.hpp"
#include "tests/netns/vrrpd_lab.hpp"
#include "tests/support/text_file.hpp"

using namespace vrrptest;
using namespace std::chrono_literals;

namespace {

const std::string kScripts = LBPAIR_SOURCE_DIR "/tests/netns/forward/";

enum class Move { preempt, switchover, heal };

// Drops VRRP between the two nodes (both directions), or lets it through again.
void partition(VrrpLab& lab, bool split) {
  for (const char* node : {"a", "b"}) {
    const auto cmd = split ? "nft add table ip lbpart && nft add chain ip lbpart in "
                             "'{ type filter hook input priority -300; }' && "
                             "nft add rule ip lbpart in ip protocol vrrp drop"
                           : "nft delete table ip lbpart";
    REQUIRE(lab.lab().exec(node, cmd).exit_code == 0);
  }
}

struct Outcome {
  nlohmann::json flows;       // client.py hold's report
  std::string new_conn;       // the name that greeted a connection opened after the move
  bool old_kept_vip = false;  // the old master still held the VIP (unannounced) mid-window
  bool forwarding = false;    // the new master had its forward table mid-window
  bool vip_gone = false;      // after the window: VIP only on the new master
  bool table_gone = false;    // after the window: no handover table on either node
};

// Whether `node` has any of the instance's handover tables.
bool has_tables(VrrpLab& lab, const std::string& node) {
  return lab.lab().exec(node, "nft list tables | grep -q vrrpd_handover_").exit_code == 0;
}

// `from` is master first, `to` takes over; `drain` is both nodes' handover_drain.
Outcome run(Move move, const std::string& drain, bool v6 = false) {
  VrrpLab lab;
  Outcome out;
  const std::string vip = v6 ? "2001:db8::10" : "192.0.2.10";
  const std::string vips = fmt::format("\"{}/{}\"", vip, v6 ? 64 : 24);
  const std::string from = move == Move::switchover ? "a" : "b";
  const std::string to = move == Move::switchover ? "b" : "a";
  const std::string extra = fmt::format("handover_drain = \"{}\"", drain);
  const std::string sock_a = lab.dir() + "/a.sock";
  for (const char* node : {"a", "b"}) {
    lab.lab().spawn(node, {"python3", kScripts + "backend.py", node, v6 ? "::" : "0.0.0.0", "8080"},
                    lab.dir() + "/backend-" + node + ".log");
  }
  for (const char* node : {"a", "b"}) {
    REQUIRE(lbtest::wait_until(
        [&] {
          return lab.lab().exec(node, "ss -Hltn 'sport = :8080' | grep -q LISTEN").exit_code == 0;
        },
        5000ms, 20ms));
  }
  // Preemption: b (100) serves alone, then the preferred a (150) comes back. Switchover: a is
  // master with b as backup, and the operator hands over. Healed partition: a is master, then
  // the nodes stop hearing each other and b, started meanwhile, becomes master too and
  // announces the VIP last, so the client follows it.
  if (move == Move::heal) {
    lab.start("a", {Inst{.priority = 150, .vips = vips, .extra = extra}});
    REQUIRE(VrrpLab::time_until([&] { return lab.holds("a", vip); }, ms(3000)));
    // The client learns the VIP's address (a gratuitous ARP updates an entry, never makes one).
    REQUIRE(lab.lab().exec("client", "ping -c1 -W1 " + vip).exit_code == 0);
    partition(lab, true);
    lab.start("b", {Inst{.priority = 100, .vips = vips, .extra = extra}});
    REQUIRE(VrrpLab::time_until(
        [&] { return lab.holds("b", vip) && lab.client_neigh(vip) == lab.mac("b"); }, ms(3000)));
  } else {
    lab.start("b", {Inst{.priority = 100, .vips = vips, .extra = extra}});
    if (move == Move::switchover) {
      lab.start("a", {Inst{.priority = 150, .vips = vips, .extra = extra}},
                "control_socket = \"" + sock_a + "\"");
    }
    REQUIRE(VrrpLab::time_until([&] { return lab.holds(from, vip); }, ms(3000)));
    REQUIRE(VrrpLab::time_until([&] { return !lab.holds(to, vip); }, ms(3000)));
  }

  const std::string ready = lab.dir() + "/ready";
  auto& client = lab.lab().spawn(
      "client", {"python3", kScripts + "client.py", "hold", vip, "8080", "3", "0", "3", ready},
      lab.dir() + "/hold.log");
  REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(ready); }, 5000ms, 10ms));

  if (move == Move::preempt) {
    lab.start("a", {Inst{.priority = 150, .vips = vips, .extra = extra}});
  } else if (move == Move::heal) {
    partition(lab, false);
  } else {
    auto r = lb::control::request(sock_a, {{"cmd", "switchover"}}, ms(1000));
    REQUIRE(r.has_value());
    REQUIRE((*r)["ok"] == true);
  }
  INFO(lab.logs("a") << lab.logs("b"));
  // The new master holds the VIP and has announced it: the client's cache points at it.
  REQUIRE(VrrpLab::time_until(
      [&] { return lab.holds(to, vip) && lab.client_neigh(vip) == lab.mac(to); }, ms(3000)));
  out.new_conn =
      lab.lab()
          .exec("client", fmt::format("python3 {}client.py names {} 8080 1", kScripts, vip))
          .output;
  out.old_kept_vip = lab.holds(from, vip);
  out.forwarding = has_tables(lab, to);

  REQUIRE(client.wait_for(ms(8000)) == 0);
  const auto lines = lbtest::read_lines(lab.dir() + "/hold.log");
  REQUIRE_FALSE(lines.empty());
  out.flows = nlohmann::json::parse(lines.back());

  // The old master lets go once its connections ended (or the window did); the new master's
  // forwarding ends with the window.
  const auto window = drain == "0s" ? ms(0) : ms(4000);
  out.vip_gone =
      VrrpLab::time_until([&] { return !lab.holds(from, vip); }, window + ms(2000)).has_value() &&
      lab.holds(to, vip);
  out.table_gone =
      VrrpLab::time_until([&] { return !has_tables(lab, to) && !has_tables(lab, from); },
                          window + ms(2000))
          .has_value();
  return out;
}

// Every flow of the client kept talking to the node it started on, without an error.
void check_flows_kept(const Outcome& o, const std::string& old_name) {
  INFO(o.flows.dump());
  REQUIRE(o.flows.size() == 3);
  for (const auto& f : o.flows) {
    CHECK(f["backend"] == old_name);
    CHECK(f["survived"] == true);
    CHECK(f["error"] == "");
  }
}

// A handover that saved every flow: the flows stayed with `old_name`; the old master kept the VIP
// unannounced meanwhile and the new one forwarded; after the window both are as without a
// handover. (Each test checks where a new connection lands.)
void check_handed_over(const Outcome& o, const std::string& old_name) {
  check_flows_kept(o, old_name);
  CHECK(o.old_kept_vip);
  CHECK(o.forwarding);
  CHECK(o.vip_gone);
  CHECK(o.table_gone);
}

}  // namespace

TEST_CASE("vrrpd netns: at preemption the returning master forwards the old master's flows") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const auto o = run(Move::preempt, "4s");
  check_handed_over(o, "b");
  CHECK(o.new_conn.rfind("a\n", 0) == 0);  // a new connection lands on the new master
}

TEST_CASE("vrrpd netns: at a switchover the old master keeps serving its flows until they end") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const auto o = run(Move::switchover, "4s");
  check_handed_over(o, "a");
  CHECK(o.new_conn.rfind("b\n", 0) == 0);  // a new connection lands on the new master
}

TEST_CASE("vrrpd netns: without a drain window the flows through the old master are reset") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const auto o = run(Move::preempt, "0s");
  INFO(o.flows.dump());
  REQUIRE(o.flows.size() == 3);
  for (const auto& f : o.flows) CHECK(f["survived"] == false);
  CHECK_FALSE(o.old_kept_vip);
  CHECK_FALSE(o.forwarding);
}

TEST_CASE("vrrpd netns: an IPv6 VIP is handed over the same way (Neighbor Solicitations dropped)") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const auto o = run(Move::preempt, "4s", /*v6=*/true);
  check_handed_over(o, "b");
  CHECK(o.new_conn.rfind("a\n", 0) == 0);  // a new connection lands on the new master
}

TEST_CASE(
    "vrrpd netns: when a partition heals, the master forwards the flows of clients that followed "
    "the other master while it drains them") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const auto o = run(Move::heal, "4s");
  check_handed_over(o, "b");
  CHECK(o.new_conn.rfind("a\n", 0) == 0);  // a new connection lands on the new master
}
