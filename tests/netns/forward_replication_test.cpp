// Forward mode with replication, in namespaces: established TCP flows through node a keep
// running through node b after a's link goes down and b takes the VIP and the SNAT address,
// because lbd on a streamed the conntrack entries (events of the marked flows, the replication
// channel) and lbd on b installed them with their NAT binding; nothing is copied by the test.
// Without replication the same move resets flows.
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

struct Result {
  int flows = 0;
  int survived = 0;
  int reset = 0;
  std::uint64_t held_on_b = 0;  // the peer's entries b held before the move
  double stream_ms = 0;         // from the client's flows being up to b holding them all
  double worst_pause_ms = 0;
};

std::string lbd_config(const std::string& algorithm, const std::string& node,
                       const std::string& dir, bool replicate) {
  std::string c = fmt::format(R"([global]
workers = 1
control_socket = "{0}/lbd-{1}.sock"
[[listener]]
name = "fwd"
bind = "192.0.2.10:80"
mode = "forward"
pool = "app"
forward_slots = 1021
snat_address = "198.51.100.254"
[[pool]]
name = "app"
algorithm = "{2}"
[[pool.server]]
name = "be1"
address = "198.51.100.11:8080"
[[pool.server]]
name = "be2"
address = "198.51.100.12:8080"
)",
                              dir, node, algorithm);
  if (replicate) {
    const bool a = node == "a";
    c += fmt::format(R"([replication]
node_id = "{}"
peer_id = "{}"
listen = "{}:7100"
peer = "{}:7100"
secret = "forward-replication-test-secret-0123456789"
heartbeat_interval = "200ms"
dead_peer_timeout = "1s"
reconnect_interval = "100ms"
)",
                     node, a ? "b" : "a", a ? "192.0.2.1" : "192.0.2.2",
                     a ? "192.0.2.2" : "192.0.2.1");
  }
  return c;
}

nlohmann::json replication(const std::string& socket) {
  auto r = lb::control::request(socket, {{"cmd", "show replication"}}, 1000ms);
  if (!r) return {};
  return (*r)["replication"];
}

std::uint64_t conntrack_held(const nlohmann::json& repl) {
  if (!repl.contains("tables")) return 0;
  for (const auto& t : repl["tables"]) {
    if (t.value("name", "") == "@conntrack") return t.value("remote_entries", 0ULL);
  }
  return 0;
}

Result run(bool replicate, const std::string& algorithm) {
  Result result;
  char tmpl[] = "/tmp/lbpair-fwdrepl-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  lbtest::NetnsLab lab;
  lab.add_host("client", {"192.0.2.100/24"});
  lab.add_host("a", {"192.0.2.1/24", "198.51.100.1/24", "192.0.2.10/24", "198.51.100.254/24"});
  lab.add_host("b", {"192.0.2.2/24", "198.51.100.2/24"});
  lab.add_host("be1", {"198.51.100.11/24"});
  lab.add_host("be2", {"198.51.100.12/24"});
  const std::string script_dir = LBPAIR_SOURCE_DIR "/tests/netns/forward/";
  for (const auto& [host, address] :
       {std::pair{"be1", "198.51.100.11"}, {"be2", "198.51.100.12"}}) {
    lab.spawn(host, {"python3", script_dir + "backend.py", host, address, "8080"},
              dir + "/" + host + ".log");
  }
  for (const std::string node : {"a", "b"}) {
    const std::string conf = dir + "/lbd-" + node + ".toml";
    std::ofstream(conf) << lbd_config(algorithm, node, dir, replicate);
    REQUIRE(lab.exec(node,
                     "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 "
                     "net.ipv4.conf.eth0.send_redirects=0")
                .exit_code == 0);
    lab.spawn(node, {LBPAIR_BINARY_DIR "/lbd/lbd", "-c", conf}, dir + "/lbd-" + node + ".log");
  }
  for (const char* host : {"a", "b"}) {
    REQUIRE(lbtest::wait_until(
        [&] {
          return lab.exec(host, "nft list map ip lbpair svc0 | grep -q 198.51.100.12").exit_code ==
                 0;
        },
        10000ms, 50ms));
  }
  for (const char* host : {"be1", "be2"}) {
    REQUIRE(lbtest::wait_until(
        [&] { return lab.exec(host, "ss -Hltn 'sport = :8080' | grep -q LISTEN").exit_code == 0; },
        5000ms, 50ms));
  }
  if (replicate) {
    // b holds a's data (an empty conntrack table at first) before any flow starts.
    REQUIRE(lbtest::wait_until(
        [&] { return replication(dir + "/lbd-b.sock").value("in_sync", false); }, 10000ms, 50ms));
  }

  const std::string ready = dir + "/ready";
  auto& client = lab.spawn(
      "client",
      {"python3", script_dir + "client.py", "hold", "192.0.2.10", "80", "20", "4", "6", ready},
      dir + "/client.log");
  REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(ready); }, 10000ms, 20ms));
  if (replicate) {
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(lbtest::wait_until(
        [&] {
          result.held_on_b = conntrack_held(replication(dir + "/lbd-b.sock"));
          return result.held_on_b >= 24;
        },
        5000ms, 5ms));
    result.stream_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  // a is gone; b takes the VIP and the SNAT address (vrrpd would, with gratuitous ARP: the
  // neighbour caches are flushed instead).
  lab.set_link("a", false);
  REQUIRE(lab.exec("b",
                   "ip addr add 192.0.2.10/24 dev eth0 && "
                   "ip addr add 198.51.100.254/24 dev eth0")
              .exit_code == 0);
  for (const char* host : {"client", "be1", "be2"}) lab.exec(host, "ip neigh flush all");

  REQUIRE(client.wait_for(20000ms) == 0);
  const auto lines = lbtest::read_lines(dir + "/client.log");
  REQUIRE_FALSE(lines.empty());
  const auto flows = nlohmann::json::parse(lines.back());
  for (const auto& f : flows) {
    ++result.flows;
    if (f.at("survived").get<bool>()) {
      ++result.survived;
      result.worst_pause_ms = std::max(result.worst_pause_ms, f.at("max_pause_ms").get<double>());
    }
    if (f.at("error").get<std::string>() == "ConnectionResetError") ++result.reset;
  }
  lab.teardown();
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace

TEST_CASE(
    "forward replication: flows established through the master survive on the standby with the "
    "entries lbd streamed, and reset without replication") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  for (const std::string algorithm : {"random", "maglev"}) {
    const auto with = run(true, algorithm);
    MESSAGE(
        fmt::format("{} with replication: {}/{} flows survived, b held {} entries {:.0f} ms "
                    "after the flows were up, worst pause {} ms, {} reset",
                    algorithm, with.survived, with.flows, with.held_on_b, with.stream_ms,
                    with.worst_pause_ms, with.reset));
    CHECK(with.flows == 24);
    CHECK(with.held_on_b >= 24);
    CHECK(with.survived == with.flows);
  }
  // random picks another backend half the time and a backend segment first meets no socket on
  // b: without the entries flows die.
  const auto without = run(false, "random");
  MESSAGE(fmt::format("random without replication: {}/{} flows survived, {} reset",
                      without.survived, without.flows, without.reset));
  CHECK(without.survived < without.flows);
  CHECK(without.reset > 0);
}
