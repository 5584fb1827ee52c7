// Forward mode, on_server_down in namespaces: a backend cut off the network is found down by the
// health checks; with "reset" lbd deletes its flows' conntrack entries, so each client's next
// segment is NATed afresh to a live backend, which answers with a RST (the client learns at once);
// with "keep" the flows stay bound to the dead backend and hang. `show forward` counts the flows
// per backend and the resets.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/control/server.hpp"
#include "tests/support/netns_lab.hpp"
#include "tests/support/text_file.hpp"

namespace {

using namespace std::chrono_literals;

struct Outcome {
  int on_be2 = 0;
  int be2_reset = 0;  // flows to be2 that ended with a RST
  int be1_survived = 0;
  int on_be1 = 0;
  std::uint64_t flows_seen = 0;  // show forward: flows before the cut
  std::uint64_t resets = 0;      // show forward: entries deleted
};

nlohmann::json show_forward(const std::string& socket) {
  auto r = lb::control::request(socket, {{"cmd", "show forward"}}, 1000ms);
  if (!r) return {};
  return (*r)["forward"];
}

Outcome run(const std::string& on_server_down) {
  Outcome out;
  char tmpl[] = "/tmp/lbpair-fwdreset-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  lbtest::NetnsLab lab;
  lab.add_host("client", {"192.0.2.100/24"});
  lab.add_host("a", {"192.0.2.1/24", "198.51.100.1/24", "192.0.2.10/24", "198.51.100.254/24"});
  lab.add_host("be1", {"198.51.100.11/24"});
  lab.add_host("be2", {"198.51.100.12/24"});
  const std::string script_dir = LBPAIR_SOURCE_DIR "/tests/netns/forward/";
  for (const auto& [host, address] :
       {std::pair{"be1", "198.51.100.11"}, {"be2", "198.51.100.12"}}) {
    lab.spawn(host, {"python3", script_dir + "backend.py", host, address, "8080"},
              dir + "/" + host + ".log");
  }
  const std::string socket = dir + "/lbd.sock";
  const std::string conf = dir + "/lbd.toml";
  std::ofstream(conf) << fmt::format(R"([global]
workers = 1
control_socket = "{}"
[[listener]]
name = "fwd"
bind = "192.0.2.10:80"
mode = "forward"
pool = "app"
forward_slots = 1021
snat_address = "198.51.100.254"
on_server_down = "{}"
[[pool]]
name = "app"
algorithm = "maglev"
[pool.health]
type = "tcp"
interval = "200ms"
timeout = "150ms"
fall = 2
rise = 1
[[pool.server]]
name = "be1"
address = "198.51.100.11:8080"
[[pool.server]]
name = "be2"
address = "198.51.100.12:8080"
)",
                                     socket, on_server_down);
  REQUIRE(lab.exec("a",
                   "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 "
                   "net.ipv4.conf.eth0.send_redirects=0")
              .exit_code == 0);
  for (const char* host : {"be1", "be2"}) {
    REQUIRE(lbtest::wait_until(
        [&] { return lab.exec(host, "ss -Hltn 'sport = :8080' | grep -q LISTEN").exit_code == 0; },
        5000ms, 50ms));
  }
  lab.spawn("a", {LBPAIR_BINARY_DIR "/lbd/lbd", "-c", conf}, dir + "/lbd.log");
  REQUIRE(lbtest::wait_until(
      [&] {
        return lab.exec("a", "nft list map ip lbpair svc0 | grep -q 198.51.100.12").exit_code == 0;
      },
      10000ms, 50ms));

  const std::string ready = dir + "/ready";
  auto& client = lab.spawn(
      "client",
      {"python3", script_dir + "client.py", "hold", "192.0.2.10", "80", "24", "0", "5", ready},
      dir + "/client.log");
  REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(ready); }, 10000ms, 20ms));
  CHECK(lbtest::wait_until(
      [&] {
        out.flows_seen = show_forward(socket).value("flows", 0ULL);
        return out.flows_seen >= 24;
      },
      3000ms, 20ms));
  // be2 falls off the network without closing anything: only the health checks notice.
  lab.set_link("be2", false);

  REQUIRE(client.wait_for(20000ms) == 0);
  out.resets = show_forward(socket).value("resets", 0ULL);
  const auto lines = lbtest::read_lines(dir + "/client.log");
  REQUIRE_FALSE(lines.empty());
  for (const auto& f : nlohmann::json::parse(lines.back())) {
    if (f.at("backend") == "be2") {
      ++out.on_be2;
      if (f.at("error").get<std::string>() == "ConnectionResetError") ++out.be2_reset;
    } else {
      ++out.on_be1;
      if (f.at("survived").get<bool>()) ++out.be1_survived;
    }
  }
  lab.teardown();
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace

TEST_CASE(
    "forward on_server_down: reset deletes a dead backend's flows so their clients get a RST, and "
    "keep leaves them bound") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const auto reset = run("reset");
  MESSAGE(
      fmt::format("reset: {} flows on be2, {} reset; be1 {}/{} survived; show forward: "
                  "flows={} resets={}",
                  reset.on_be2, reset.be2_reset, reset.be1_survived, reset.on_be1, reset.flows_seen,
                  reset.resets));
  CHECK(reset.flows_seen >= 24);
  REQUIRE(reset.on_be2 > 0);
  CHECK(reset.be2_reset == reset.on_be2);
  CHECK(reset.resets >= static_cast<std::uint64_t>(reset.on_be2));
  CHECK(reset.be1_survived == reset.on_be1);

  const auto keep = run("keep");
  MESSAGE(fmt::format("keep: {} flows on be2, {} reset; be1 {}/{} survived", keep.on_be2,
                      keep.be2_reset, keep.be1_survived, keep.on_be1));
  REQUIRE(keep.on_be2 > 0);
  CHECK(keep.be2_reset == 0);
  CHECK(keep.resets == 0);
  CHECK(keep.be1_survived == keep.on_be1);
}
