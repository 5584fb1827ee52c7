// VRRP roles as vrrpd reports them over lbd's control socket, one per virtual router, and the
// node role they add up to (for logs, replication and the status page). Pure; not thread-safe
// (the control thread owns it).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/net/ip_address.hpp"
#include "lbd/replication/replicator.hpp"

namespace lbd::admin {

struct VridRole {
  std::string instance;
  std::uint32_t vrid = 0;
  std::string interface;
  std::string state;  // vrrpd's state name: "master", "backup", "fault", "initialize"
  std::string from;
  std::string reason;
  std::chrono::system_clock::time_point since{};
  std::vector<lb::IpAddress> vips;  // the instance's virtual addresses, when vrrpd sent them
};

struct RolesView {
  repl::Role node_role = repl::Role::unknown;
  std::vector<VridRole> vrids;  // sorted by instance name
};

/// How several VRIDs map to one node role: master when this node is master of at least one
/// VRID (it then serves a VIP, so its connections are the live ones); backup when every known
/// VRID is in another state; unknown before vrrpd said anything. Active-active pairs are thus
/// master on both nodes, which is what the replication's takeover accounting needs.
class RoleTracker {
 public:
  /// Records one `vrrp_state` report (keyed by instance name; a later report replaces it).
  /// Returns true when the node role changed.
  bool update(VridRole role);
  repl::Role node_role() const { return role_; }
  /// The VIPs of every instance last reported in a state other than master: addresses this node
  /// may still hold while it drains a handover, whose keep-alive clients should move.
  std::vector<lb::IpAddress> released_vips() const;
  RolesView view() const;

 private:
  repl::Role compute() const;
  std::map<std::string, VridRole> by_instance_;
  repl::Role role_ = repl::Role::unknown;
};

}  // namespace lbd::admin
