// vrrpd in namespaces: two nodes and a client on a bridge, 100 ms adverts. Election, SIGKILL and
// SIGTERM failover within their bounds, preemption back, link down (Fault), reload keeps state.
#include <csignal>

#include "tests/netns/vrrpd_lab.hpp"

using namespace vrrptest;

namespace {

// 100 ms adverts: node b (priority 100) has Master_Down_Interval 3*100 + 156/256*100 = 360.9 ms
// and Skew_Time 60.9 ms; node a (priority 150) has 341.4 ms.
constexpr ms kMdiB{361};
constexpr ms kSkewB{61};
constexpr ms kSlack{100};
const char* kVip = "192.0.2.10";

bool skip() {
  if (lbtest::can_use_netns()) return false;
  MESSAGE("skipped: needs root and ip netns");
  return true;
}

/// a (150) and b (100) running; waits until a alone holds the VIP.
void elect(VrrpLab& lab) {
  lab.start("b", {Inst{.priority = 100}});
  lab.start("a", {Inst{.priority = 150}});
  auto t =
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(3000));
  INFO(lab.logs("a") << lab.logs("b"));
  REQUIRE(t.has_value());
}

}  // namespace

TEST_CASE("vrrpd netns: the higher priority node is elected and alone holds the VIP") {
  if (skip()) return;
  VrrpLab lab;
  elect(lab);
  // Stays so for several advert intervals (no flapping), and the client reaches the VIP.
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(ms(50));
    CHECK(lab.holds("a", kVip));
    CHECK_FALSE(lab.holds("b", kVip));
  }
  CHECK(lab.lab().exec("client", "ping -c1 -W1 192.0.2.10").exit_code == 0);
  CHECK(lab.client_neigh(kVip) == lab.mac("a"));
}

TEST_CASE(
    "vrrpd netns: SIGKILL of the master — backup holds the VIP, old master does not, "
    "within Master_Down_Interval + 100 ms; the old master preempts back on restart") {
  if (skip()) return;
  VrrpLab lab;
  elect(lab);
  lab.proc("a").signal(SIGKILL);
  auto t = VrrpLab::time_until([&] { return lab.holds("b", kVip) && !lab.holds("a", kVip); },
                               kMdiB + kSlack);
  INFO(lab.logs("a") << lab.logs("b"));
  REQUIRE(t.has_value());
  MESSAGE("sigkill -> VIP on b only after " << t->count() << " ms");
  CHECK(lab.lab().exec("client", "ping -c1 -W1 192.0.2.10").exit_code == 0);
  CHECK(lab.client_neigh(kVip) == lab.mac("b"));

  // Preemption back: a restarts as Backup, hears the lower b, takes over after its own
  // Master_Down_Interval (341 ms) and b steps down.
  lab.start("a", {Inst{.priority = 150}});
  auto back =
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(2000));
  REQUIRE(back.has_value());
  MESSAGE("restart -> VIP back on a after " << back->count() << " ms");
  auto client =
      VrrpLab::time_until([&] { return lab.client_neigh(kVip) == lab.mac("a"); }, ms(500));
  CHECK(client.has_value());
}

TEST_CASE("vrrpd netns: SIGTERM — priority 0, backup takes over within Skew_Time + 100 ms") {
  if (skip()) return;
  VrrpLab lab;
  elect(lab);
  lab.proc("a").signal(SIGTERM);
  auto t = VrrpLab::time_until([&] { return lab.holds("b", kVip) && !lab.holds("a", kVip); },
                               kSkewB + kSlack);
  INFO(lab.logs("a") << lab.logs("b"));
  REQUIRE(t.has_value());
  MESSAGE("sigterm -> VIP on b only after " << t->count() << " ms");
  CHECK(lab.proc("a").wait_for(ms(2000)) == 0);
}

TEST_CASE(
    "vrrpd netns: link down puts the master in Fault and releases the VIP; link up "
    "preempts back") {
  if (skip()) return;
  VrrpLab lab;
  elect(lab);
  lab.lab().set_link("a", false);
  auto released = VrrpLab::time_until([&] { return !lab.holds("a", kVip); }, ms(100));
  auto taken = VrrpLab::time_until([&] { return lab.holds("b", kVip); }, kMdiB + kSlack);
  INFO(lab.logs("a") << lab.logs("b"));
  CHECK(released.has_value());
  REQUIRE(taken.has_value());
  lab.lab().set_link("a", true);
  auto back =
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(2000));
  CHECK(back.has_value());
  CHECK(lab.logs("a").find("to=fault") != std::string::npos);
}

TEST_CASE("vrrpd netns: SIGHUP with an untouched VRID keeps its state and VIP") {
  if (skip()) return;
  VrrpLab lab;
  elect(lab);
  // Add a second VRID to a's config; VRID 51 is unchanged.
  lab.write_config("a",
                   {Inst{.priority = 150},
                    Inst{.name = "vi2", .vrid = 52, .priority = 150, .vips = "\"192.0.2.20/24\""}});
  lab.proc("a").signal(SIGHUP);
  bool kept = true;
  for (int i = 0; i < 100; ++i) {  // 100 polls over about a second
    kept = kept && lab.holds("a", kVip) && !lab.holds("b", kVip);
    std::this_thread::sleep_for(ms(5));
  }
  INFO(lab.logs("a"));
  CHECK(kept);
  CHECK(VrrpLab::time_until([&] { return lab.holds("a", "192.0.2.20"); }, ms(2000)).has_value());
  const auto log = lab.logs("a");
  CHECK(log.find("reload: kept=1 started=1") != std::string::npos);
  // vi made exactly one transition to master, before the reload.
  std::size_t n = 0;
  for (auto at = log.find("vi: transition"); at != std::string::npos;
       at = log.find("vi: transition", at + 1)) {
    ++n;
  }
  CHECK(n == 2);  // initialize->backup, backup->master
}

TEST_CASE("vrrpd netns: --release-vips removes leftover VIPs, idempotently (ExecStopPost)") {
  if (skip()) return;
  VrrpLab lab;
  lab.write_config("a", {Inst{.priority = 150}});
  REQUIRE(lab.lab().exec("a", "ip addr add 192.0.2.10/24 dev eth0").exit_code == 0);
  REQUIRE(lab.holds("a", kVip));
  const std::string cmd = vrrpd_binary() + " --release-vips -c " + lab.config_path("a");
  auto first = lab.lab().exec("a", cmd);
  INFO(first.output);
  CHECK(first.exit_code == 0);
  CHECK_FALSE(lab.holds("a", kVip));
  CHECK(lab.holds("a", "192.0.2.1"));  // the node's own address stays
  CHECK(lab.lab().exec("a", cmd).exit_code == 0);
}
