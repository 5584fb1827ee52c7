// vrrpd and lbd together in namespaces: vrrpd tracks a real lbd over its control socket (lbd
// killed -> its watch stream ends -> FAULT at once -> the peer takes the VIP; lbd back -> polls
// rise -> preempted back) and tells it its role; `lbctl vrrp switchover` hands the VIP to the
// peer, where it stays until `vrrp resume`.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "common/control/server.hpp"
#include "tests/netns/vrrpd_lab.hpp"

using namespace vrrptest;

namespace {

const char* kVip = "192.0.2.10";

bool skip() {
  if (lbtest::can_use_netns()) return false;
  MESSAGE("skipped: needs root and ip netns");
  return true;
}

std::string lbd_binary() { return LBPAIR_BINARY_DIR "/lbd/lbd"; }
std::string lbctl_binary() { return LBPAIR_BINARY_DIR "/lbctl/lbctl"; }

// Polls every second: two failed polls would take a second or more to see a dead lbd, so only
// the watch stream can explain a faster failover.
std::string track_lbd(const std::string& socket) {
  return fmt::format(
      "lbd_control_socket = \"{}\"\n[track_lbd]\ninterval = \"1s\"\ntimeout = \"200ms\"\n"
      "rise = 2\nfall = 2\nweight = 0\n",
      socket);
}

// Milliseconds since midnight of the timestamp that starts a log line
// ("2026-12-07T17:24:02.123 I vrrpd.fsm: ..."); nullopt when the line has none.
std::optional<long> log_ms(const std::string& line) {
  int h = 0, m = 0, sec = 0, milli = 0;
  if (line.size() < 23 ||
      std::sscanf(line.c_str() + 11, "%2d:%2d:%2d.%3d", &h, &m, &sec, &milli) != 4) {
    return std::nullopt;
  }
  return ((h * 60L + m) * 60L + sec) * 1000L + milli;
}

// The first line of `log` at or after `from` that contains `needle`: its position and time.
struct LogHit {
  std::size_t pos = std::string::npos;
  long ms = -1;
};
LogHit find_line(const std::string& log, const std::string& needle, std::size_t from = 0) {
  const auto at = log.find(needle, from);
  if (at == std::string::npos) return {};
  const auto start = log.rfind('\n', at);
  const auto line = log.substr(start == std::string::npos ? 0 : start + 1, at - start);
  return {at, log_ms(line).value_or(-1)};
}

}  // namespace

TEST_CASE(
    "vrrpd netns: a killed lbd ends its watch stream, FAULT follows at once and the peer takes "
    "the VIP before a poll could notice, a restarted lbd brings the node back") {
  if (skip()) return;
  ::unsetenv("JOURNAL_STREAM");  // the daemons' log lines must carry their timestamps
  VrrpLab lab;
  const std::string sock = lab.dir() + "/lbd-a.sock";
  const auto conf = write_lbd_config(lab, "a", sock);
  auto* lbd = &lab.lab().spawn("a", {lbd_binary(), "-c", conf}, lab.dir() + "/lbd-a.log");
  REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(sock); }, ms(3000)));
  lab.start("b", {Inst{.priority = 100}});
  lab.start("a", {Inst{.priority = 150}},
            "control_socket = \"" + lab.dir() + "/vrrpd-a.sock\"\n" + track_lbd(sock));
  INFO(lab.logs("a") << lab.logs("b"));
  REQUIRE(
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(3000)));
  // vrrpd told lbd its role, and holds a watch stream on it.
  CHECK(VrrpLab::time_until(
            [&] {
              auto r = lb::control::request(sock, {{"cmd", "show roles"}}, ms(500));
              return r && (*r)["roles"]["role"] == "master";
            },
            ms(1000))
            .has_value());
  REQUIRE(VrrpLab::time_until(
      [&] { return lab.logs("a").find("lbd: watch: stream open") != std::string::npos; },
      ms(2000)));
  const auto before_kill = lab.logs("a").size();
  lbd->signal(SIGKILL);
  auto moved =
      VrrpLab::time_until([&] { return lab.holds("b", kVip) && !lab.holds("a", kVip); }, ms(3000));
  REQUIRE(moved.has_value());
  MESSAGE("lbd killed -> VIP on b after " << moved->count() << " ms");
  // The order of events in a's log after the kill: the stream ended, then FAULT with that reason,
  // and no failed poll before it.
  const auto log_a = lab.logs("a");
  const auto closed = find_line(log_a, "lbd: watch: control stream closed", before_kill);
  const auto fault = find_line(log_a,
                               "to=fault reason=\"tracked lbd down: lbd gone: control "
                               "stream closed",
                               before_kill);
  const auto polled = find_line(log_a, "lbd: check failed", before_kill);
  REQUIRE(closed.pos != std::string::npos);
  REQUIRE(fault.pos != std::string::npos);
  CHECK(closed.pos < fault.pos);
  CHECK((polled.pos == std::string::npos || polled.pos > fault.pos));
  REQUIRE(closed.ms >= 0);
  REQUIRE(fault.ms >= 0);
  CHECK(fault.ms - closed.ms <= 20);
  // b became master within its Skew_Time of a's priority-0 advert, far less than one poll
  // interval (1 s) after a saw the stream end.
  const auto log_b = lab.logs("b");
  std::size_t last_master = std::string::npos;
  for (auto at = log_b.find("to=master"); at != std::string::npos;
       at = log_b.find("to=master", at + 1)) {
    last_master = at;
  }
  REQUIRE(last_master != std::string::npos);
  const auto took = find_line(log_b, "to=master", log_b.rfind('\n', last_master) + 1);
  REQUIRE(took.ms >= 0);
  MESSAGE("a: stream closed -> fault " << fault.ms - closed.ms << " ms; -> b master "
                                       << took.ms - closed.ms << " ms");
  CHECK(took.ms - closed.ms >= 0);
  CHECK(took.ms - closed.ms < 500);
  auto status = lb::control::request(lab.dir() + "/vrrpd-a.sock", {{"cmd", "status"}}, ms(1000));
  REQUIRE(status);
  CHECK((*status)["instances"][0]["state"] == "fault");
  CHECK((*status)["track_lbd"]["up"] == false);
  // lbd back: the watch reopens (bounded backoff), two good polls -> a leaves FAULT and preempts.
  const auto before_restart = lab.logs("a").size();
  lbd = &lab.lab().spawn("a", {lbd_binary(), "-c", conf}, lab.dir() + "/lbd-a.2.log");
  CHECK(VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(5000))
            .has_value());
  CHECK(lab.logs("a").find("lbd: watch: stream open", before_restart) != std::string::npos);
  // The new lbd learned the role again (vrrpd resends when lbd's health says it knows none).
  CHECK(VrrpLab::time_until(
            [&] {
              auto r = lb::control::request(sock, {{"cmd", "show roles"}}, ms(500));
              return r && (*r)["roles"]["role"] == "master";
            },
            ms(1000))
            .has_value());
}

