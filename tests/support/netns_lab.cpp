#include "tests/support/netns_lab.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

namespace lbtest {
namespace {

constexpr const char* kPrefix = "lbt-";

std::mutex g_labs_mutex;
std::vector<NetnsLab*> g_labs;
std::atomic<int> g_lab_counter{0};

void must(const std::string& command) {
  auto r = run_command(command);
  if (r.exit_code != 0) {
    throw std::runtime_error(
        fmt::format("command failed ({}): {}\n{}", r.exit_code, command, r.output));
  }
}

std::vector<std::string> list_namespaces() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    out.push_back(entry.path().filename().string());
  }
  return out;
}

// Kills the processes inside namespace `ns` (they can only be ours: the name is unique to us),
// then deletes the namespace.
void destroy_namespace(const std::string& ns) {
  auto pids = run_command(fmt::format("ip netns pids {}", ns));
  if (pids.exit_code == 0 && !pids.output.empty()) {
    run_command(fmt::format("ip netns pids {} | xargs -r kill -KILL", ns));
  }
  run_command(fmt::format("ip netns delete {}", ns));
}

void teardown_all_labs() {
  std::lock_guard lock(g_labs_mutex);
  for (auto* lab : g_labs) lab->teardown();
}

extern "C" void on_interrupt(int sig) {
  // Not async-signal-safe in theory; in practice the test is being aborted, and leaking
  // namespaces is the worse outcome.
  teardown_all_labs();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

bool can_use_netns() {
  if (::geteuid() != 0) return false;
  return run_command("ip netns list").exit_code == 0;
}

void install_interrupt_cleanup() {
  // Sweep namespaces of earlier test processes that died without cleaning up (e.g. SIGKILL by a
  // ctest timeout). The owner's PID is part of the name; only dead owners are swept.
  for (const auto& ns : list_namespaces()) {
    if (!ns.starts_with(kPrefix)) continue;
    const auto rest = ns.substr(std::char_traits<char>::length(kPrefix));
    const pid_t owner = static_cast<pid_t>(std::atoi(rest.c_str()));
    if (owner > 0 && owner != ::getpid() && ::kill(owner, 0) != 0 && errno == ESRCH) {
      destroy_namespace(ns);
    }
  }
  ::signal(SIGINT, on_interrupt);
  ::signal(SIGTERM, on_interrupt);
}

NetnsLab::NetnsLab() {
  prefix_ = fmt::format("{}{}-{}", kPrefix, ::getpid(), g_lab_counter.fetch_add(1));
  switch_ns_ = prefix_ + "-sw";
  {
    std::lock_guard lock(g_labs_mutex);
    g_labs.push_back(this);
  }
  try {
    must(fmt::format("ip netns add {}", switch_ns_));
    namespaces_.push_back(switch_ns_);
    must(
        fmt::format("ip -n {0} link set lo up && ip -n {0} link add br0 type bridge && "
                    "ip -n {0} link set br0 type bridge forward_delay 0 stp_state 0 && "
                    "ip -n {0} link set br0 up",
                    switch_ns_));
  } catch (...) {
    teardown();
    throw;
  }
}

NetnsLab::~NetnsLab() {
  teardown();
  std::lock_guard lock(g_labs_mutex);
  std::erase(g_labs, this);
}

std::string NetnsLab::ns(const std::string& host) const { return prefix_ + "-" + host; }

std::string NetnsLab::add_host(const std::string& host, const std::vector<std::string>& addresses) {
  const std::string name = ns(host);
  const std::string port = fmt::format("p{}", hosts_.size());
  must(fmt::format("ip netns add {}", name));
  namespaces_.push_back(name);
  hosts_.push_back(host);
  must(
      fmt::format("ip netns exec {0} sysctl -qw net.ipv6.conf.all.accept_dad=0 "
                  "net.ipv6.conf.default.accept_dad=0 && "
                  "ip -n {0} link set lo up && "
                  "ip -n {1} link add {2} type veth peer name eth0 netns {0} && "
                  "ip -n {1} link set {2} master br0 && ip -n {1} link set {2} up && "
                  "ip -n {0} link set eth0 up",
                  name, switch_ns_, port));
  for (const auto& a : addresses) {
    must(fmt::format("ip -n {} addr add {} dev eth0 nodad", name, a));
  }
  return name;
}

CommandResult NetnsLab::exec(const std::string& host, const std::string& command) const {
  std::string quoted;
  for (char c : command) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return run_command(fmt::format("ip netns exec {} sh -c '{}'", ns(host), quoted));
}

ChildProcess& NetnsLab::spawn(const std::string& host, const std::vector<std::string>& argv,
                              const std::string& log_path) {
  std::vector<std::string> full{"ip", "netns", "exec", ns(host)};
  full.insert(full.end(), argv.begin(), argv.end());
  children_.push_back(new ChildProcess(full, log_path));
  return *children_.back();
}

void NetnsLab::set_link(const std::string& host, bool up) const {
  const auto it = std::find(hosts_.begin(), hosts_.end(), host);
  if (it == hosts_.end()) throw std::runtime_error("unknown host " + host);
  must(
      fmt::format("ip -n {} link set p{} {}", switch_ns_, it - hosts_.begin(), up ? "up" : "down"));
}

void NetnsLab::teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  for (auto* child : children_) {
    child->stop(std::chrono::milliseconds(1000));
    delete child;
  }
  children_.clear();
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) destroy_namespace(*it);
  namespaces_.clear();
}

}  // namespace lbtest
