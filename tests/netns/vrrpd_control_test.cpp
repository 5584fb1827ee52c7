// vrrpd's control socket in namespaces: "status" reports each VRID's state and priority, bad
// requests get an error reply, and the socket file goes away on a graceful stop.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <csignal>

#include <filesystem>
#include <mutex>
#include <thread>

#include "common/control/server.hpp"
#include "tests/netns/vrrpd_lab.hpp"
#include "tests/support/notify_listener.hpp"

using namespace vrrptest;

TEST_CASE("vrrpd netns: the control socket reports master and backup per VRID") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  VrrpLab lab;
  const std::string sa = lab.dir() + "/a.sock", sb = lab.dir() + "/b.sock";
  lab.start("b", {Inst{.priority = 100}}, "control_socket = \"" + sb + "\"");
  lab.start("a", {Inst{.priority = 150}}, "control_socket = \"" + sa + "\"");
  REQUIRE(VrrpLab::time_until(
      [&] { return lab.holds("a", "192.0.2.10") && !lab.holds("b", "192.0.2.10"); }, ms(3000)));
  auto state_of = [](const std::string& sock) -> std::string {
    auto r = lb::control::request(sock, {{"cmd", "status"}}, ms(1000));
    if (!r || !(*r)["ok"].get<bool>()) return "error";
    return (*r)["instances"][0]["state"].get<std::string>();
  };
  INFO(lab.logs("a") << lab.logs("b"));
  CHECK(VrrpLab::time_until([&] { return state_of(sa) == "master"; }, ms(1000)).has_value());
  CHECK(state_of(sb) == "backup");
  auto full = lb::control::request(sa, {{"cmd", "status"}}, ms(1000));
  REQUIRE(full.has_value());
  const auto& inst = (*full)["instances"][0];
  CHECK(inst["vrid"] == 51);
  CHECK(inst["effective_priority"] == 150);
  CHECK(inst["vips"][0] == "192.0.2.10/24");
  CHECK((*full)["drops"].contains("ttl_not_255"));
  auto bad = lb::control::request(sa, {{"cmd", "explode"}}, ms(1000));
  REQUIRE(bad.has_value());
  CHECK((*bad)["ok"] == false);
  lab.proc("a").signal(SIGTERM);
  CHECK(lab.proc("a").wait_for(ms(2000)) == 0);
  CHECK_FALSE(std::filesystem::exists(sa));
}

TEST_CASE("vrrpd netns: every transition is sent to lbd's control socket") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  VrrpLab lab;
  const std::string lbd_sock = lab.dir() + "/lbd.sock";
  // A stand-in for lbd: records what vrrpd tells it.
  lb::asio::io_context ctx;
  std::mutex mu;
  std::vector<nlohmann::json> got;
  auto server = lb::control::Server::start(ctx, lbd_sock, [&](const nlohmann::json& req) {
    std::lock_guard lock(mu);
    got.push_back(req);
    return nlohmann::json{{"ok", true}};
  });
  REQUIRE(server.has_value());
  auto work = lb::asio::make_work_guard(ctx);
  std::thread runner([&] { ctx.run(); });
  auto seen = [&](const std::string& state) {
    std::lock_guard lock(mu);
    for (const auto& m : got) {
      if (m["cmd"] == "vrrp_state" && m["state"] == state && m["instance"] == "vi") return true;
    }
    return false;
  };
  lab.start("a", {Inst{.priority = 150}}, "lbd_control_socket = \"" + lbd_sock + "\"");
  CHECK(VrrpLab::time_until([&] { return seen("backup"); }, ms(2000)).has_value());
  CHECK(VrrpLab::time_until([&] { return seen("master"); }, ms(2000)).has_value());
  lab.proc("a").signal(SIGTERM);
  CHECK(lab.proc("a").wait_for(ms(2000)) == 0);
  // (The shutdown transition is not awaited before exit: lbd sees vrrpd's socket go away.)
  work.reset();
  ctx.stop();
  runner.join();
  std::lock_guard lock(mu);
  INFO(lab.logs("a"));
  REQUIRE(got.size() >= 2);
  CHECK(got[1]["from"] == "backup");
  CHECK(got[1]["vrid"] == 51);
}

TEST_CASE("vrrpd netns: systemd is told READY, RELOADING then READY, and STOPPING") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  VrrpLab lab;
  lbtest::NotifyListener notify(lab.dir() + "/notify.sock");
  auto next = [&notify] { return notify.next(ms(3000)); };
  lab.write_config("a", {Inst{.priority = 150}});
  auto& p = lab.lab().spawn(
      "a", {"env", "NOTIFY_SOCKET=" + notify.path(), vrrpd_binary(), "-c", lab.config_path("a")},
      lab.dir() + "/notify-run.log");
  CHECK(next() == "READY=1");
  p.signal(SIGHUP);
  CHECK(next() == "RELOADING=1");
  CHECK(next() == "READY=1");
  p.signal(SIGTERM);
  CHECK(next() == "STOPPING=1");
  CHECK(p.wait_for(ms(2000)) == 0);
}
