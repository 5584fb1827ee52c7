// The namespace lab of the forward-mode tests: a client (192.0.2.100), lbd on node a (and on
// node b for replication) on 192.0.2.0/24 and 198.51.100.0/24, two backends be1 and be2
// (tests/netns/forward/backend.py on 198.51.100.11/12:8080). Node a holds the VIP 192.0.2.10 and
// the SNAT address 198.51.100.254. The client is tests/netns/forward/client.py. Every wait is
// bounded; the destructor removes the namespaces and the lab's folder.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/control/server.hpp"
#include "tests/support/netns_lab.hpp"
#include "tests/support/text_file.hpp"

namespace fwdlab {

using namespace std::chrono_literals;

inline const std::string kScripts = LBPAIR_SOURCE_DIR "/tests/netns/forward/";

/// What differs between the tests' lbd configs.
struct NodeOptions {
  std::string algorithm = "maglev";
  std::string on_server_down;  // empty: lbd's default
  bool health = false;         // TCP checks every 200 ms, down after 2 failures
  bool replicate = false;      // [replication] with the other node (a <-> b)
};

/// lbd's config for `node` ("a" or "b"); its control socket is `dir`/lbd-`node`.sock.
inline std::string lbd_config(const std::string& node, const std::string& dir,
                              const NodeOptions& o) {
  std::string c = fmt::format(R"([global]
workers = 1
control_socket = "{}/lbd-{}.sock"
[[listener]]
name = "fwd"
bind = "192.0.2.10:80"
mode = "forward"
pool = "app"
forward_slots = 1021
snat_address = "198.51.100.254"
)",
                              dir, node);
  if (!o.on_server_down.empty()) c += fmt::format("on_server_down = \"{}\"\n", o.on_server_down);
  c += fmt::format("[[pool]]\nname = \"app\"\nalgorithm = \"{}\"\n", o.algorithm);
  if (o.health) {
    c += "[pool.health]\ntype = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\n"
         "rise = 1\n";
  }
  c += R"([[pool.server]]
name = "be1"
address = "198.51.100.11:8080"
[[pool.server]]
name = "be2"
address = "198.51.100.12:8080"
)";
  if (o.replicate) {
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

/// `show forward` / `show replication` of the lbd behind `socket` (null when it does not answer).
inline nlohmann::json show(const std::string& socket, const std::string& what) {
  auto r = lb::control::request(socket, {{"cmd", "show " + what}}, 1000ms);
  if (!r) return {};
  return (*r)[what];
}

/// The peer's conntrack entries a node holds, from its `show replication`.
inline std::uint64_t conntrack_held(const nlohmann::json& repl) {
  if (!repl.contains("tables")) return 0;
  for (const auto& t : repl["tables"]) {
    if (t.value("name", "") == "@conntrack") return t.value("remote_entries", 0ULL);
  }
  return 0;
}

class ForwardLab {
 public:
  /// The client, node a, node b when `with_b`, and the two backends (started).
  explicit ForwardLab(bool with_b) {
    char tmpl[] = "/tmp/lbpair-fwdlab-XXXXXX";
    dir = ::mkdtemp(tmpl);
    lab.add_host("client", {"192.0.2.100/24"});
    lab.add_host("a", {"192.0.2.1/24", "198.51.100.1/24", "192.0.2.10/24", "198.51.100.254/24"});
    if (with_b) lab.add_host("b", {"192.0.2.2/24", "198.51.100.2/24"});
    lab.add_host("be1", {"198.51.100.11/24"});
    lab.add_host("be2", {"198.51.100.12/24"});
    for (const auto& [host, address] :
         {std::pair{"be1", "198.51.100.11"}, {"be2", "198.51.100.12"}}) {
      lab.spawn(host, {"python3", kScripts + "backend.py", host, address, "8080"},
                dir + "/" + host + ".log");
    }
  }
  ~ForwardLab() {
    lab.teardown();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  ForwardLab(const ForwardLab&) = delete;
  ForwardLab& operator=(const ForwardLab&) = delete;

  /// Starts lbd on `node` as a router (forwarding on, no redirects); returns its pid.
  int start_lbd(const std::string& node, const NodeOptions& o) {
    const std::string conf = dir + "/lbd-" + node + ".toml";
    std::ofstream(conf) << lbd_config(node, dir, o);
    REQUIRE(lab.exec(node,
                     "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 "
                     "net.ipv4.conf.eth0.send_redirects=0")
                .exit_code == 0);
    return lab
        .spawn(node, {LBPAIR_BINARY_DIR "/lbd/lbd", "-c", conf}, dir + "/lbd-" + node + ".log")
        .pid();
  }
  /// Waits until lbd on `node` forwards to both backends and both backends listen.
  void wait_ready(const std::string& node) {
    REQUIRE(lbtest::wait_until(
        [&] {
          return lab.exec(node, "nft list map ip lbpair svc0 | grep -q 198.51.100.12").exit_code ==
                 0;
        },
        10000ms, 50ms));
    for (const char* host : {"be1", "be2"}) {
      REQUIRE(lbtest::wait_until(
          [&] {
            return lab.exec(host, "ss -Hltn 'sport = :8080' | grep -q LISTEN").exit_code == 0;
          },
          5000ms, 50ms));
    }
  }
  std::string socket(const std::string& node) const { return dir + "/lbd-" + node + ".sock"; }

  /// Starts client.py hold (ECHO echo flows and BULK bulk flows for SECONDS) and waits until
  /// every flow is established.
  lbtest::ChildProcess& hold(int echo, int bulk, int seconds) {
    const std::string ready = dir + "/ready";
    auto& client =
        lab.spawn("client",
                  {"python3", kScripts + "client.py", "hold", "192.0.2.10", "80",
                   std::to_string(echo), std::to_string(bulk), std::to_string(seconds), ready},
                  dir + "/client.log");
    REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(ready); }, 10000ms, 20ms));
    return client;
  }
  /// The flows the client reported when it ended (client.py's JSON).
  nlohmann::json client_flows() const {
    const auto lines = lbtest::read_lines(dir + "/client.log");
    REQUIRE_FALSE(lines.empty());
    return nlohmann::json::parse(lines.back());
  }

  /// The kernel's conntrack entries on `node` of flows through the VIP NATed to `backend`.
  int vip_entries(const std::string& node, const std::string& backend) const {
    const auto r = lab.exec(node, fmt::format("conntrack -L -p tcp --orig-dst 192.0.2.10 "
                                              "--reply-src {} 2>/dev/null | wc -l",
                                              backend));
    return r.exit_code == 0 ? static_cast<int>(std::strtol(r.output.c_str(), nullptr, 10)) : -1;
  }

  lbtest::NetnsLab lab;
  std::string dir;
};

}  // namespace fwdlab
