// VRRP roles per instance and the node role: see role_tracker.hpp.
#include "lbd/admin/role_tracker.hpp"

namespace lbd::admin {

bool RoleTracker::update(VridRole role) {
  auto name = role.instance;
  by_instance_[name] = std::move(role);
  const auto next = compute();
  if (next == role_) return false;
  role_ = next;
  return true;
}

repl::Role RoleTracker::compute() const {
  if (by_instance_.empty()) return repl::Role::unknown;
  for (const auto& [name, r] : by_instance_) {
    if (r.state == "master") return repl::Role::master;
  }
  return repl::Role::backup;
}

std::vector<lb::IpAddress> RoleTracker::released_vips() const {
  std::vector<lb::IpAddress> out;
  for (const auto& [name, r] : by_instance_) {
    if (r.state != "master") out.insert(out.end(), r.vips.begin(), r.vips.end());
  }
  return out;
}

RolesView RoleTracker::view() const {
  RolesView v;
  v.node_role = role_;
  for (const auto& [name, r] : by_instance_) v.vrids.push_back(r);
  return v;
}

}  // namespace lbd::admin
