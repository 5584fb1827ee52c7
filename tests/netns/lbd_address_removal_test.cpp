// lbd ends the client sessions bound to a local address the moment that address is removed from
// the host (vrrpd releasing the VIP to the other node): a client holding one connection to the
// VIP and one to the node's own address through an L4 listener sees the first one end at once,
// the second one keeps working, the sessions count in the metric, and the ended session's
// connection-table entry lingers for the peer.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "common/control/server.hpp"
#include "tests/support/netns_lab.hpp"
#include "tests/support/text_file.hpp"

// A named namespace: the unity build puts other namespace tests in this translation unit.
namespace address_removal_netns {

using namespace std::chrono_literals;

std::string script(const char* name) {
  return fmt::format("{}/tests/netns/hygiene/{}", LBPAIR_SOURCE_DIR, name);
}

// The listeners of lbd's connection table ("show conns"), one per live session.
std::multiset<std::string> conn_listeners(const std::string& sock) {
  std::multiset<std::string> out;
  auto r = lb::control::request(sock, {{"cmd", "show conns"}}, 1000ms);
  if (!r) return out;
  for (const auto& c : (*r)["connections"]) out.insert(c.value("listener", std::string()));
  return out;
}

TEST_CASE(
    "lbd netns: removing the VIP from the host ends the sessions on it at once, sessions on the "
    "node's own address go on") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  char tmpl[] = "/tmp/lbpair-addrdel-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  lbtest::NetnsLab lab;
  lab.add_host("client", {"192.0.2.100/24"});
  lab.add_host("lb", {"192.0.2.1/24", "192.0.2.10/24"});
  lab.spawn("lb", {"python3", script("echo_backend.py"), "127.0.0.1", "9000"}, dir + "/be.log");
  REQUIRE(lbtest::wait_until(
      [&] { return lab.exec("lb", "ss -Hltn 'sport = :9000' | grep -q LISTEN").exit_code == 0; },
      5000ms, 50ms));
  const std::string sock = dir + "/lbd.sock";
  const std::string conf = dir + "/lbd.toml";
  std::ofstream(conf) << fmt::format(R"([global]
workers = 2
drain_timeout = "0s"
control_socket = "{}"
[admin]
listen = "127.0.0.1:9100"
allow = []
[[listener]]
name = "vip"
bind = "0.0.0.0:8080"
mode = "tcp"
pool = "echo"
[[pool]]
name = "echo"
[[pool.server]]
name = "e1"
address = "127.0.0.1:9000"
)",
                                     sock);
  lab.spawn("lb", {LBPAIR_BINARY_DIR "/lbd/lbd", "-c", conf}, dir + "/lbd.log");
  REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(sock); }, 5000ms, 20ms));
  const std::string client_log = dir + "/client.log";
  lab.spawn("client", {"python3", script("hold_client.py"), "192.0.2.10:8080", "192.0.2.1:8080"},
            client_log);
  INFO(lbtest::read_text(dir + "/lbd.log") << lbtest::read_text(client_log));
  REQUIRE(lbtest::wait_until(
      [&] { return lbtest::read_text(client_log).find("ready") != std::string::npos; }, 5000ms,
      20ms));
  REQUIRE(conn_listeners(sock).size() == 2);

  // lbd's connections to the echo backend: one per session.
  const auto upstreams = [&] {
    const auto r = lab.exec("lb", "ss -Htn state established '( dport = :9000 )' | wc -l");
    return std::atoi(r.output.c_str());
  };
  REQUIRE(upstreams() == 2);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(lab.exec("lb", "ip addr del 192.0.2.10/24 dev eth0").exit_code == 0);
  // The session on the removed address ends (its backend connection with it), within a bound
  // far below any idle timeout.
  CHECK(lbtest::wait_until([&] { return upstreams() == 1; }, 1000ms, 5ms));
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  MESSAGE("address removed -> session ended after " << took.count() << " ms");
  const auto metrics = lab.exec("lb", "curl -s http://127.0.0.1:9100/metrics").output;
  CHECK(metrics.find("lbpair_lbd_sessions_closed_address_removed_total 1\n") != std::string::npos);
  // Its connection-table entry lingers (a copy) for the peer, which serves that client now:
  // the live session and the copy.
  CHECK(conn_listeners(sock).size() == 2);
  // The session on the node's own address still works: a moment later its backend connection
  // is still there and the client saw no end.
  std::this_thread::sleep_for(200ms);
  CHECK(upstreams() == 1);
  CHECK(lbtest::read_text(client_log).find("closed 192.0.2.1:8080") == std::string::npos);
  lab.teardown();
  std::filesystem::remove_all(dir);
}

}  // namespace address_removal_netns