TEST_CASE(
    "vrrpd netns: lbctl vrrp switchover moves the VIP to the peer, it stays, resume takes it "
    "back") {
  if (skip()) return;
  VrrpLab lab;
  const std::string sa = lab.dir() + "/vrrpd-a.sock";
  lab.start("b", {Inst{.priority = 100}});
  lab.start("a", {Inst{.priority = 150}}, "control_socket = \"" + sa + "\"\n");
  INFO(lab.logs("a") << lab.logs("b"));
  REQUIRE(
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(3000)));
  const auto lbctl = [&](const std::string& args) {
    return lbtest::run_command(
        fmt::format("{} --vrrpd-socket {} {} 2>&1", lbctl_binary(), sa, args));
  };
  const auto r = lbctl("vrrp switchover");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "vi (vrid 51): handed over: now backup, priority 1\n");
  // b hears priority 0 and takes over after its Skew_Time (~61 ms at 100 ms adverts).
  auto moved =
      VrrpLab::time_until([&] { return lab.holds("b", kVip) && !lab.holds("a", kVip); }, ms(1000));
  REQUIRE(moved.has_value());
  MESSAGE("switchover -> VIP on b after " << moved->count() << " ms");
  // It stays on b for twice a's Master_Down_Interval at priority 1 (~0.4 s): no preemption back.
  const auto stay_until = Clock::now() + ms(800);
  bool stayed = true;
  while (Clock::now() < stay_until) {
    stayed = stayed && lab.holds("b", kVip) && !lab.holds("a", kVip);
    std::this_thread::sleep_for(ms(20));
  }
  CHECK(stayed);
  const auto shown = lbctl("vrrp show");
  CHECK(shown.output.find("backup (switched over)  150       1") != std::string::npos);
  // Nothing left to hand over.
  const auto again = lbctl("vrrp switchover");
  CHECK(again.exit_code == 1);
  CHECK(again.output == "lbctl: vrrpd: no instance is master on this node\n");
  // resume: priority 150 again, preempt brings the VIP back.
  CHECK(lbctl("vrrp resume 51").exit_code == 0);
  CHECK(VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(2000))
            .has_value());
}

TEST_CASE("vrrpd netns: a restarted lbd learns the current roles again without a transition") {
  if (skip()) return;
  VrrpLab lab;
  const std::string sock = lab.dir() + "/lbd-a.sock";
  const auto conf = write_lbd_config(lab, "a", sock);
  auto* lbd = &lab.lab().spawn("a", {lbd_binary(), "-c", conf}, lab.dir() + "/lbd-a.log");
  REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(sock); }, ms(3000)));
  // weight = 1: the kill below takes the tracker down (the watch stream ends), but with no peer
  // a priority of 149 changes no state, so no transition happens.
  lab.start("a", {Inst{.priority = 150}},
            fmt::format("lbd_control_socket = \"{}\"\n[track_lbd]\ninterval = \"50ms\"\n"
                        "timeout = \"40ms\"\nweight = 1\n",
                        sock));
  INFO(lab.logs("a"));
  REQUIRE(VrrpLab::time_until([&] { return lab.holds("a", kVip); }, ms(3000)));
  auto role = [&]() -> nlohmann::json {
    auto r = lb::control::request(sock, {{"cmd", "show roles"}}, ms(500));
    return r ? (*r)["roles"] : nlohmann::json();
  };
  REQUIRE(VrrpLab::time_until([&] { return role()["role"] == "master"; }, ms(1000)));
  lbd->signal(SIGKILL);
  CHECK(lbd->wait_for(ms(2000)) == 128 + SIGKILL);
  lbd = &lab.lab().spawn("a", {lbd_binary(), "-c", conf}, lab.dir() + "/lbd-a.2.log");
  CHECK(VrrpLab::time_until([&] { return role()["role"] == "master"; }, ms(1500)).has_value());
  const auto r = role();
  REQUIRE(r["vrids"].size() == 1);
  CHECK(r["vrids"][0]["reason"] == "current state, resent: lbd knew no role");
  CHECK(lab.holds("a", kVip));
}
