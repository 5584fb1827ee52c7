// A throw-away network of namespaces for tests: one "switch" namespace holding a bridge, and host
// namespaces each linked to it by a veth pair (eth0 inside the host). Names are unique per
// process and lab ("lbt-<pid>-<n>-<host>"), so parallel runs never collide, and the host's own
// interfaces are never touched. Teardown kills only processes inside the lab's namespaces and
// deletes them — on destruction, on SIGINT/SIGTERM, and (for runs that were SIGKILLed) on the
// next start of any test program.
#pragma once

#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace lbtest {

/// True when the process may create namespaces (root with CAP_SYS_ADMIN).
bool can_use_netns();

/// Removes namespaces left by test processes that no longer exist, and installs SIGINT/SIGTERM
/// handlers that tear down every live lab before exiting. Called by the shared test main.
void install_interrupt_cleanup();

class NetnsLab {
 public:
  NetnsLab();
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  /// Creates a host namespace `host` with `eth0` on the lab bridge and the given addresses
  /// ("192.0.2.1/24", "2001:db8::1/64"; IPv6 DAD disabled so they are usable at once).
  /// Returns the namespace's name.
  std::string add_host(const std::string& host, const std::vector<std::string>& addresses);

  /// The namespace name of `host`.
  std::string ns(const std::string& host) const;
  /// The switch namespace (where the bridge `br0` lives).
  const std::string& switch_ns() const { return switch_ns_; }

  /// Runs a shell command inside `host`'s namespace.
  CommandResult exec(const std::string& host, const std::string& command) const;
  /// Starts a process inside `host`'s namespace; the lab stops it on teardown.
  ChildProcess& spawn(const std::string& host, const std::vector<std::string>& argv,
                      const std::string& log_path);

  /// Brings the host's link to the bridge up or down (from the switch side: carrier changes).
  void set_link(const std::string& host, bool up) const;

  /// Deletes everything now (idempotent; the destructor calls it).
  void teardown();

 private:
  std::string prefix_;
  std::string switch_ns_;
  std::vector<std::string> hosts_;
  std::vector<std::string> namespaces_;
  std::vector<ChildProcess*> children_;
  bool torn_down_ = false;
};

}  // namespace lbtest
