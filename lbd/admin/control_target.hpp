// What the control-socket commands need from the running lbd. control_handler.cpp depends on
// this narrow interface instead of on Server (which implements it), so every command can be
// tested against a fake. All calls happen on the control thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "lbd/admin/forward_view.hpp"
#include "lbd/admin/role_tracker.hpp"
#include "lbd/admin/status_model.hpp"
#include "lbd/balance/admin_state.hpp"
#include "lbd/config.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/replication/replicator.hpp"
#include "lbd/session/sticky_registry.hpp"

namespace lbd::admin {

class ControlTarget {
 public:
  virtual ~ControlTarget() = default;

  /// Every pool (config order), or the one named; nullopt when `pool` names no pool.
  virtual std::optional<std::vector<PoolView>> pool_views(std::optional<std::string> pool) = 0;
  /// Run-time admin state / weight of a server, kept across reloads. Errors name what is wrong.
  virtual lb::Result<void> set_server_admin(const std::string& pool, const std::string& server,
                                            AdminState state) = 0;
  virtual lb::Result<void> set_server_weight(const std::string& pool, const std::string& server,
                                             std::uint32_t weight) = 0;
  /// Reloads now; false with the reasons when the new config was refused (the old one stays).
  virtual bool reload_now(std::vector<std::string>& errors) = 0;
  /// vrrpd's report of one virtual router's transition.
  virtual void on_vrrp_state(VridRole role) = 0;
  virtual RolesView roles() const = 0;
  virtual bool draining() const = 0;
  virtual const Config& config() const = 0;
  virtual StickyRegistry& sticky_tables() = 0;
  virtual repl::ConnTable& conn_table() = 0;
  /// nullopt on a node without [replication].
  virtual std::optional<repl::ReplicationStatus> replication_status() const = 0;
  virtual NodeStatus node_status() = 0;
  /// Forward mode as programmed and streamed, with the kernel's ruleset; nullopt when no forward
  /// listener was ever configured.
  virtual std::optional<ForwardView> forward_view() { return std::nullopt; }
};

}  // namespace lbd::admin
