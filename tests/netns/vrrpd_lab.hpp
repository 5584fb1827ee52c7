// Helpers for the vrrpd namespace tests: a NetnsLab with nodes "a" and "b" (and a "client"),
// per-node vrrpd configs written to a temp dir, VIP presence checks and timing.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "tests/support/netns_lab.hpp"

namespace vrrptest {

using Clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

inline std::string vrrpd_binary() { return LBPAIR_BINARY_DIR "/vrrpd/vrrpd"; }

/// One [[instance]] of a node's config.
struct Inst {
  std::string name = "vi";
  int vrid = 51;
  int priority = 100;
  std::string interval = "100ms";
  std::string vips = "\"192.0.2.10/24\"";
  bool preempt = true;
  std::string extra;  // more TOML lines
};

inline std::string render(const std::vector<Inst>& insts, const std::string& global = "") {
  std::string out = "[global]\nlog_level = \"debug\"\n" + global + "\n";
  for (const auto& i : insts) {
    out += fmt::format(
        "[[instance]]\nname = \"{}\"\nvrid = {}\ninterface = \"eth0\"\npriority = {}\n"
        "advert_interval = \"{}\"\nvips = [{}]\npreempt = {}\n{}\n",
        i.name, i.vrid, i.priority, i.interval, i.vips, i.preempt ? "true" : "false", i.extra);
  }
  return out;
}

/// The lab: hosts a (192.0.2.1), b (192.0.2.2), client (192.0.2.100) with IPv6 2001:db8::x too.
class VrrpLab {
 public:
  VrrpLab() {
    char tmpl[] = "/tmp/vrrpd-netns-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    lab_.add_host("a", {"192.0.2.1/24", "2001:db8::1/64"});
    lab_.add_host("b", {"192.0.2.2/24", "2001:db8::2/64"});
    lab_.add_host("client", {"192.0.2.100/24", "2001:db8::64/64"});
  }
  ~VrrpLab() {
    lab_.teardown();
    std::error_code ec;
    if (std::getenv("VRRPD_KEEP_LOGS") == nullptr) std::filesystem::remove_all(dir_, ec);
  }

  lbtest::NetnsLab& lab() { return lab_; }
  /// The lab's temp dir (configs, logs, sockets).
  const std::string& dir() const { return dir_; }

  std::string config_path(const std::string& node) const { return dir_ + "/" + node + ".toml"; }
  std::string log_path(const std::string& node) const { return dir_ + "/" + node + ".log"; }

  void write_config(const std::string& node, const std::vector<Inst>& insts,
                    const std::string& global = "") {
    std::ofstream(config_path(node)) << render(insts, global);
  }

  /// Starts vrrpd on `node` with `insts` (config rewritten).
  lbtest::ChildProcess& start(const std::string& node, const std::vector<Inst>& insts,
                              const std::string& global = "") {
    write_config(node, insts, global);
    auto& p = lab_.spawn(node, {vrrpd_binary(), "-c", config_path(node)},
                         log_path(node) + "." + std::to_string(++runs_));
    procs_[node] = &p;
    return p;
  }
  lbtest::ChildProcess& proc(const std::string& node) { return *procs_.at(node); }

  /// The addresses on eth0 of `node` (`ip -br addr`).
  std::string addrs(const std::string& node) const {
    return lbtest::run_command(fmt::format("ip -n {} -br addr show dev eth0", lab_.ns(node)))
        .output;
  }
  bool holds(const std::string& node, const std::string& vip) const {
    return addrs(node).find(" " + vip + "/") != std::string::npos;
  }
  std::string mac(const std::string& node) const {
    auto r = lbtest::run_command(
        fmt::format("ip netns exec {} cat /sys/class/net/eth0/address", lab_.ns(node)));
    return r.output.substr(0, 17);
  }
  /// The MAC the client's neighbour table has for `vip` (empty if none).
  std::string client_neigh(const std::string& vip) const {
    auto r = lbtest::run_command(fmt::format("ip -n {} neigh show {}", lab_.ns("client"), vip));
    const auto at = r.output.find("lladdr ");
    return at == std::string::npos ? "" : r.output.substr(at + 7, 17);
  }

  /// Polls `pred` every 2 ms up to `limit`; returns the elapsed time, or nullopt on timeout.
  template <typename P>
  static std::optional<ms> time_until(P pred, ms limit) {
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < limit) {
      if (pred()) return std::chrono::duration_cast<ms>(Clock::now() - t0);
      std::this_thread::sleep_for(ms(2));
    }
    return std::nullopt;
  }

  /// Logs of every run of `node`, for failure messages.
  std::string logs(const std::string& node) const {
    std::string out;
    for (int i = 1; i <= runs_; ++i) {
      std::ifstream f(log_path(node) + "." + std::to_string(i));
      if (!f) continue;
      out += fmt::format("--- {} run {}\n", node, i);
      out += std::string(std::istreambuf_iterator<char>(f), {});
    }
    return out;
  }

 private:
  lbtest::NetnsLab lab_;
  std::string dir_;
  std::map<std::string, lbtest::ChildProcess*> procs_;
  int runs_ = 0;
};

/// A minimal lbd for node `node`: one L4 listener on the node's loopback, one server without
/// health checks (so its health answer is "ok"), a control socket at `socket`, and `extra`
/// appended (more sections). Returns the config file's path in the lab's dir.
inline std::string write_lbd_config(VrrpLab& lab, const std::string& node,
                                    const std::string& socket, const std::string& extra = "") {
  const auto path = lab.dir() + "/lbd-" + node + ".toml";
  std::ofstream(path) << fmt::format(R"([global]
workers = 1
drain_timeout = "0s"
control_socket = "{}"
[[listener]]
name = "l4"
bind = "127.0.0.1:18080"
mode = "tcp"
pool = "web"
[[pool]]
name = "web"
[[pool.server]]
name = "be1"
address = "127.0.0.1:9"
)",
                                     socket)
                      << extra;
  return path;
}

}  // namespace vrrptest
