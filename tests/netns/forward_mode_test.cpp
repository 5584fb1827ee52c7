// Forward mode in namespaces: a client, an lbd node holding the VIP and two backends on one
// bridge. The kernel forwards (nftables DNAT through lbd's slot table, SNAT to the backend-side
// address); lbd programs the table, rewrites it on drain and health changes, leaves it working
// when SIGKILLed, replaces it on restart and deletes it on a clean stop.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/netns_lab.hpp"

namespace {

using namespace std::chrono_literals;

constexpr const char* kFwdVip = "192.0.2.10";

std::string fwd_script(const char* name) {
  return fmt::format("{}/tests/netns/forward/{}", LBPAIR_SOURCE_DIR, name);
}

// How many of `n` new connections each backend greeted ("-" for a failed connection).
std::map<std::string, int> greeted_by(lbtest::NetnsLab& lab, int n) {
  const auto r = lab.exec(
      "client", fmt::format("python3 {} names {} 80 {}", fwd_script("client.py"), kFwdVip, n));
  std::map<std::string, int> out;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) ++out[line];
  }
  return out;
}

std::string fwd_table(lbtest::NetnsLab& lab) {
  return lab.exec("lb", "nft list table ip lbpair 2>&1").output;
}

bool backend_listening(lbtest::NetnsLab& lab, const std::string& host) {
  return lab.exec(host, "ss -Hltn 'sport = :8080' | grep -q LISTEN").exit_code == 0;
}

}  // namespace

TEST_CASE(
    "forward mode: the kernel forwards by lbd's table, drained and down backends get no new "
    "flows, SIGKILL keeps the table, restart replaces it, a clean stop deletes it") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  char tmpl[] = "/tmp/lbpair-forward-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  lbtest::NetnsLab lab;
  lab.add_host("client", {"192.0.2.100/24"});
  lab.add_host("lb", {"192.0.2.1/24", "192.0.2.10/24", "198.51.100.1/24", "198.51.100.254/24"});
  lab.add_host("be1", {"198.51.100.11/24"});
  lab.add_host("be2", {"198.51.100.12/24"});
  // A router forwarding out of the interface it received on: no ICMP redirects to the client.
  REQUIRE(lab.exec("lb",
                   "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 "
                   "net.ipv4.conf.eth0.send_redirects=0")
              .exit_code == 0);
  auto start_backend = [&](const std::string& host, const std::string& address,
                           const std::string& log) -> lbtest::ChildProcess& {
    auto& p = lab.spawn(host, {"python3", fwd_script("backend.py"), host, address, "8080"},
                        dir + "/" + log);
    REQUIRE(lbtest::wait_until([&] { return backend_listening(lab, host); }, 5000ms, 50ms));
    return p;
  };
  start_backend("be1", "198.51.100.11", "be1.log");
  auto* be2 = &start_backend("be2", "198.51.100.12", "be2.log");

  const std::string sock = dir + "/lbd.sock";
  const std::string conf = dir + "/lbd.toml";
  std::ofstream(conf) << fmt::format(R"([global]
workers = 1
control_socket = "{}"
[[listener]]
name = "fwd"
bind = "{}:80"
mode = "forward"
pool = "app"
forward_slots = 1021
snat_address = "198.51.100.254"
[[pool]]
name = "app"
algorithm = "maglev"
[pool.health]
type = "tcp"
interval = "100ms"
timeout = "100ms"
rise = 1
fall = 1
[[pool.server]]
name = "be1"
address = "198.51.100.11:8080"
[[pool.server]]
name = "be2"
address = "198.51.100.12:8080"
)",
                                     sock, kFwdVip);
  const std::string lbd_bin = LBPAIR_BINARY_DIR "/lbd/lbd";
  const std::string lbctl = fmt::format("{}/lbctl/lbctl --lbd-socket {} ", LBPAIR_BINARY_DIR, sock);
  auto* lbd = &lab.spawn("lb", {lbd_bin, "-c", conf}, dir + "/lbd.log");
  const auto both_in_table = [&] {
    const auto t = fwd_table(lab);
    return t.find("198.51.100.11 . 8080") != std::string::npos &&
           t.find("198.51.100.12 . 8080") != std::string::npos;
  };
  REQUIRE_MESSAGE(lbtest::wait_until(both_in_table, 10000ms, 50ms), fwd_table(lab));
  CHECK(fwd_table(lab).find("snat to 198.51.100.254") != std::string::npos);

  SUBCASE("flows land on both backends, and on be1 only while be2 is drained or down") {
    auto greeted = greeted_by(lab, 40);
    INFO(fmt::format("be1={} be2={} failed={}", greeted["be1"], greeted["be2"], greeted["-"]));
    CHECK(greeted["-"] == 0);
    CHECK(greeted["be1"] > 0);
    CHECK(greeted["be2"] > 0);

    REQUIRE(lab.exec("lb", lbctl + "server drain app/be2").exit_code == 0);
    REQUIRE(lbtest::wait_until([&] { return !both_in_table(); }, 5000ms, 20ms));
    greeted = greeted_by(lab, 30);
    CHECK(greeted["be1"] == 30);

    REQUIRE(lab.exec("lb", lbctl + "server enable app/be2").exit_code == 0);
    REQUIRE(lbtest::wait_until(both_in_table, 5000ms, 20ms));
    be2->signal(SIGKILL);  // down: the tcp check fails, the snapshot drops be2
    be2->wait_for(2000ms);
    REQUIRE(lbtest::wait_until([&] { return !both_in_table(); }, 5000ms, 20ms));
    greeted = greeted_by(lab, 30);
    CHECK(greeted["be1"] == 30);
  }

  SUBCASE("SIGKILL of lbd leaves the last table forwarding; a restart replaces it") {
    lbd->signal(SIGKILL);
    REQUIRE(lbd->wait_for(5000ms) == 128 + SIGKILL);
    CHECK(both_in_table());
    auto greeted = greeted_by(lab, 20);
    CHECK(greeted["-"] == 0);
    CHECK(greeted["be1"] + greeted["be2"] == 20);

    // Restarted while be2 is drained through the config: the stale table is replaced, not
    // added to (one table, one rule, no element of be2).
    std::string text;
    {
      std::ifstream in(conf);
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    text.replace(text.find("address = \"198.51.100.12:8080\""), 30,
                 "address = \"198.51.100.12:8080\"\nstate = \"drain\"");
    std::ofstream(conf) << text;
    lbd = &lab.spawn("lb", {lbd_bin, "-c", conf}, dir + "/lbd.2.log");
    REQUIRE_MESSAGE(lbtest::wait_until(
                        [&] {
                          return !both_in_table() &&
                                 fwd_table(lab).find("198.51.100.11") != std::string::npos;
                        },
                        10000ms, 50ms),
                    fwd_table(lab));
    const auto t = fwd_table(lab);
    CHECK(lab.exec("lb", "nft list tables | grep -c 'table ip lbpair'").output == "1\n");
    std::size_t rules = 0;
    for (auto at = t.find("dnat ip to"); at != std::string::npos; at = t.find("dnat ip to", at + 1))
      ++rules;
    CHECK(rules == 1);
    greeted = greeted_by(lab, 20);
    CHECK(greeted["be1"] == 20);

    lbd->stop();  // SIGTERM: a clean stop deletes the table
    CHECK(fwd_table(lab).find("No such file or directory") != std::string::npos);
  }
  lab.teardown();
  std::filesystem::remove_all(dir);
}
